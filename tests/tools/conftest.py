"""Helpers for the command-line tests: run ``python -m initdsl`` in a subprocess.

Each subprocess pays for importing torch (seconds, on two shared cores), so
the subprocess runs check the entry points, exit codes and one case of each
command, several at a time (:func:`run_many`); the many variants of a command
run through the same ``main`` in this process (:func:`cli`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from initdsl.tools.cli import main

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "tools" / "models.py"
NET = f"{MODELS}:net"


def run(*args: object, cwd: Path | str | None = None, env: dict[str, str] | None = None,
        stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m initdsl ARGS`` with captured text output (no terminal: no colour)."""
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "initdsl", *map(str, args)], cwd=cwd,
                          env=environment, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def run_many(commands: Sequence[Sequence[object]], cwd: Path | str | None = None
             ) -> list[subprocess.CompletedProcess]:
    """Several runs, two at a time (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: run(*args, cwd=cwd), commands))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """A directory with checkpoints of ``models.net()``: exact, with an extra key,
    with a head of another shape, and as safetensors."""
    from tests.tools import models

    path = tmp_path_factory.mktemp("cli")
    state = models.net().state_dict()
    torch.save(state, path / "full.pth")
    torch.save({**state, "extra.weight": torch.zeros(2)}, path / "extra.pth")
    torch.save(models.net(classes=5).state_dict(), path / "mismatch.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, path / "full.safetensors")
    return path


@dataclasses.dataclass
class Result:
    """What a command printed and returned (the shape of ``CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: object, cwd: Path | str | None = None, stdin: str | None = None) -> Result:
    """``initdsl.tools.cli.main(ARGS)`` in this process: the same code as the console script
    without a second torch import, for the many variants of each command.

    The subprocess tests (:func:`run`) check the entry points themselves.
    """
    out, err = io.StringIO(), io.StringIO()
    saved_cwd, saved_stdin = os.getcwd(), sys.stdin
    try:
        if cwd is not None:
            os.chdir(cwd)
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit_:  # argparse: --help, --version, usage errors
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
    return Result(code, out.getvalue(), err.getvalue())
