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

from collections.abc import Iterable

import attrs

__all__ = ["Span", "Diagnostic", "render_all"]


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
    message: str
    span: Span | None
    severity: str = "error"

    @property
    def location(self) -> str:
        return str(self.span) if self.span is not None else "<policy>"

    def render(self, source: str | None = None) -> str:
        """``path:line:col: CODE message``, then the source line with a caret under the span.

        Without ``source`` (or without a span) only the first line is produced.
        """
        head = f"{self.location}: {self.code} {self.message}"
        if source is None or self.span is None:
            return head
        lines = source.split("\n")
        number = self.span.line
        if not 1 <= number <= len(lines):
            return head
        text = lines[number - 1].rstrip("\r")
        start = max(self.span.column - 1, 0)
        if self.span.end_line == number:
            stop = max(self.span.end_column - 1, start + 1)
        else:
            stop = max(len(text), start + 1)
        # Keep tabs in the padding so the carets line up under tabbed source.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[:start])
        gutter = " " * len(str(number))
        carets = "^" * max(min(stop, len(text) + 1) - start, 1)
        return "\n".join([
            head,
            f"{gutter} |",
            f"{number} | {text}",
            f"{gutter} | {pad}{carets}",
        ])


def render_all(diagnostics: Iterable[Diagnostic], source: str | None = None) -> str:
    """Render ``diagnostics`` one after another, separated by blank lines."""
    return "\n\n".join(d.render(source) for d in diagnostics)
