"""Lark, the reference parser: ``grammar/initdsl.lark``, its trees, its syntax errors.

The grammar file is the language reference; Lark (LALR, positions on) parses
with it directly. This module turns Lark's parse trees into
:mod:`initdsl.language.ast` nodes, and parse failures into diagnostics a
user can act on: what was expected, in words, and what was found.

:func:`read` parses a whole text (the reference the fast reader is tested
against); :class:`LarkRecovery` parses one statement at a time, for the
statements :mod:`initdsl.language.fast_reader` rejects.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from contextvars import ContextVar
from pathlib import Path

import attrs
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..core.expressions import Binary, Expr, Function, Number, Reference, Unary
from ..diagnostics import Diagnostic, Span
from . import fast_reader
from .ast import (
    Arg,
    Boolean,
    Call,
    Comment,
    Expression,
    Float,
    Identifier,
    Integer,
    Layer,
    LayerRule,
    Let,
    Load,
    LoadRule,
    NameRule,
    Null,
    Option,
    ParamRule,
    Scope,
    Seed,
    Statement,
    String,
    Value,
)

__all__ = ["grammar_text", "read", "LarkSyntaxError", "LarkRecovery"]

_COMMENTS: ContextVar[list[Token]] = ContextVar("initdsl_comments")


def grammar_text() -> str:
    """The grammar, from the installed ``initdsl.grammar`` package or the source checkout."""
    try:
        return importlib.resources.files("initdsl.grammar").joinpath("initdsl.lark").read_text(
            encoding="utf-8")
    except (ImportError, OSError, TypeError, ValueError):
        # A source checkout that was never installed: read the file in place.
        path = Path(__file__).resolve().parents[2] / "grammar" / "initdsl.lark"
        return path.read_text(encoding="utf-8")


def _collect_comment(token: Token) -> Token:
    _COMMENTS.get().append(token)
    return token


def _parse(text: str) -> tuple[Tree, list[Token]]:
    """Lark's tree for ``text`` and the comments its lexer saw.

    Every parse goes through here: the lexer callback needs a list to append
    to, and a parse without one (a probe of the state at the end of a scope)
    would raise ``LookupError`` on the first comment.
    """
    comments: list[Token] = []
    token = _COMMENTS.set(comments)
    try:
        return _parser().parse(text), comments
    finally:
        _COMMENTS.reset(token)


@functools.lru_cache(maxsize=None)
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _collect_comment},
    )


# -- public entry points ---------------------------------------------------------------


class LarkSyntaxError(Exception):
    """The first syntax error Lark finds in a text, as a diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def read(text: str, file: str) -> tuple[list[Statement], list[Comment]]:
    """Lark on the whole text: its statements and comments, or :class:`LarkSyntaxError`."""
    try:
        tree, comments = _parse(text)
    except UnexpectedInput as error:
        raise LarkSyntaxError(_syntax_diagnostic(error, text, file)) from None
    builder = _Builder(file, text=text)
    try:
        statements = [builder.statement(child) for child in _statements(tree)]
    except fast_reader.NumberOutOfRange as error:
        raise LarkSyntaxError(builder.out_of_range(error)) from None
    except _TooDeep as error:
        raise LarkSyntaxError(error.diagnostic) from None
    return statements, [builder.comment(c) for c in comments]


