"""The policy language's syntax tree: one frozen class per construct.

Nodes compare by content: source positions (``span`` and the other
``*_span`` fields) and layout (``blank_line_before``) are excluded from
equality, so ``parse(format(policy)) == policy`` holds for any policy.
Comments are content: each node keeps the comments that belong to it, which
is how the formatter puts them back.

The tree mirrors the grammar (``grammar/initdsl.lark``)::

    Policy
      statements: LayerRule | NameRule | LoadRule | Scope
        LayerRule  layers: Layer*        init: Call      then: Call*
        NameRule   name: str             target: Call | Load | None
        ParamRule  pattern: str*         init: Call      layer: Layer | None   then: Call*
        LoadRule   load: Load
        Let        name: str             value: Value
        Seed       value: int
        Scope      path: str*            statements, end_comments
      Call         name: str             args: Arg*
      Arg          name: str | None      value: Value
      Load         checkpoint: String    options: Option*
      Value        Integer | Float | String | Identifier | Boolean | Null | Expression
      Expression   tree: initdsl.core.expressions.Expr
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Union

import attrs

from ..core.expressions import Expr, format_expression
from ..diagnostics import Span

__all__ = [
    "Comment",
    "Integer",
    "Float",
    "String",
    "Identifier",
    "Boolean",
    "Null",
    "Expression",
    "Value",
    "Arg",
    "Call",
    "Layer",
    "Option",
    "Load",
    "LayerRule",
    "NameRule",
    "ParamRule",
    "LoadRule",
    "Let",
    "Seed",
    "Scope",
    "Statement",
    "Policy",
    "KEYWORDS",
    "VALUE_WORDS",
    "RESERVED_WORDS",
    "is_bare_word",
    "scoped_statements",
    "value_of",
]

#: Words the grammar treats as keywords where a keyword may come (Lark's lexer is
#: contextual: elsewhere they are names, as in ``Linear -> name``).
KEYWORDS = frozenset({"name", "param", "load", "scope", "let", "seed", "true", "false",
                      "none"})

#: The keywords that are values: where a value may come, they are not names.
VALUE_WORDS = frozenset({"true", "false", "none"})

#: Words kept free for future statements; a class called like one must be
#: quoted. None at present (``seed`` and ``let`` became statements).
RESERVED_WORDS: frozenset[str] = frozenset()

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


def is_bare_word(text: str, *, digits: bool = False) -> bool:
    """Whether ``text`` can be written without quotes (an identifier, not a keyword).

    With ``digits=True`` a run of digits also counts (child names such as
    ``0`` in ``name 0``).
    """
    if digits and _DIGITS.match(text):
        return True
    return bool(_IDENTIFIER.match(text)) and text not in KEYWORDS and text not in RESERVED_WORDS


def _span_field() -> Any:
    return attrs.field(default=None, eq=False, repr=False)


def _nodes() -> Any:
    return attrs.field(default=(), converter=tuple)


@attrs.frozen
class Comment:
    """A ``# ...`` comment; ``text`` includes the ``#``."""

    text: str
    span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


# -- values --------------------------------------------------------------------------


@attrs.frozen
class Integer:
    """An integer literal (negative when written with ``-``)."""

    value: int
    span: Span | None = _span_field()


@attrs.frozen
class Float:
    """A floating-point literal (``0.02``, ``1e-5``, ``-0.5``)."""

    value: float
    span: Span | None = _span_field()


@attrs.frozen
class String:
    """A double-quoted string literal (JSON escapes)."""

    value: str
    span: Span | None = _span_field()


@attrs.frozen
class Identifier:
    """A bare word in value position; it means the string ``name`` (``mode=fan_out``)."""

    name: str
    span: Span | None = _span_field()


@attrs.frozen
class Boolean:
    """``true`` or ``false``."""

    value: bool
    span: Span | None = _span_field()


@attrs.frozen
class Null:
    """``none`` (Python's ``None``)."""

    span: Span | None = _span_field()


@attrs.frozen
class Expression:
    """A computed value: ``0.02 / sqrt(2 * model.config.n_layer)``.

    ``tree`` is :mod:`initdsl.core.expressions`' tree (its nodes' offsets are
    relative to ``span``'s start); a lone number, a negative number and a
    lone bare word are :class:`Integer`, :class:`Float` and :class:`Identifier`
    instead, so a policy without expressions reads as it always did.
    """

    tree: Expr
    span: Span | None = _span_field()

    @property
    def text(self) -> str:
        """The canonical text (``dict(expr=text)`` in the IR)."""
        return format_expression(self.tree)


Value = Union[Integer, Float, String, Identifier, Boolean, Null, Expression]


# -- initializer calls and loads -------------------------------------------------------


