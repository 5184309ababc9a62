"""The grammar ships in the wheel, and an installed (non-editable) initdsl can parse."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile

import pytest


@pytest.fixture(scope="module")
def wheel(repo, tmp_path_factory):
    # Build from a copy: an in-tree build would leave build/ and egg-info
    # behind in the checkout.
    source = tmp_path_factory.mktemp("source") / "initdsl"
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
        ".pytest_cache", "tests", "benchmarks"))
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the build must not need the network.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
         "--no-build-isolation", "-w", str(out), "-q"],
        check=True, cwd=out, capture_output=True, text=True)
    (path,) = out.glob("initdsl-*.whl")
    return path


def test_wheel_contains_the_grammar(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "initdsl/grammar/initdsl.lark" in names
    assert "initdsl/grammar/__init__.py" in names


def test_installed_wheel_parses_from_outside_the_repo(wheel, repo, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import initdsl, initdsl.grammar, pathlib\n"
        "initdsl.parse('Conv2d -> kaiming')\n"
        "print(pathlib.Path(initdsl.__file__).resolve())\n"
        "print(pathlib.Path(initdsl.grammar.__file__).resolve())\n"
    )
    result = subprocess.run([str(python), "-c", script], cwd=elsewhere, check=True,
                            capture_output=True, text=True)
    package, grammar = result.stdout.split()
    # The installed copy was imported, not the source checkout.
    assert str(env_dir.resolve()) in package and str(env_dir.resolve()) in grammar
    assert str(repo) not in package
