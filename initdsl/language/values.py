"""What an argument value means where it is written: ``let`` names, captures, expressions.

The checker and the compiler walk a policy in the same order and ask this
module the same question about every value: given the ``let`` names in
scope and the captures of the rule, is it a constant (a Python value the
compiler writes into the IR as it is), or a computed value that depends on
the model (an expression tree the IR carries as ``dict(expr=...)``)? Let
names are replaced by their values and expressions without names are folded
to numbers, so a policy that only uses constants compiles to plain mmengine
``init_cfg``.

Names an expression may use (docs/language.md, "Values"):

* a capture of the rule (``{i}`` in its pattern);
* a ``let`` name in scope;
* ``model.<attributes>`` (the root module), ``module.<attributes>`` (the
  module written), ``tensor.fan_in``, ``tensor.fan_out``, ``tensor.numel``,
  ``tensor.ndim``, ``tensor.shape[k]`` (the tensor written).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..core.expressions import (
    FUNCTIONS,
    Binary,
    Expr,
    ExpressionError,
    Function,
    Number,
    Reference,
    Unary,
    evaluate,
    functions,
    references,
    substitute,
)
from ..diagnostics import Diagnostic, Span
from .ast import Expression, Identifier, Value, value_of

__all__ = ["Bindings", "ROOTS", "TENSOR_FIELDS", "EXPRESSION_TREES", "resolve_value",
           "captures_of"]

#: The names that read the model: the root, the module written, the tensor written.
ROOTS = frozenset({"model", "module", "tensor"})

#: What ``tensor.<field>`` may be; ``shape`` takes an index.
TENSOR_FIELDS = frozenset({"fan_in", "fan_out", "numel", "ndim", "shape"})


#: What a computed (model-dependent) value resolves to.
EXPRESSION_TREES = (Number, Reference, Unary, Binary, Function)


def captures_of(pattern: Iterable[str]) -> tuple[str, ...]:
    """The names a pattern's ``{name}`` segments bind, in order."""
    return tuple(segment[1:-1] for segment in pattern
                 if len(segment) > 2 and segment[0] == "{" and segment[-1] == "}")


@attrs.frozen
class Bindings:
    """The names bound at one point of a policy.

    ``lets`` maps each ``let`` name in scope to its resolved value (a Python
    constant or an expression tree); ``captures`` are the rule's own;
    ``elsewhere`` are the captures of every other rule (to say E183 rather
    than E180 about them).
    """

    lets: Mapping[str, Any] = attrs.field(factory=dict)
    captures: frozenset[str] = frozenset()
    elsewhere: frozenset[str] = frozenset()

    def with_let(self, name: str, value: Any) -> Bindings:
        return attrs.evolve(self, lets={**self.lets, name: value})

    def for_rule(self, captures: Iterable[str]) -> Bindings:
        return attrs.evolve(self, captures=frozenset(captures))


def _span_of(span: Span | None, origin: int, start: int, end: int) -> Span | None:
    """The span of ``[start, end)`` of an expression whose ``span`` starts at offset ``origin``."""
    if span is None:
        return None
    return Span(span.file, span.line, span.column + start - origin, span.line,
                span.column + end - origin)


def resolve_value(value: Value, bindings: Bindings, *, check: bool = True
                  ) -> tuple[Any, list[Diagnostic]]:
    """``(resolved, diagnostics)``: the constant or expression tree ``value`` stands for.

    A bare identifier bound by a ``let`` is that let's value, one bound by a
    capture is a reference to it; any other bare identifier is the string it
    spells, as always. Diagnostics (E180, E181, E183) are placed at the part
    of the expression they blame; with any, the resolved value is ``None``.
    ``check=False`` skips the checks of names and functions (the compiler
    resolves what the checker has accepted).
    """
    if isinstance(value, Identifier):
        if value.name in bindings.lets:
            return bindings.lets[value.name], []
        if value.name in bindings.captures:
            return Reference((value.name,)), []
        return value.name, []
    if not isinstance(value, Expression):
        return value_of(value), []
    diagnostics: list[Diagnostic] = []

    def report(code: str, message: str, node: Any) -> None:
        diagnostics.append(Diagnostic(code, message, _span_of(value.span, value.tree.start, node.start,
                                                               node.end)))

    def bound(reference: Reference) -> Expr | None:
        name = reference.parts[0]
        if name in bindings.lets and len(reference.parts) == 1 and reference.index is None:
            let = bindings.lets[name]
            if isinstance(let, (int, float)) and not isinstance(let, bool):
                return Number(let) if let >= 0 else _negative(let)
            if isinstance(let, (Number, Reference, Unary, Binary, Function)):
                return let
            report("E181", f"`{name}` is {let!r}, not a number: it cannot be computed with",
                   reference)
        return None

    used = list(references(value.tree))
    lets = bindings.lets
    tree = substitute(value.tree, bound) if lets and any(
        r.parts[0] in lets for r in used) else value.tree
    for reference in used if check else ():
        _check_reference(reference, bindings, report)
    for function in functions(value.tree) if check else ():
        if function.name not in FUNCTIONS:
            close = difflib.get_close_matches(function.name, list(FUNCTIONS), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            report("E180", f"unknown function `{function.name}`{hint} (known: "
                   f"{', '.join(sorted(FUNCTIONS))})", function)
    if diagnostics:
        return None, diagnostics
    if not used or (tree is not value.tree and next(references(tree), None) is None):
        try:
            return evaluate(tree, _no_names), []
        except ExpressionError as error:
            # Offsets of a substituted let are its own: blame the whole value then.
            inside = 0 <= error.start < error.end <= value.tree.end
            diagnostics.append(Diagnostic(error.code or "E181", error.message, _span_of(
                value.span, value.tree.start, error.start if inside else value.tree.start,
                error.end if inside else value.tree.end)))
            return None, diagnostics
    return tree, []


def _negative(number: int | float) -> Expr:
    return Unary("-", Number(-number))


def _no_names(reference: Reference) -> Any:  # pragma: no cover - folded trees have none
    raise AssertionError(reference)


def _check_reference(reference: Reference, bindings: Bindings, report: Any) -> None:
    name, rest = reference.parts[0], reference.parts[1:]
    if any(part.startswith("__") for part in reference.parts):
        report("E180", f"`{reference.dotted}`: names that start with `__` are Python's "
               "internals, not values of the model", reference)
        return
    if name in bindings.lets:
        if rest or reference.index is not None:
            report("E181", f"`{name}` is a let name: it has no attributes or items", reference)
        return
    if name in bindings.captures:
        if rest or reference.index is not None:
            report("E181", f"`{name}` is a capture (a segment of the name): it has no "
                   "attributes or items", reference)
        return
    if name in ROOTS:
        if name == "tensor":
            field = rest[0] if rest else None
            if field not in TENSOR_FIELDS or len(rest) > 1 or (
                    (field == "shape") != (reference.index is not None)):
                report("E180", f"`{reference.dotted}` is not a property of the tensor: write "
                       "tensor.fan_in, tensor.fan_out, tensor.numel, tensor.ndim or "
                       "tensor.shape[k]", reference)
        elif not rest and reference.index is None:
            pass  # `len(model.blocks)` needs the object; a lone `model` fails when evaluated
        return
    if name in bindings.elsewhere:
        report("E183", f"`{name}` is a capture of another rule; a capture is bound only in "
               "the rule whose pattern holds it", reference)
        return
    known = sorted({*bindings.lets, *bindings.captures, *ROOTS})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    report("E180", f"unknown name `{name}`{hint} (an expression may use let names, the "
           "rule's captures, model.*, module.* and tensor.*)", reference)
