"""Long commands show progress on a terminal (tensors and bytes written), never otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")

APPLY = ["apply", "examples/vit.init", "--model", "initdsl.zoo:vit_b16", "--seed", "0"]


def _on_a_terminal(args, tmp_path) -> tuple[int, str]:
    """Run with standard error on a pseudo-terminal; return the exit code and what it got."""
    controller, terminal = os.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "initdsl", *args], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=terminal, timeout=300)
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(controller)
    return done.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("mode", [[], ["--fast"]], ids=["exact", "fast"])
def test_apply_shows_tensors_and_bytes_on_a_terminal(tmp_path, mode):
    code, seen = _on_a_terminal([*APPLY, *mode, "--out", str(tmp_path / "v.pt")], tmp_path)
    assert code == 0
    # A phase shows once it outlives its 0.5 s delay; which of them do depends on the
    # machine (building ViT-B/16 on the CPU, writing or saving its 346 MB), not all.
    phases = ["building the model...", "initializing...", "saving..."]
    assert any(phase in seen for phase in phases), seen
    assert "\r\x1b[K" in seen  # the line is rewritten, then cleared
    if "initializing..." in seen:  # shown only when the phase outlives its 0.5 s delay
        assert "tensors, " in seen and "MiB written" in seen


def test_quiet_and_a_pipe_show_nothing(tmp_path):
    code, seen = _on_a_terminal([*APPLY, "--out", str(tmp_path / "v.pt"), "--quiet"], tmp_path)
    assert code == 0 and "..." not in seen
    piped = subprocess.run([sys.executable, "-m", "initdsl", *APPLY, "--out",
                            str(tmp_path / "w.pt")], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert piped.returncode == 0 and "\x1b[K" not in piped.stderr


def test_a_phase_line_counts_writes_and_bytes_since_it_began():
    import io
    import time

    from initdsl.tools.cli import _Progress

    stream = io.StringIO()
    state = [10, 2**20]
    with _Progress(stream, True, delay=0).phase("initializing", lambda: tuple(state)):
        state[:] = [13, 2**20 + 3 * 2**19]
        time.sleep(0.6)
    assert "initializing... " in stream.getvalue()
    assert ", 3 tensors, 1.5 MiB written" in stream.getvalue()
    assert stream.getvalue().endswith("\r\x1b[K")  # cleared at the end
