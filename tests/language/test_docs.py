"""The documentation is executable: its policies compile to what it says, the tutorial runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import initdsl
from initdsl.language.codes import CODES

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.S | re.M)


def _blocks(name: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer((REPO / "docs" / name).read_text())]


def _pairs(blocks, first: str, second: str):
    return [(a[1], b[1]) for a, b in zip(blocks, blocks[1:]) if (a[0], b[0]) == (first, second)]


LANGUAGE = _blocks("language.md")


@pytest.mark.parametrize("text", [body for kind, body in LANGUAGE if kind == "init"])
def test_every_policy_in_the_reference_is_valid(text):
    initdsl.compile(text)


@pytest.mark.parametrize("text, python", _pairs(LANGUAGE, "init", "python"))
def test_reference_policies_compile_to_the_init_cfg_shown(text, python):
    assert initdsl.compile(text) == eval(python, {"dict": dict})  # noqa: S307 - our own docs


def test_reference_shows_a_real_diagnostic():
    shown = next(body for kind, body in LANGUAGE if kind == "text" and "E110" in body)
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile("Conv2d -> kaiming\nLinear -> normal(sdt=0.1)\n", filename="policy.init")
    assert str(caught.value) + "\n" == shown


def test_reference_lists_exactly_the_codes():
    table = re.findall(r"^\| `([EW]\d{3})` \|", (REPO / "docs" / "language.md").read_text(),
                       re.M)
    assert table == list(CODES)


def test_tutorial_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("tutorial.md")
    namespace: dict = {"__name__": "tutorial"}
    for index, (kind, body) in enumerate(blocks):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(body, f"tutorial.md block {index}", "exec"), namespace)  # noqa: S102
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is not None and following[0] == "text":
            assert out.getvalue() == following[1], f"block {index}:\n{body}"
