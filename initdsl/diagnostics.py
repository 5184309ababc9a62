"""Positions and diagnostics: where something was written, and findings about it, rendered like ruff's.

A diagnostic renders as::

    policy.init:3:18: E110 unknown argument `sdt` for `normal`; did you mean `std`?
      |
    3 | Linear -> normal(sdt=0.1)
      |                  ^^^

The first line follows the GNU ``file:line:column: message`` convention
(1-based), so editors and CI annotations pick it up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import attrs

__all__ = ["Span", "Diagnostic", "render_all", "printable"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``).

    A policy may spell one (``"\\ud800"`` is valid JSON), and a message that
    quotes the decoded string would then fail to encode as UTF-8 wherever it
    is written: on a terminal, into a file, over the language server.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


@attrs.frozen
class Span:
    """Where a node was written: 1-based line and column, end exclusive.

    ``str(span)`` is ``file:line:col``, the form diagnostics and provenance
    use.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@attrs.frozen
class Diagnostic:
    """One finding: a stable ``code``, a message, where, and how bad.

    ``span`` may be ``None`` for a finding about a policy that was built in
    code rather than parsed.
    """

    code: str
    message: str = attrs.field(converter=printable)
    span: Span | None
    severity: str = "error"

    @property
    def location(self) -> str:
        return str(self.span) if self.span is not None else "<policy>"

    def render(self, source: str | None = None, *, lines: list[str] | None = None) -> str:
        """``path:line:col: CODE message``, then the source line with a caret under the span.

        Without ``source`` (or without a span) only the first line is produced.
        ``lines`` is ``source.split("\\n")`` when the caller already has it
        (rendering many diagnostics of one source splits it once). A line
        longer than :data:`EXCERPT` characters is shown around the span only,
        with ``...`` where it is cut.
        """
        head = f"{self.location}: {self.code} {self.message}"
        if self.span is None or (source is None and lines is None):
            return head
        if lines is None:
            lines = _lines(source)  # type: ignore[arg-type]
        number = self.span.line
        if not 1 <= number <= len(lines):
            return head
        text = lines[number - 1].rstrip("\r")
        if not text.isascii():
            # One character for one, so the carets stay under the span.
            text = _SURROGATE.sub("\ufffd", text)
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark takes no column
        start = max(self.span.column - 1, 0)
        if self.span.end_line == number:
            stop = max(self.span.end_column - 1, start + 1)
        else:
            stop = max(len(text), start + 1)
        stop = min(stop, len(text) + 1)
        text, start, stop = _window(text, start, stop)
        # Keep tabs in the padding so the carets line up under tabbed source.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        gutter = " " * len(str(number))
        carets = "^" * max(stop - start, 1)
        return "\n".join([
            head,
            f"{gutter} |",
            f"{number} | {text}",
            f"{gutter} | {pad}{carets}",
        ])


@functools.lru_cache(maxsize=2)
def _lines(source: str) -> list[str]:
    # Rendering each diagnostic of a long text must not split the text again:
    # a str caches its hash, and a hit on the same object compares by
    # identity, so rendering n diagnostics one by one stays linear.
    return source.split("\n")


#: The longest source line shown whole under a diagnostic.
EXCERPT = 160
_ELLIPSIS = "..."


def _window(text: str, start: int, stop: int) -> tuple[str, int, int]:
    """The part of a long line around ``[start, stop)`` (and the span's offsets in it)."""
    if len(text) <= EXCERPT:
        return text, start, stop
    stop = min(stop, start + EXCERPT // 2)  # a long span: its beginning
    left = max(0, min(start - EXCERPT // 4, len(text) - EXCERPT))
    right = min(len(text), left + EXCERPT)
    shown = text[left:right]
    if left:
        shown = _ELLIPSIS + shown
        start, stop = start - left + len(_ELLIPSIS), stop - left + len(_ELLIPSIS)
    if right < len(text):
        shown += _ELLIPSIS
    return shown, start, stop


def render_all(diagnostics: Iterable[Diagnostic], source: str | None = None) -> str:
    """Render ``diagnostics`` one after another, separated by blank lines."""
    lines = source.split("\n") if source is not None else None
    return "\n\n".join(d.render(source, lines=lines) for d in diagnostics)