@attrs.frozen
class Arg:
    """One argument of a call: positional when ``name`` is ``None``."""

    name: str | None
    value: Value
    span: Span | None = _span_field()


@attrs.frozen
class Call:
    """An initializer with arguments: ``kaiming(mode=fan_out)``; no args means defaults."""

    name: str
    args: tuple[Arg, ...] = _nodes()
    span: Span | None = _span_field()
    name_span: Span | None = _span_field()


@attrs.frozen
class Option:
    """One ``word value`` option of a load (``prefix "backbone."``)."""

    name: str
    value: Value
    span: Span | None = _span_field()


@attrs.frozen
class Load:
    """``load "path" option*``: a Pretrained checkpoint."""

    checkpoint: String
    options: tuple[Option, ...] = _nodes()
    span: Span | None = _span_field()


# -- statements ----------------------------------------------------------------------


@attrs.frozen
class Layer:
    """One class name on the left of a layer rule."""

    name: str
    span: Span | None = _span_field()


@attrs.frozen
class LayerRule:
    """``Conv2d, Linear -> call``; ``layers == ()`` is written ``[]``.

    ``then`` are the rule's modifiers (``then zero_row(...)``), as calls.
    """

    layers: tuple[Layer, ...] = attrs.field(converter=tuple)
    init: Call = attrs.field()
    then: tuple[Call, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class NameRule:
    """``name child -> call | load``, or ``name child`` alone (reuse the parent's initializer)."""

    name: str
    target: Call | Load | None = None
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    name_span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class ParamRule:
    """``param blocks.*.attn.proj.weight -> call``: write the parameters the pattern names.

    ``pattern`` holds the dotted segments; in each, ``*`` stands for any
    characters but ``.``, and a segment ``**`` for any number of segments
    (none included). The last segment names the parameter. With ``layer``
    (written ``Linear.bias -> call``) the pattern is relative to every
    module the class matches, as a layer rule matches it.
    """

    pattern: tuple[str, ...] = attrs.field(converter=tuple)
    init: Call = attrs.field()
    layer: Layer | None = None
    then: tuple[Call, ...] = attrs.field(default=(), converter=tuple, kw_only=True)
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    pattern_span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class LoadRule:
    """A load as a statement."""

    load: Load
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class Let:
    """``let name = value``: ``name`` stands for ``value`` in the statements after it.

    It is seen by the rest of its scope and the scopes inside it; it
    compiles to nothing (its uses are replaced by its value).
    """

    name: str
    value: Value
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    name_span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class Seed:
    """``seed 1234``: the seed of fast mode's keyed generators for this policy."""

    value: int
    comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


@attrs.frozen
class Scope:
    """``scope a.b { ... }``: the statements are the init_cfg of submodule ``a.b``.

    ``open_comment`` is a comment on the ``{`` line, ``end_comments`` the
    comments after the last statement, ``trailing_comment`` one after ``}``.
    """

    path: tuple[str, ...] = attrs.field(converter=tuple)
    statements: tuple[Statement, ...] = _nodes()
    comments: tuple[Comment, ...] = _nodes()
    open_comment: Comment | None = None
    end_comments: tuple[Comment, ...] = _nodes()
    trailing_comment: Comment | None = None
    span: Span | None = _span_field()
    path_span: Span | None = _span_field()
    blank_line_before: bool = attrs.field(default=False, eq=False, repr=False)


Statement = Union[LayerRule, NameRule, ParamRule, LoadRule, Let, Seed, Scope]


@attrs.frozen
class Policy:
    """A whole policy file. ``source`` is the text it was parsed from, if any."""

    statements: tuple[Statement, ...] = _nodes()
    end_comments: tuple[Comment, ...] = _nodes()
    span: Span | None = _span_field()
    source: str | None = attrs.field(default=None, eq=False, repr=False)


def scoped_statements(statements: Iterable[Statement], path: str = ""
                      ) -> Iterator[tuple[str, Statement]]:
    """Every statement, in text order, with the path of the module it applies to.

    Scopes are entered: a statement inside ``scope a.b { ... }`` comes with
    ``"a.b"`` (``""`` is the root). Scopes nest at most
    :data:`~initdsl.language.fast_reader.MAX_SCOPE_DEPTH` deep in parsed text.
    """
    for statement in statements:
        yield path, statement
        if isinstance(statement, Scope):
            inner = ".".join([path, *statement.path] if path else statement.path)
            yield from scoped_statements(statement.statements, inner)


def value_of(node: Value) -> Any:
    """The Python value a value node stands for (an identifier is its name as a string)."""
    if isinstance(node, Identifier):
        return node.name
    if isinstance(node, Null):
        return None
    if isinstance(node, Expression):
        return {"expr": node.text}
    return node.value
