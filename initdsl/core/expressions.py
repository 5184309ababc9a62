"""Computed argument values: a small expression language, parsed and evaluated here.

An argument of a policy may be an expression such as
``0.02 / sqrt(2 * model.config.n_layer)`` or ``tensor.fan_in ** -0.5``. In
the IR it is ``dict(expr='<canonical text>')``; this module reads that text
into a tree of frozen nodes, prints a tree back as canonical text, and
evaluates a tree over names the caller resolves. The policy language reads
expressions with this same parser (one parser, so the policy file, the IR
and the evaluator agree on every expression), and ``grammar/initdsl.lark``
describes the same syntax.

Nothing here reaches Python's ``eval``: the evaluator is a walk over the
tree with a fixed table of operators and functions, and every failure
(a division by zero, ``sqrt`` of a negative number, a result that is not
finite, an unknown name, a value of the wrong type) is an
:class:`ExpressionError` with a stable code and the offsets of the
sub-expression to blame. No torch here: the checker folds constant
expressions when ``initdsl compile`` runs without importing torch.

Syntax, loosest binding first::

    sum      :=  product (("+" | "-") product)*
    product  :=  unary (("*" | "/") unary)*
    unary    :=  "-" unary | power
    power    :=  atom ("**" unary)?            # right-associative, binds tighter than unary -
    atom     :=  NUMBER | reference | NAME "(" [sum ("," sum)*] ")" | "(" sum ")"
    reference:=  NAME ("." NAME)* ("[" ["-"] INT "]")?

``-2 ** 2`` is ``-(2 ** 2)`` and ``2 ** -1`` is ``0.5``, as in Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any, Union

import attrs

from ..errors import InitValueError, shown

__all__ = [
    "Number",
    "Reference",
    "Unary",
    "Binary",
    "Function",
    "Expr",
    "FUNCTIONS",
    "ExpressionError",
    "parse_expression",
    "parse_prefix",
    "format_expression",
    "evaluate",
    "references",
    "functions",
    "substitute",
    "rebased",
    "is_expression_value",
]


def _offset() -> Any:
    return attrs.field(default=0, eq=False, repr=False)


@attrs.frozen
class Number:
    """A number literal (never negative: ``-1`` is ``Unary('-', Number(1))``)."""

    value: int | float
    start: int = _offset()
    end: int = _offset()


@attrs.frozen
class Reference:
    """A dotted name, optionally indexed: ``i``, ``model.config.n_layer``, ``tensor.shape[0]``."""

    parts: tuple[str, ...] = attrs.field(converter=tuple)
    index: int | None = None
    start: int = _offset()
    end: int = _offset()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@attrs.frozen
class Unary:
    """``-operand``."""

    operator: str
    operand: Expr
    start: int = _offset()
    end: int = _offset()


@attrs.frozen
class Binary:
    """``left operator right`` for ``+ - * / **``."""

    operator: str
    left: Expr
    right: Expr
    start: int = _offset()
    end: int = _offset()


@attrs.frozen
class Function:
    """A call of one of :data:`FUNCTIONS`: ``sqrt(x)``, ``max(a, b)``."""

    name: str
    args: tuple[Expr, ...] = attrs.field(converter=tuple)
    start: int = _offset()
    end: int = _offset()


Expr = Union[Number, Reference, Unary, Binary, Function]


class ExpressionError(InitValueError):
    """An expression that cannot be read or evaluated.

    ``code`` is ``E180`` (a name that is not bound), ``E181`` (a syntax,
    type or domain error: ``1 / 0``, ``sqrt(-1)``), ``E182`` (an attribute
    the model or module does not have). ``start``/``end`` are offsets into
    the expression's text of the part to blame.
    """

    def __init__(self, message: str, code: str | None = "E181", start: int = 0, end: int = 0,
                 **located: Any) -> None:
        super().__init__(message, code=code, **located)
        self.start = start
        self.end = end


# -- reading -----------------------------------------------------------------------

_NUMBER = r"[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|[0-9]+"
_TOKENS = re.compile(rf"[ \t\f\r]*(?:(?P<number>{_NUMBER})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                     r"|(?P<op>\*\*|[-+*/(),.\[\]])|(?P<other>[^ \t\f\r]?))")

#: ``name: (arity, function)``; ``None`` arity means one or more arguments.
FUNCTIONS: dict[str, tuple[int | None, Callable[..., Any]]] = {}


class _Tokens:
    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.base = start
        self.at = start
        self.kind, self.value, self.start, self.end = self._read(start)

    def _read(self, at: int) -> tuple[str, str, int, int]:
        found = _TOKENS.match(self.text, at)
        assert found is not None  # `other` matches anything, the empty string at the end
        kind = found.lastgroup or "other"
        if kind == "other" and not found.group("other"):
            kind = "end"
        start, end = found.span(kind if kind != "end" else "other")
        return kind, found.group(kind if kind != "end" else "other"), start, end

    def next(self) -> tuple[str, int, int]:
        taken = (self.value, self.start - self.base, self.end - self.base)
        self.at = self.end
        self.kind, self.value, self.start, self.end = self._read(self.end)
        return taken

    def is_op(self, *values: str) -> bool:
        return self.kind == "op" and self.value in values

    def fail(self, expected: str) -> ExpressionError:
        found = "the end of the expression" if self.kind == "end" else f"`{self.value}`"
        start = self.start - self.base
        return ExpressionError(f"expected {expected}, found {found}", "E181", start,
                               max(start + 1, self.end - self.base))


def parse_prefix(text: str, start: int = 0) -> tuple[Expr, int]:
    """The expression that starts at ``text[start]``, and the offset after it.

    Reading stops at the first token that cannot continue the expression
    (``,``, ``)`` with no parenthesis open, a new line, the end), so a
    caller can read an expression inside a larger text. Node offsets are
    relative to ``start``. Raises :class:`ExpressionError` (``E181``).
    """
    tokens = _Tokens(text, start)
    tree = _sum(tokens, 0)
    return tree, tokens.at


def parse_expression(text: str) -> Expr:
    """The expression ``text`` is, all of it (:class:`ExpressionError` otherwise)."""
    tokens = _Tokens(text, 0)
    tree = _sum(tokens, 0)
    if tokens.kind != "end":
        raise tokens.fail("an operator or the end of the expression")
    return tree


#: Deeper nesting is refused rather than risking Python's recursion limit.
MAX_DEPTH = 64


# Offsets follow Lark's positions for the same text, so that both readers of
# a policy build the same spans: a node spans the tokens its rule consumed,
# its parentheses included, while a parenthesized operand keeps its own.

def _sum(tokens: _Tokens, depth: int) -> Expr:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expressions nest at most {MAX_DEPTH} deep", "E181",
                              tokens.start - tokens.base, tokens.end - tokens.base)
    begin = tokens.start - tokens.base
    left = _product(tokens, depth)
    while tokens.is_op("+", "-"):
        operator = tokens.next()[0]
        right = _product(tokens, depth)
        left = Binary(operator, left, right, begin, tokens.at - tokens.base)
    return left


def _product(tokens: _Tokens, depth: int) -> Expr:
    begin = tokens.start - tokens.base
    left = _unary(tokens, depth)
    while tokens.is_op("*", "/"):
        operator = tokens.next()[0]
        right = _unary(tokens, depth)
        left = Binary(operator, left, right, begin, tokens.at - tokens.base)
    return left


def _unary(tokens: _Tokens, depth: int) -> Expr:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expressions nest at most {MAX_DEPTH} deep", "E181",
                              tokens.start - tokens.base, tokens.end - tokens.base)
    if tokens.is_op("-"):
        _, start, _ = tokens.next()
        operand = _unary(tokens, depth + 1)
        return Unary("-", operand, start, tokens.at - tokens.base)
    return _power(tokens, depth)


def _power(tokens: _Tokens, depth: int) -> Expr:
    begin = tokens.start - tokens.base
    base = _atom(tokens, depth)
    if tokens.is_op("**"):
        tokens.next()
        exponent = _unary(tokens, depth + 1)
        return Binary("**", base, exponent, begin, tokens.at - tokens.base)
    return base


def _atom(tokens: _Tokens, depth: int) -> Expr:
    kind = tokens.kind
    if kind == "number":
        value, start, end = tokens.next()
        return Number(_number(value, start, end), start, end)
    if kind == "name":
        name, start, end = tokens.next()
        if tokens.is_op("("):
            tokens.next()
            args: list[Expr] = []
            if not tokens.is_op(")"):
                args.append(_sum(tokens, depth + 1))
                while tokens.is_op(","):
                    tokens.next()
                    args.append(_sum(tokens, depth + 1))
            if not tokens.is_op(")"):
                raise tokens.fail("`,` or `)`")
            _, _, end = tokens.next()
            return Function(name, args, start, end)
        parts = [name]
        while tokens.is_op("."):
            tokens.next()
            if tokens.kind != "name":
                raise tokens.fail("a name after `.`")
            part, _, end = tokens.next()
            parts.append(part)
        index = None
        if tokens.is_op("["):
            tokens.next()
            negative = tokens.is_op("-")
            if negative:
                tokens.next()
            if tokens.kind != "number" or not tokens.value.isdigit():
                raise tokens.fail("an integer index")
            index = int(tokens.next()[0]) * (-1 if negative else 1)
            if not tokens.is_op("]"):
                raise tokens.fail("`]`")
            _, _, end = tokens.next()
        return Reference(tuple(parts), index, start, end)
    if tokens.is_op("("):
        tokens.next()
        inner = _sum(tokens, depth + 1)
        if not tokens.is_op(")"):
            raise tokens.fail("`)`")
        tokens.next()
        return inner
    raise tokens.fail("a number, a name or `(`")


def _number(token: str, start: int, end: int) -> int | float:
    if token.isdigit():
        if len(token) > 4300:
            raise ExpressionError(f"an integer of {len(token):,} digits is out of range",
                                  "E181", start, end)
        return int(token)
    value = float(token)
    if not math.isfinite(value):
        raise ExpressionError(f"{token} is out of range: numbers must be finite", "E181",
                              start, end)
    if value == 0.0 and token.lower().partition("e")[0].strip("0.") != "":
        raise ExpressionError(f"{token} is out of range: it would be read as 0", "E181",
                              start, end)
    return value


# -- printing ----------------------------------------------------------------------

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "unary": 3, "**": 4}


def format_expression(tree: Expr) -> str:
    """The canonical text of ``tree``: single spaces around operators, only needed parentheses.

    ``parse_expression(format_expression(t)) == t`` for every tree.
    """
    return _printed(tree, 0)


def _printed(tree: Expr, context: int) -> str:
    if isinstance(tree, Number):
        return repr(tree.value) if isinstance(tree.value, float) else str(tree.value)
    if isinstance(tree, Reference):
        index = "" if tree.index is None else f"[{tree.index}]"
        return tree.dotted + index
    if isinstance(tree, Function):
        return f"{tree.name}({', '.join(_printed(a, 0) for a in tree.args)})"
    if isinstance(tree, Unary):
        text = "-" + _printed(tree.operand, _PRECEDENCE["unary"])
        own = _PRECEDENCE["unary"]
    else:
        own = _PRECEDENCE[tree.operator]
        if tree.operator == "**":
            # Right-associative: the base binds tighter; the exponent may be a unary.
            left = _printed(tree.left, own + 1)
            right = _printed(tree.right, _PRECEDENCE["unary"])
        else:
            left = _printed(tree.left, own)
            right = _printed(tree.right, own + 1)
        text = f"{left} {tree.operator} {right}"
    return f"({text})" if own < context else text


# -- evaluating --------------------------------------------------------------------

Resolve = Callable[[Reference], Any]


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _domain(name: str, check: Callable[..., bool], function: Callable[..., Any],
            requirement: str) -> Callable[..., Any]:
    def checked(*args: Any) -> Any:
        if not check(*args):
            raise ValueError(f"{name} needs {requirement}, got {', '.join(map(str, args))}")
        return function(*args)
    return checked


FUNCTIONS.update({
    "sqrt": (1, _domain("sqrt", lambda x: x >= 0, math.sqrt, "a number >= 0")),
    "log": (1, _domain("log", lambda x: x > 0, math.log, "a number > 0")),
    "exp": (1, math.exp),
    "abs": (1, abs),
    "min": (None, lambda *args: min(args)),
    "max": (None, lambda *args: max(args)),
    "len": (1, len),  # evaluated by _length: it takes a module or a sequence, not a number
})


def evaluate(tree: Expr, resolve: Resolve) -> Any:
    """The value of ``tree``; ``resolve(reference)`` gives the value of each name.

    Arithmetic takes ints and floats (not booleans) and keeps Python's
    meaning (``2 * 3`` is the int 6, ``/`` always gives a float). A bare
    reference may stand for any value ``resolve`` gives (a string, ``None``)
    when it is the whole expression. Raises :class:`ExpressionError`:
    ``E181`` for a division by zero, a function outside its domain, an
    overflow or a result that is not finite, and a value of the wrong type;
    ``resolve`` raises its own for names it does not know.
    """
    if isinstance(tree, Reference):
        return resolve(tree)
    return _number_of(tree, resolve)


def _number_of(tree: Expr, resolve: Resolve) -> int | float:
    if isinstance(tree, Number):
        return tree.value
    if isinstance(tree, Reference):
        value = resolve(tree)
        if not _real(value):
            raise ExpressionError(
                f"{tree.dotted} is {shown(value)} ({type(value).__name__}), not a number",
                "E181", tree.start, tree.end)
        return value
    if isinstance(tree, Unary):
        return -_number_of(tree.operand, resolve)
    if isinstance(tree, Function):
        return _call(tree, resolve)
    left = _number_of(tree.left, resolve)
    right = _number_of(tree.right, resolve)
    try:
        if tree.operator == "+":
            value = left + right
        elif tree.operator == "-":
            value = left - right
        elif tree.operator == "*":
            value = left * right
        elif tree.operator == "/":
            value = left / right
        else:
            if isinstance(left, int) and isinstance(right, int) and right >= 0 and (
                    abs(left) > 1 and right * math.log2(abs(left)) > 1024):
                raise OverflowError
            value = left ** right
            if isinstance(value, complex):
                raise ValueError(f"{left} ** {right} is not a real number")
    except ZeroDivisionError:
        raise ExpressionError(f"division by zero in {format_expression(tree)}", "E181",
                              tree.start, tree.end) from None
    except OverflowError:
        raise ExpressionError(f"{format_expression(tree)} is out of range", "E181",
                              tree.start, tree.end) from None
    except ValueError as error:
        raise ExpressionError(str(error), "E181", tree.start, tree.end) from None
    return _finite(value, tree)


def _call(tree: Function, resolve: Resolve) -> int | float:
    entry = FUNCTIONS.get(tree.name)
    if entry is None:
        known = ", ".join(sorted(FUNCTIONS))
        raise ExpressionError(f"unknown function {shown(tree.name)} (known: {known})", "E180",
                              tree.start, tree.start + len(tree.name))
    arity, function = entry
    if tree.name == "len":
        return _length(tree, resolve)
    if (arity is None and not tree.args) or (arity is not None and len(tree.args) != arity):
        wanted = "at least one argument" if arity is None else f"{arity} argument"
        raise ExpressionError(f"{tree.name} takes {wanted}, got {len(tree.args)}", "E181",
                              tree.start, tree.end)
    args = [_number_of(arg, resolve) for arg in tree.args]
    try:
        value = function(*args)
    except OverflowError:
        raise ExpressionError(f"{format_expression(tree)} is out of range", "E181",
                              tree.start, tree.end) from None
    except ValueError as error:
        raise ExpressionError(str(error), "E181", tree.start, tree.end) from None
    return _finite(value, tree)


def _length(tree: Function, resolve: Resolve) -> int:
    """``len(x)``: how many items a sequence has, how many children a module has (depth)."""
    if len(tree.args) != 1 or not isinstance(tree.args[0], Reference):
        raise ExpressionError("len takes one name: len(model.blocks)", "E181",
                              tree.start, tree.end)
    target = tree.args[0]
    value = resolve(target)
    if hasattr(value, "children") and callable(value.children):  # a module: its children
        return sum(1 for _ in value.children())
    if isinstance(value, (list, tuple, dict, str)):
        return len(value)
    raise ExpressionError(f"len of {target.dotted} ({type(value).__name__}): it is neither a "
                          "module nor a sequence", "E181", target.start, target.end)


def _finite(value: int | float, tree: Expr) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"{format_expression(tree)} is not finite ({value})", "E181",
                              tree.start, tree.end)
    return value


# -- walking -----------------------------------------------------------------------


def references(tree: Expr) -> Iterator[Reference]:
    """Every name ``tree`` uses, in text order."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Reference):
            yield node
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))
        elif isinstance(node, Function):
            stack.extend(reversed(node.args))


