"""Entry points, usage errors and crashes: exit code 2 with one line."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import initdsl
import initdsl.tools.lint
from tests.tools.conftest import cli, run


def test_python_m_initdsl_without_a_command_is_a_usage_error():
    result = run()
    assert result.returncode == 2 and result.stderr.startswith("usage: initdsl")
    assert "the following arguments are required: COMMAND" in result.stderr


@pytest.mark.skipif(shutil.which("initdsl") is None, reason="console script not installed")
def test_console_script():
    result = subprocess.run(["initdsl", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stdout) == (0, f"initdsl {initdsl.__version__}\n")


@pytest.mark.parametrize("args, message", [
    (["lint"], "the following arguments are required: FILE"),
    (["explain", "x.init"], "no model: pass --model SPEC, or set `model`"),
    (["fmt", "--nope", "x.init"], "unrecognized arguments: --nope"),
    (["lint", "does-not-exist.init"], "initdsl lint: error: does-not-exist.init: no such file"),
    (["lint", "-", "--model", "initdsl.zoo"], "initdsl lint: error: model spec 'initdsl.zoo' is "
                                              "not TARGET:FACTORY"),
    (["explain", "-", "--model", "initdsl.zoo:nope"], "initdsl.zoo has no 'nope'"),
])
def test_usage_errors_exit_2(args, message):
    result = cli(*args, stdin="Linear -> kaiming\n")
    assert result.returncode == 2
    assert message in result.stderr


def test_unexpected_exceptions_exit_2_with_one_line(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr(initdsl.tools.lint, "lint", broken)
    result = cli("lint", "-", stdin="Linear -> kaiming\n")
    assert result.returncode == 2
    assert result.stderr == ("initdsl lint: internal error: RuntimeError: something broke "
                             "(--traceback shows where)\n")
    shown = cli("--traceback", "lint", "-", stdin="Linear -> kaiming\n")
    assert shown.returncode == 2
    assert "Traceback (most recent call last)" in shown.stderr
    assert shown.stderr.rstrip().endswith("RuntimeError: something broke")
