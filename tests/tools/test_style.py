"""Colour decisions (in-process): a terminal, ``--color``, and ``NO_COLOR``."""

from __future__ import annotations

import io

import pytest

from initdsl.tools.cli import Style


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, choice, no_color, enabled", [
    (_Terminal(), "auto", None, True),
    (io.StringIO(), "auto", None, False),
    (io.StringIO(), "always", None, True),
    (_Terminal(), "never", None, False),
    (_Terminal(), "auto", "1", False),
    (io.StringIO(), "always", "1", False),
])
def test_colour_only_on_a_terminal_and_never_under_no_color(monkeypatch, stream, choice,
                                                            no_color, enabled):
    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color is not None:
        monkeypatch.setenv("NO_COLOR", no_color)
    style = Style.for_stream(stream, choice)
    assert style.enabled is enabled
    assert (style.bold("x") != "x") is enabled