def functions(tree: Expr) -> Iterator[Function]:
    """Every function call ``tree`` makes, outermost first."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Function):
            yield node
            stack.extend(reversed(node.args))
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))


def substitute(tree: Expr, bound: Callable[[Reference], Expr | None]) -> Expr:
    """``tree`` with each reference for which ``bound`` gives a tree replaced by it (``let``)."""
    if isinstance(tree, Reference):
        replacement = bound(tree)
        return tree if replacement is None else replacement
    if isinstance(tree, Unary):
        return attrs.evolve(tree, operand=substitute(tree.operand, bound))
    if isinstance(tree, Binary):
        return attrs.evolve(tree, left=substitute(tree.left, bound),
                            right=substitute(tree.right, bound))
    if isinstance(tree, Function):
        return attrs.evolve(tree, args=tuple(substitute(a, bound) for a in tree.args))
    return tree


def rebased(tree: Expr, offset: int) -> Expr:
    """``tree`` with every offset moved by ``-offset`` (offsets from another origin)."""
    if not offset:
        return tree
    moved = {"start": tree.start - offset, "end": tree.end - offset}
    if isinstance(tree, Unary):
        moved["operand"] = rebased(tree.operand, offset)
    elif isinstance(tree, Binary):
        moved.update(left=rebased(tree.left, offset), right=rebased(tree.right, offset))
    elif isinstance(tree, Function):
        moved["args"] = tuple(rebased(arg, offset) for arg in tree.args)
    return attrs.evolve(tree, **moved)


def is_expression_value(value: Any) -> bool:
    """Whether a cfg value is an expression: ``dict(expr='...')``."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("expr"), str)
