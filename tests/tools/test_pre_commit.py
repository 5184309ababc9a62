""".pre-commit-hooks.yaml works: pre-commit installs this repository and runs its hooks.

A temporary repository's ``.pre-commit-config.yaml`` names this checkout
at its ``HEAD`` commit, as a user's names the release: pre-commit clones
it, installs it into a fresh environment (once, for every test here) and
runs the hooks. The manifest tested is the committed one. torch is pinned
to the CPU build for that install (an unpinned torch pulls the CUDA build).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
pytest.importorskip("pre_commit")


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    home = tmp_path_factory.mktemp("pre-commit-home")
    constraints = home / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    return {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_CONSTRAINT": str(constraints),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


def _head() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip("this checkout is not a git repository")
    return done.stdout.strip()


def _repository(path, files):
    path.mkdir()
    (path / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {_head()}\n    hooks:\n"
        "      - id: initdsl-fmt\n      - id: initdsl-lint\n")
    for name, text in files.items():
        (path / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    return path


def _try(path, hook, environment):
    import sys

    return subprocess.run([sys.executable, "-m", "pre_commit", "run", hook, "--all-files"],
                          cwd=path, env=environment, capture_output=True, text=True,
                          timeout=900)


def test_fmt_hook_formats_and_fails_once(tmp_path, environment):
    repo = _repository(tmp_path / "r", {"a.init": "Linear->zeros\n", "b.txt": "x->y\n"})
    first = _try(repo, "initdsl-fmt", environment)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    assert (repo / "a.init").read_text() == "Linear -> zeros\n"
    assert (repo / "b.txt").read_text() == "x->y\n"  # not a policy file
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    second = _try(repo, "initdsl-fmt", environment)
    assert second.returncode == 0, second.stdout + second.stderr


def test_lint_hook_reports_with_the_projects_configuration(tmp_path, environment):
    repo = _repository(tmp_path / "r", {
        "pyproject.toml": "[tool.initdsl]\nstrict = true\n",
        "a.init": "Linaer -> zeros\n",
        "b.init": "Foo -> zeros  # noqa: W201\n",
    })
    result = _try(repo, "initdsl-lint", environment)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a.init:1:1: W201 `Linaer`" in result.stdout
    assert "b.init:1:1" not in result.stdout  # # noqa: W201
