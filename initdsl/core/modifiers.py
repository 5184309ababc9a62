"""Modifiers: what HF and timm do to a tensor right after drawing it.

A rule may end with ``then`` modifiers (docs/language.md, "Modifiers"),
which the IR writes as ``then=[dict(op='scale', factor=0.5),
dict(op='zero_row', row=0)]`` on a ``Select`` entry. Each is applied, in
order, to the tensor the rule just wrote (its weight; a bias is a constant):

* ``scale(factor)``: :math:`w \\leftarrow \\text{factor} \\cdot w` (ConvNeXt's
  ``head_init_scale``; timm and HF ``fix_init``-style rescaling);
* ``zero_row(row)``: :math:`w_{\\text{row}, \\ldots} \\leftarrow 0`, nothing when
  ``row`` is ``none`` (``nn.Embedding``'s ``padding_idx``, HF's
  ``weight[padding_idx] = 0``).

Both modes apply them after the draw, so fast mode's values stay
independent of order and threads. No torch import: modifiers are built when
a policy is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import InitTypeError, InitValueError, shown

__all__ = ["Scale", "ZeroRow", "Modifier", "MODIFIERS", "build_modifier"]


@attrs.frozen
class Scale:
    """Multiply the tensor by ``factor``."""

    factor: float

    def check(self, shape: tuple[int, ...]) -> str | None:
        return None

    def apply_(self, tensor: Any) -> None:
        tensor.mul_(self.factor)

    def apply_part_(self, part: Any, rows: Any, shape: tuple[int, ...]) -> None:
        """Apply to ``part`` of a ``shape`` tensor, holding its rows ``rows`` (a rank's shard)."""
        part.mul_(self.factor)

    def describe(self) -> str:
        return f"scale({self.factor})"


@attrs.frozen
class ZeroRow:
    """Zero row ``row`` (the first index) of the tensor; ``None``: no row."""

    row: int | None

    def check(self, shape: tuple[int, ...]) -> str | None:
        if self.row is None:
            return None
        if not shape:
            return "zero_row needs a tensor with at least one dimension"
        if not -shape[0] <= self.row < shape[0]:
            return f"zero_row({self.row}) is outside the {shape[0]} rows of the tensor"
        return None

    def apply_(self, tensor: Any) -> None:
        if self.row is not None:
            tensor[self.row].zero_()

    def apply_part_(self, part: Any, rows: Any, shape: tuple[int, ...]) -> None:
        """Apply to ``part`` of a ``shape`` tensor, holding its rows ``rows`` (a rank's shard)."""
        if self.row is not None:
            local = (rows == self.row % shape[0]).nonzero()
            if len(local):
                part[int(local[0])].zero_()

    def describe(self) -> str:
        return f"zero_row({'none' if self.row is None else self.row})"


Modifier = Scale | ZeroRow

#: ``op``: (class, its arguments in order).
MODIFIERS: dict[str, tuple[type, tuple[str, ...]]] = {
    "scale": (Scale, ("factor",)),
    "zero_row": (ZeroRow, ("row",)),
}


def build_modifier(entry: Mapping[str, Any]) -> Modifier:
    """The modifier an IR entry ``dict(op=..., <argument>=...)`` stands for (values concrete)."""
    if not isinstance(entry, Mapping) or "op" not in entry:
        raise InitTypeError(f"a modifier is dict(op=..., ...), got {shown(entry)}")
    op = entry["op"]
    known = MODIFIERS.get(op) if isinstance(op, str) else None
    if known is None:
        raise InitValueError(f"unknown modifier {shown(op)} (known: {', '.join(MODIFIERS)})")
    cls, names = known
    args = {k: v for k, v in entry.items() if k != "op"}
    if sorted(args) != sorted(names):
        raise InitTypeError(f"modifier {op} takes {', '.join(names)}, got {shown(args)}")
    if cls is Scale:
        factor = args["factor"]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise InitTypeError(f"scale's factor must be a number, got {shown(factor)}",
                                argument="factor")
        return Scale(factor)
    row = args["row"]
    if row is not None and (isinstance(row, bool) or not isinstance(row, int)):
        raise InitTypeError(f"zero_row's row must be an integer or none, got {shown(row)}",
                            argument="row")
    return ZeroRow(row)
