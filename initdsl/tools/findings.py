"""Lint findings: the rules' codes, how a finding is placed, and how names are listed.

Shared by the rules that read only the text (:mod:`initdsl.tools.lint`)
and those that need the model (:mod:`initdsl.tools.lint_model`); needs no
torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..diagnostics import Diagnostic, Span

__all__ = ["LINT_CODES", "LISTED", "finding", "model_span", "about_the_model", "listed",
           "did_you_mean", "collapse_names", "exit_code"]

#: Every lint code: (severity, title). docs/cli.md documents each with an example.
LINT_CODES: dict[str, tuple[str, str]] = {
    "W201": ("warning", "unknown layer class"),
    "E202": ("error", "checkpoint file not found"),
    "E203": ("error", "checkpoint scheme not supported"),
    "E204": ("error", "unknown checkpoint name"),
    "W205": ("warning", "named checkpoint not in the cache"),
    "W210": ("warning", "layer matches no module in the model"),
    "W211": ("warning", "rule matches modules but writes no tensor"),
    "W212": ("warning", "param rule matches no parameter"),
    "W213": ("warning", "rules disagree on a tied tensor"),
    "W220": ("warning", "every write of the rule is overwritten later"),
    "I230": ("info", "parameters no rule writes"),
    "E240": ("error", "initializer rejects a module it matches"),
    "W250": ("warning", "init_cfg/init_weights never runs: a plain container stops the chain"),
    "E260": ("error", "load prefix matches no checkpoint key"),
    "W261": ("warning", "checkpoint keys match no parameter"),
    "W262": ("warning", "checkpoint shape mismatch"),
    "I263": ("info", "checkpoint not inspected"),
    "E290": ("error", "the run would fail"),
}

#: Findings about the whole model rather than one rule (``I230``, ``W250``, and
#: ``E290`` when no rule is to blame) sit on this empty span at ``file:1:1``;
#: :func:`about_the_model` tells them apart, and they are shown without an excerpt.
_MODEL_SPAN = (1, 1, 1, 1)

#: How many names a finding lists before it says how many more there are.
LISTED = 8


def finding(code: str, message: str, span: Span | None) -> Diagnostic:
    """A diagnostic of lint rule ``code``, with the rule's severity."""
    return Diagnostic(code, message, span, LINT_CODES[code][0])


def model_span(file: str) -> Span:
    """Where a finding about the model as a whole sits: ``file:1:1``, empty."""
    return Span(file, *_MODEL_SPAN)


def about_the_model(diagnostic: Diagnostic) -> bool:
    """Whether ``diagnostic`` is about the model as a whole rather than a place in the text."""
    span = diagnostic.span
    return span is None or (span.line, span.column, span.end_line, span.end_column) == _MODEL_SPAN


def listed(items: Iterable[str], limit: int = LISTED) -> str:
    """Up to ``limit`` names in backquotes, then how many more there are."""
    items = list(items)
    shown = ", ".join(f"`{item}`" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    options = sorted(set(options))
    folded = [o for o in options if o.lower() == word.lower()]
    if not folded:
        public = [o for o in options if word.startswith("_") or not o.startswith("_")]
        folded = difflib.get_close_matches(word, public, n=1, cutoff=0.75)
    return f"; did you mean `{folded[0]}`?" if folded else ""


def collapse_names(names: Iterable[str]) -> list[str]:
    """Group names that differ only in numeric segments: ``blocks.{0..11}.norm1.weight``.

    Order of first appearance is kept. A group whose indices are not a full
    product over its numeric positions is written with ``*`` and a count.
    """
    groups: dict[tuple[str | None, ...], list[tuple[int, ...]]] = {}
    for name in names:
        parts = name.split(".")
        shape = tuple(None if p.isdigit() else p for p in parts)
        groups.setdefault(shape, []).append(tuple(int(p) for p in parts if p.isdigit()))
    return [_collapsed(shape, indices) for shape, indices in groups.items()]


def _collapsed(shape: tuple[str | None, ...], indices: list[tuple[int, ...]]) -> str:
    if len(indices) == 1:
        fills = [str(i) for i in indices[0]]
        suffix = ""
    else:
        columns = [sorted({i[k] for i in indices}) for k in range(len(indices[0]))]
        product = 1
        for column in columns:
            product *= len(column)
        if product == len(set(indices)):
            fills, suffix = [_span_of(column) for column in columns], ""
        else:
            fills, suffix = ["*"] * len(columns), f" ({len(indices)})"
    filled = iter(fills)
    return ".".join(next(filled) if part is None else part for part in shape) + suffix


def _span_of(values: list[int]) -> str:
    if len(values) == 1:
        return str(values[0])
    if values == list(range(values[0], values[-1] + 1)):
        return f"{{{values[0]}..{values[-1]}}}"
    return "{" + ",".join(map(str, values)) + "}"


def exit_code(diagnostics: Iterable[Diagnostic], strict: bool = False) -> int:
    """1 if any error (or, with ``strict``, any warning) is among ``diagnostics``, else 0."""
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(d.severity in failing for d in diagnostics) else 0