class _TooDeep(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class LarkRecovery(fast_reader.Recovery):
    """Lark decides each statement the fast reader rejects, parsing it alone.

    The statement is given to Lark as the only statement of a text, followed
    by what ended it, so that Lark reports exactly what it would in the
    whole file: after a scope's ``}`` is legal only inside a scope, so a
    statement that ends at ``}`` is wrapped in one. Positions are moved back
    to where the statement is in the file.
    """

    _WRAPPER = "scope _ {\n"

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def statement(self, region: fast_reader.Region) -> Statement | None:
        after = region.terminator
        if after == "#":
            # The comment, then what ends its line: as Lark sees the statement end.
            newline = region.text.find("\n", region.stop)
            after = region.text[region.stop:] if newline < 0 else \
                region.text[region.stop:newline + 1]
        return self._parse(region, after)

    def scope_header(self, region: fast_reader.Region) -> Scope | None:
        scope = self._parse(region, "{}")
        if scope is not None and not isinstance(scope, Scope):
            return None  # unreachable: only a scope header is valid before `{}`
        return scope

    def at_end_of_scope(self, tail: str) -> str:
        # Lark's words for the state the scope's body is in at the end of the text.
        text = self._WRAPPER.rstrip("\n") + tail
        try:
            _parse(text)
        except UnexpectedToken as error:
            if error.token.type == "$END":
                return _syntax_message(error, text)
        except UnexpectedInput:
            pass
        return super().at_end_of_scope(tail)

    def _parse(self, region: fast_reader.Region, after: str) -> Statement | None:
        wrapped = after == "}"
        text = (self._WRAPPER if wrapped else "") + region.source + after
        line_offset = region.line - (2 if wrapped else 1)
        column_offset = region.column - 1
        try:
            tree, _ = _parse(text)
        except UnexpectedInput as error:
            diagnostic = _syntax_diagnostic(error, text, self.file)
            self.diagnostics.append(_moved(diagnostic, line_offset, column_offset,
                                           1 + (1 if wrapped else 0)))
            return None
        builder = _Builder(self.file, line_offset, column_offset, 1 + (1 if wrapped else 0))
        children = _statements(tree)
        if wrapped:
            children = [c for c in children[0].children if isinstance(c, Tree)][1:]
        try:
            return builder.statement(children[0])
        except fast_reader.NumberOutOfRange as error:
            self.diagnostics.append(builder.out_of_range(error))
            return None


def _moved(diagnostic: Diagnostic, line_offset: int, column_offset: int, first: int
           ) -> Diagnostic:
    """``diagnostic`` with positions on line ``first`` of the parsed text moved back."""
    span = diagnostic.span
    column = span.column + column_offset if span.line == first else span.column
    end = span.end_column + column_offset if span.end_line == first else span.end_column
    moved = Span(span.file, span.line + line_offset, column, span.end_line + line_offset, end)
    return attrs.evolve(diagnostic, span=moved)


# -- parse tree → AST ------------------------------------------------------------------


def _statements(tree: Tree) -> list[Tree]:
    return [child for child in tree.children if isinstance(child, Tree)]


class _Builder:
    """Builds AST nodes from Lark trees, with spans in ``file``.

    The offsets move positions of a statement parsed alone back into its
    file: ``line_offset`` is added to every line, ``column_offset`` to the
    columns on line ``first`` (the statement's own line).
    """

    def __init__(self, file: str, line_offset: int = 0, column_offset: int = 0,
                 first: int = 1, text: str | None = None) -> None:
        self.file = file
        self.text = text  # the whole text, where scopes may nest (to place E003)
        self.line_offset = line_offset
        self.column_offset = column_offset
        self.first = first
        self.last: Span | None = None  # the span of the number being read

    def span(self, item: Tree | Token) -> Span:
        if isinstance(item, Token):
            line, column, end_line, end_column = (item.line, item.column, item.end_line,
                                                  item.end_column)
        else:
            meta = item.meta
            line, column, end_line, end_column = (meta.line, meta.column, meta.end_line,
                                                  meta.end_column)
        if self.line_offset or self.column_offset:
            if line == self.first:
                column += self.column_offset
            if end_line == self.first:
                end_column += self.column_offset
            line += self.line_offset
            end_line += self.line_offset
        return Span(self.file, line, column, end_line, end_column)

    def out_of_range(self, error: fast_reader.NumberOutOfRange) -> Diagnostic:
        """The ``E002`` diagnostic of the number :meth:`value` could not read."""
        return Diagnostic("E002", str(error), self.last)

    def comment(self, token: Token) -> Comment:
        return Comment(str(token).rstrip(), self.span(token))

    def statement(self, tree: Tree, depth: int = 0) -> Statement:
        kind = tree.data
        if kind == "layer_rule":
            targets, call, *then = tree.children
            layers = [] if targets.data == "no_layers" else [
                Layer(self.word(layer.children[0]), self.span(layer))
                for layer in targets.children
            ]
            return LayerRule(layers, self.call(call), then=self.modifiers(then),
                             span=self.span(tree))
        if kind == "name_rule":
            child, *rest = tree.children
            target: Call | Load | None = None
            if rest:
                target = self.call(rest[0]) if rest[0].data == "call" else self.load(rest[0])
            return NameRule(self.word(child.children[0]), target, span=self.span(tree),
                            name_span=self.span(child))
        if kind in ("param_rule", "class_param_rule"):
            then = [child for child in tree.children if child.data == "modifier"]
            *layer, pattern, call = tree.children[:len(tree.children) - len(then)]
            owner = Layer(self.word(layer[0].children[0]), self.span(layer[0])) if layer else None
            return ParamRule(tuple(self.segment(segment) for segment in pattern.children),
                             self.call(call), owner, then=self.modifiers(then),
                             span=self.span(tree), pattern_span=self.span(pattern))
        if kind == "load_rule":
            return LoadRule(self.load(tree.children[0]), span=self.span(tree))
        if kind == "seed":
            token = tree.children[0]
            self.last = self.span(token)
            return Seed(int(fast_reader.number(str(token), False)), span=self.span(tree))
        if kind == "let":
            name, value = tree.children
            return Let(str(name), self.value(value), span=self.span(tree),
                       name_span=self.span(name))
        if kind == "scope":
            path, *body = tree.children
            if depth >= fast_reader.MAX_SCOPE_DEPTH:
                self.too_deep(path, depth + 1)
            return Scope(
                tuple(self.word(segment.children[0]) for segment in path.children),
                [self.statement(child, depth + 1) for child in body if isinstance(child, Tree)],
                span=self.span(tree),
                path_span=self.span(path),
            )
        raise AssertionError(f"unknown statement {kind}")  # the grammar has no others

    def too_deep(self, path: Tree, depth: int) -> None:
        """Stop at a scope nested past the limit, placed at its ``{`` as the fast reader
        places it."""
        end = self.span(path)
        brace = self.text.index("{", path.meta.end_pos) if self.text is not None else None
        column = end.end_column + (brace - path.meta.end_pos if brace is not None else 0)
        raise _TooDeep(Diagnostic("E003", fast_reader.too_deep(depth),
                                  Span(self.file, end.end_line, column, end.end_line,
                                       column + 1)))

    @staticmethod
    def word(token: Token) -> str:
        return json.loads(token) if token.type == "STRING" else str(token)

    def segment(self, tree: Tree) -> str:
        """A pattern segment; a capture is kept as written, ``{i}``."""
        if tree.data == "capture":
            return "{" + str(tree.children[0]) + "}"
        return self.word(tree.children[0])

    def modifiers(self, trees: list[Tree]) -> list[Call]:
        return [self.call(tree.children[0]) for tree in trees]

    def call(self, tree: Tree) -> Call:
        name, *args = tree.children
        return Call(str(name), [self.arg(arg) for arg in args], span=self.span(tree),
                    name_span=self.span(name))

    def arg(self, tree: Tree) -> Arg:
        if tree.data == "keyword":
            name, value = tree.children
            return Arg(str(name), self.value(value), self.span(tree))
        return Arg(None, self.value(tree.children[0]), self.span(tree))

    def load(self, tree: Tree) -> Load:
        checkpoint, *options = tree.children
        return Load(
            String(json.loads(checkpoint), self.span(checkpoint)),
            [Option(str(o.children[0]), self.value(o.children[1]), self.span(o))
             for o in options],
            span=self.span(tree),
        )

    def value(self, tree: Tree) -> Value:
        span = self.span(tree)
        kind = tree.data
        if kind in _EXPRESSION_KINDS:
            return self.expression(tree, span)
        token = tree.children[0] if tree.children else None
        if kind in ("integer", "negative_integer", "float", "negative_float"):
            self.last = span
            value = fast_reader.number(str(token), kind.startswith("negative"))
            return (Integer if kind.endswith("integer") else Float)(value, span)
        if kind == "string":
            return String(json.loads(token), span)
        if kind == "identifier":
            return Identifier(str(token), span)
        if kind in ("true", "false"):
            return Boolean(kind == "true", span)
        return Null(span)


    def expression(self, tree: Tree, span: Span) -> Value:
        """An expression value; the forms of today's values stay those values (``-2``, ``x``)."""
        if tree.data == "negate" and tree.children[0].data in ("integer", "float"):
            inner = tree.children[0]
            self.last = span
            value = fast_reader.number(str(inner.children[0]), True)
            return (Integer if inner.data == "integer" else Float)(value, span)
        if tree.data == "reference" and len(tree.children) == 1:
            return Identifier(str(tree.children[0]), span)
        origin = tree.meta.start_pos
        return Expression(self.tree(tree, origin), span)

    def tree(self, tree: Tree, origin: int) -> Expr:
        """The :mod:`~initdsl.core.expressions` tree of a Lark expression tree.

        Offsets are relative to ``origin`` (an expression lies on one line).
        """
        start, end = tree.meta.start_pos - origin, tree.meta.end_pos - origin
        kind, children = tree.data, tree.children
        if kind in ("integer", "float"):
            self.last = self.span(tree)
            return Number(fast_reader.number(str(children[0]), False), start, end)
        if kind == "reference":
            index = None
            parts = [str(child) for child in children]
            if children[-1].type == "INDEX":
                index = int(parts.pop())
            return Reference(tuple(parts), index, start, end)
        if kind == "function":
            name, *args = children
            return Function(str(name), tuple(self.tree(arg, origin) for arg in args
                                             if arg is not None), start, end)
        if kind == "negate":
            return Unary("-", self.tree(children[0], origin), start, end)
        left, right = (self.tree(child, origin) for child in children)
        return Binary(_OPERATORS[kind], left, right, start, end)


_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**"}
_EXPRESSION_KINDS = frozenset({*_OPERATORS, "negate", "function", "reference"})


# -- syntax errors ---------------------------------------------------------------------

_VALUE_START = frozenset({"INT", "FLOAT", "STRING", "NAME", "-"})
_STATEMENT_START = frozenset({"NAME", "STRING", "[", "name", "param", "load", "scope", "let",
                              "seed"})
_PATTERN_SEGMENT = frozenset({"PATTERN_WORD", "STRING", "{"})
_OPERATOR = frozenset({"+", "*", "/", "**"})
_OPERAND = frozenset({"INT", "FLOAT", "NAME", "(", "-"})
_END_OF_STATEMENT = frozenset({"_NL", ";"})
_CHILD = frozenset({"NAME", "INT", "STRING"})

_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string in double quotes",
    "_NL": "a new line",
    "_THEN": "`then`",
    "$END": "end of file",
}


