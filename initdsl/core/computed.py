"""Computed arguments: ``dict(expr=...)`` in a cfg, evaluated for each module and tensor.

A policy value such as ``std=0.02 / sqrt(2 * model.config.n_layer)`` or
``std=tensor.fan_in ** -0.5`` compiles to ``dict(expr='...')``
(:mod:`initdsl.core.expressions`). Its value depends on what the rule
writes, so the planner cannot build the initializer once per rule: it
evaluates the cfg's expressions for each matched module (and tensor, and
captures of the rule's pattern), builds the initializer from the concrete
values (once per distinct set of values) and plans that, before anything is
written. Every failure is an :class:`~initdsl.core.expressions.ExpressionError`
with the argument it is about.

Names (docs/language.md, "Values"): captures; ``model.<attributes>`` on the
root of the run; ``module.<attributes>`` on the module written;
``tensor.fan_in``, ``fan_out``, ``numel``, ``ndim`` and ``shape[k]`` of the
tensor written (fans as ``torch.nn.init`` computes them).

No torch import: :class:`~initdsl.core.initializers.SelectInit`, which the
checker builds without torch, holds a :class:`Computed`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import shown
from .expressions import (
    Expr,
    ExpressionError,
    Reference,
    evaluate,
    format_expression,
    is_expression_value,
    parse_expression,
)

__all__ = ["Computed", "Context", "computed_keys", "concrete"]


def computed_keys(cfg: Mapping[str, Any]) -> list[str]:
    """The keys of ``cfg`` whose values are ``dict(expr=...)``."""
    return [key for key, value in cfg.items() if is_expression_value(value)]


@attrs.frozen(eq=False)
class Computed:
    """A cfg with computed arguments, waiting for the module and tensor it is for.

    ``trees`` holds each computed argument's parsed expression.
    """

    cfg: dict[str, Any]
    trees: dict[str, Expr]
    described: str = ""

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> Computed:
        trees = {}
        for key in computed_keys(cfg):
            try:
                trees[key] = parse_expression(cfg[key]["expr"])
            except ExpressionError as error:
                error.argument = key
                raise
        text = ", ".join(f"{key}={format_expression(tree)}" for key, tree in trees.items())
        return cls(dict(cfg), trees, text)

    @property
    def layer(self) -> Any:
        return self.cfg.get("layer")

    def text(self) -> str:
        """The computed arguments as written (for provenance)."""
        return self.described


@attrs.frozen(eq=False)
class Context:
    """What the names of an expression mean for one write."""

    root: Any  # nn.Module
    module: Any  # nn.Module
    tensor: Any  # Tensor | None
    captures: Mapping[str, str] = attrs.field(factory=dict)

    def resolve(self, reference: Reference) -> Any:
        name, rest = reference.parts[0], reference.parts[1:]
        if name in self.captures:
            segment = self.captures[name]
            value: Any = int(segment) if segment.isdigit() else segment
            if rest:
                raise ExpressionError(f"{name} is a capture: it has no attributes", "E181",
                                      reference.start, reference.end)
        elif name == "model":
            value = _attribute(self.root, "model", rest, reference)
        elif name == "module":
            value = _attribute(self.module, "module", rest, reference)
        elif name == "tensor":
            return self._tensor(reference)
        else:
            known = ", ".join(sorted({*self.captures, "model", "module", "tensor"}))
            raise ExpressionError(f"unknown name {shown(name)} (known here: {known})", "E180",
                                  reference.start, reference.end)
        if reference.index is not None:
            value = _item(value, reference)
        return value

    def _tensor(self, reference: Reference) -> Any:
        tensor = self.tensor
        field = reference.parts[1] if len(reference.parts) == 2 else None
        if tensor is None:
            raise ExpressionError(f"{reference.dotted}: the module has no tensor to write", "E181",
                                  reference.start, reference.end)
        if field == "shape" and reference.index is not None:
            return _item(tuple(tensor.shape), reference)
        if reference.index is None:
            if field == "numel":
                return tensor.numel()
            if field == "ndim":
                return tensor.dim()
            if field in ("fan_in", "fan_out"):
                if tensor.dim() < 2:
                    raise ExpressionError(
                        f"{reference.dotted} of a tensor with {tensor.dim()} dimension(s) "
                        f"(shape {tuple(tensor.shape)}): fans need at least 2", "E181",
                        reference.start, reference.end)
                receptive = 1
                for size in tensor.shape[2:]:
                    receptive *= size
                return (tensor.shape[1] if field == "fan_in" else tensor.shape[0]) * receptive
        raise ExpressionError(f"{reference.dotted} is not a property of the tensor (fan_in, "
                              "fan_out, numel, ndim, shape[k])", "E180", reference.start,
                              reference.end)


def _attribute(target: Any, root: str, parts: tuple[str, ...], reference: Reference) -> Any:
    value, path = target, root
    for part in parts:
        if part.startswith("__"):
            raise ExpressionError(f"{path}.{part}: names that start with `__` are Python's "
                                  "internals, not values of the model", "E180",
                                  reference.start, reference.end)
        try:
            value = getattr(value, part)
        except AttributeError:
            names = [n for n in dir(value) if not n.startswith("_")] if value is not None else []
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {shown(close[0])}?" if close else ""
            raise ExpressionError(f"{path} ({type(value).__name__}) has no attribute "
                                  f"{shown(part)}{hint}", "E182", reference.start,
                                  reference.end) from None
        except Exception as error:  # noqa: BLE001 - a property of the user's model may raise
            raise ExpressionError(f"reading {path}.{part} raised {type(error).__name__}: "
                                  f"{shown(str(error))}", "E182", reference.start,
                                  reference.end) from None
        path = f"{path}.{part}"
    return value


def _item(value: Any, reference: Reference) -> Any:
    try:
        return value[reference.index]
    except (IndexError, KeyError, TypeError):
        raise ExpressionError(f"{reference.dotted}[{reference.index}]: no such item in "
                              f"{shown(value)}", "E181", reference.start,
                              reference.end) from None


def concrete(computed: Computed, context: Context) -> dict[str, Any]:
    """``computed``'s cfg with every expression replaced by its value in ``context``."""
    cfg = dict(computed.cfg)
    for key, tree in computed.trees.items():
        try:
            value = evaluate(tree, context.resolve)
        except ExpressionError as error:
            error.argument = key
            raise
        if value is not None and not isinstance(value, (int, float, str)):
            raise ExpressionError(f"{format_expression(tree)} is a {type(value).__name__}, "
                                  "not a value an initializer takes (a number, a string, "
                                  "a boolean or none)", "E181", tree.start, tree.end,
                                  argument=key)
        cfg[key] = value
    return cfg
