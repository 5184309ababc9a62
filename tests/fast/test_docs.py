"""docs/fast.md runs: each python block, in order, prints the text block after it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "fast.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.S | re.M)


def test_fast_md_runs_and_prints_what_it_shows(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    blocks = [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]
    namespace: dict = {"__name__": "fast_md"}
    torch.manual_seed(0)
    ran = 0
    for (kind, body), following in zip(blocks, blocks[1:] + [("", "")]):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(body, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
        if following[0] == "text":
            assert out.getvalue() == following[1], body
        ran += 1
    assert ran == 3
