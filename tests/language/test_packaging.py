"""The grammar ships in the wheel, and an installed (non-editable) initdsl can parse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    # Install the wheel alone into a directory of its own and import it from
    # there with this interpreter, so that its dependencies (torch, lark,
    # attrs) come from the environment the tests run in and from nowhere
    # else: a venv with system site packages would see the *base*
    # interpreter's packages instead, and pass or fail by what happens to be
    # installed there.
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import initdsl, initdsl.grammar, pathlib\n"
        "initdsl.parse('Conv2d -> kaiming')\n"
        "print(pathlib.Path(initdsl.__file__).resolve())\n"
        "print(pathlib.Path(initdsl.grammar.__file__).resolve())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run([sys.executable, "-s", "-c", script], cwd=elsewhere, env=env,
                            check=True, capture_output=True, text=True)
    package, grammar = result.stdout.split()
    # The installed copy was imported, not the source checkout.
    assert str(target.resolve()) in package and str(target.resolve()) in grammar
    assert str(repo) not in package