def _literal(name: str) -> str:
    """A terminal's spelling if it is a fixed string (``->``), else its name."""
    if name in ("$END", "_NL"):
        return name
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    return pattern.value if isinstance(pattern, PatternStr) else name


def _expected_words(expected: set[str], previous: str | None) -> list[str]:
    keys = {_literal(name) for name in expected}
    words: list[str] = []
    if _STATEMENT_START <= keys:
        words.append("a rule")
        keys -= _STATEMENT_START
    if _VALUE_START <= keys:
        words.append("a value")
        keys -= _VALUE_START | {"true", "false", "none", "("}
    elif _OPERAND <= keys:
        words.append("a number, a name or `(`")
        keys -= _OPERAND
    if _OPERATOR <= keys:
        words.append("an operator")
        keys -= _OPERATOR | {"-", ".", "[", "("}
    if previous == "name" and _CHILD <= keys:
        words.append("a child name")
        keys -= _CHILD
    if previous in ("scope", ".") and _CHILD <= keys:
        words.append("a module name")
        keys -= _CHILD
    if _PATTERN_SEGMENT <= keys:
        words.append("a parameter name or pattern")
        keys -= _PATTERN_SEGMENT
    if previous == "load" and keys == {"STRING"}:
        return ["a checkpoint path in double quotes"]
    if "NAME" in keys and previous == "->":
        words.append("an initializer name")
        keys.discard("NAME")
    ends = False
    if _END_OF_STATEMENT <= keys:
        keys -= _END_OF_STATEMENT | {"$END", "}"}
        ends = True
    for key in sorted(keys, key=lambda k: (k not in _WORDS, k)):
        words.append(_WORDS.get(key, f"`{key}`"))
    if ends:
        words.append("the end of the statement")
    return words


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _position(error: UnexpectedInput, text: str) -> tuple[int, int, int, int]:
    """``(offset, line, column, length)`` of the offending input."""
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        lines = text.split("\n")
        return len(text), len(lines), len(lines[-1]) + 1, 0
    if isinstance(error, UnexpectedToken):
        token = error.token
        return token.start_pos, token.line, token.column, max(len(token), 1)
    return error.pos_in_stream, error.line, error.column, 1


def _expected(error: UnexpectedInput) -> set[str]:
    """The terminals that could come next.

    Lark's own list comes from the LALR state before pending reductions,
    which merges contexts (after a value it would also offer the tokens that
    may follow a load option); asking the parser which tokens it really
    accepts gives the exact set.
    """
    parser = getattr(error, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except Exception:  # noqa: BLE001 - fall back to Lark's approximation
            pass
    if isinstance(error, UnexpectedCharacters):
        return set(error.allowed or ())
    return set(getattr(error, "expected", None) or ())


def _syntax_message(error: UnexpectedToken, text: str) -> str:
    """``expected ...`` — what Lark could have read where ``error`` is (no ``found`` part)."""
    offset, _, _, _ = _position(error, text)
    history = [t for t in (getattr(error, "token_history", None) or []) if t is not None]
    previous = _literal(history[-1].type) if history else _previous_token(text, offset)
    return f"expected {_join(_expected_words(_expected(error), previous))}"


def _syntax_diagnostic(error: UnexpectedInput, text: str, file: str) -> Diagnostic:
    offset, line, column, length = _position(error, text)
    history = [t for t in (getattr(error, "token_history", None) or []) if t is not None]
    previous = _literal(history[-1].type) if history else _previous_token(text, offset)
    expected = _expected(error)
    words = _expected_words(expected, previous)
    if isinstance(error, UnexpectedCharacters):
        char = text[offset]
        message = f"unexpected character `{char}`"
        if words:
            message += f"; expected {_join(words)}"
        if char == "'":
            message += " (strings use double quotes)"
    else:
        token = error.token
        if token.type == "$END":
            found = "end of file"
        elif token.type == "_NL":
            found = "end of line"
            length = 1
        else:
            found = f"`{token}`"
        message = f"expected {_join(words)}, found {found}"
        if token.type == "RBRACE" and "RBRACE" not in expected:
            message = "unmatched `}`: no scope is open here"
        elif token.type == "$END" and "RBRACE" in expected:
            opened = _unclosed_brace(text, _boundaries(text))
            if opened is not None:
                message += (f" (the scope opened on line {text.count(chr(10), 0, opened) + 1} "
                            "is not closed)")
    span = Span(file, line, column, line, column + max(length, 1))
    return Diagnostic("E001", message, span)


def _previous_token(text: str, offset: int) -> str | None:
    """The token before ``offset``, roughly (used only to word a message)."""
    before = text[:offset].rstrip(" \t\f\r")
    for literal in ("->", "name", "load", "scope", ".", "="):
        if before.endswith(literal):
            return literal
    return None


# -- unclosed scopes (for the messages of the reference parse) ------------------------

_BOUNDARIES = "\n;{}"


def _boundaries(text: str) -> list[int]:
    """Offsets of statement boundaries (new line, ``;``, braces) outside strings and comments."""
    found: list[int] = []
    in_string = in_comment = escaped = False
    for index, char in enumerate(text):
        if in_comment:
            if char == "\n":
                in_comment = False
                found.append(index)
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char in "\"\n":
                in_string = False
                if char == "\n":
                    found.append(index)
        elif char == '"':
            in_string = True
        elif char == "#":
            in_comment = True
        elif char in _BOUNDARIES:
            found.append(index)
    return found


def _unclosed_brace(text: str, marks: list[int]) -> int | None:
    stack: list[int] = []
    for mark in marks:
        if text[mark] == "{":
            stack.append(mark)
        elif text[mark] == "}" and stack:
            stack.pop()
    return stack[-1] if stack else None
