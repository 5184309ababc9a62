"""Text → syntax tree, fast: a hand-written reader for policies without syntax errors.

``grammar/initdsl.lark`` stays the definition of the language. Lark's LALR
loop runs in Python, one step per token, and builds a parse tree that
:mod:`initdsl.language.parser` then turns into AST nodes; a generated 10,000-rule policy
took seconds. This module reads the same language by recursive descent, one
method per grammar rule, and builds the AST nodes directly. It scans with one
regular expression per construct rather than per token (``std = 0.02`` is one
match), so the per-token work stays in the regex engine.

It is only a fast path. Whatever it does not accept raises :class:`Reject`,
and :func:`initdsl.language.parser.parse_recovering` hands the text to Lark, which
accepts it or reports every syntax error and recovers. So this reader must
never accept text Lark rejects and must build exactly the tree, spans
included, that Lark's path builds; ``tests/language/test_fastparse.py`` checks
both on generated text. Like Lark's contextual lexer, it treats a word as a
keyword only where the grammar accepts that keyword: ``true -> xavier`` names
a class called ``true``, ``x -> n(mode=true)`` passes a boolean.

Statements never span lines (a ``scope`` body holds whole statements), and a
comment runs to the end of its line, so a new line or a comment can only come
between statements: :meth:`_Reader.body` is the one place that handles them.
"""

from __future__ import annotations

import json
import re

from ..diagnostics import Span
from .ast import (
    Arg,
    Boolean,
    Call,
    Comment,
    Float,
    Identifier,
    Integer,
    Layer,
    LayerRule,
    Load,
    LoadRule,
    NameRule,
    Null,
    Option,
    Scope,
    Statement,
    String,
    Value,
)

__all__ = ["Reject", "read"]


class Reject(Exception):
    """The text is not one this reader accepts; Lark's parser decides and explains."""


# The grammar's terminals, spelled as in grammar/initdsl.lark.
_BLANKS = r"[ \t\f\r]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INT = r"[0-9]+"
_FLOAT = r"[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"
_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'

# Each pattern reads one construct and the blanks after it.
_SKIP = re.compile(_BLANKS)
_COMMENT = re.compile(r"#[^\n]*")
_WORD = re.compile(rf"({_NAME}){_BLANKS}")
_STRING_AT = re.compile(rf"({_STRING}){_BLANKS}")
# A layer and what must follow it: `,` and another layer, or `->` and the call.
_LAYER = re.compile(rf"(?:({_NAME})|({_STRING})){_BLANKS}(?:(,)|->){_BLANKS}")
# A child of `name`, a segment of a scope path.
_CHILD = re.compile(rf"(?:({_NAME})|({_STRING})|({_INT})){_BLANKS}")
_ARROW = re.compile(rf"->{_BLANKS}")
# An initializer's name and, if it has any, the `(` of its arguments.
_CALL = re.compile(rf"({_NAME}){_BLANKS}(\({_BLANKS})?")
# A value: the whole of it (sign included), its sign, then one group per kind.
# FLOAT is tried before INT, as Lark's lexer does where both may come.
_VALUE_GROUPS = rf"((?:(-){_BLANKS})?(?:({_FLOAT})|({_INT})|({_STRING})|({_NAME})))"
_VALUE = re.compile(rf"{_VALUE_GROUPS}{_BLANKS}")
# An argument: an optional `keyword =`, a value (groups 2-7), an optional comma.
_ARG = re.compile(rf"(?:({_NAME}){_BLANKS}={_BLANKS})?{_VALUE_GROUPS}{_BLANKS}(,{_BLANKS})?")

_VALUE_WORDS = frozenset({"true", "false", "none"})


def read(text: str, file: str) -> tuple[list[Statement], list[Comment]]:
    """The statements and the comments of ``text``, or :class:`Reject`."""
    reader = _Reader(text, file)
    statements = reader.body()
    if reader.at != len(text):
        raise Reject  # a `}` with no scope open
    return statements, reader.comments


class _Reader:
    """Recursive descent over ``text``; ``at`` is the offset of the next unread character.

    Every method leaves ``at`` after the blanks that follow what it read.
    """

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.at = 0
        self.line = 1
        self.base = -1  # offset of the current line's first character, minus one
        self.comments: list[Comment] = []

    def span(self, start: int, end: int) -> Span:
        """The span of ``text[start:end]``, which lies on the current line."""
        return Span(self.file, self.line, start - self.base, self.line, end - self.base)

    def join(self, start: int, last: Span) -> Span:
        """From offset ``start`` on the current line to the end of ``last``."""
        return Span(self.file, self.line, start - self.base, last.end_line, last.end_column)

    def expect(self, pattern: re.Pattern[str]) -> re.Match[str]:
        found = pattern.match(self.text, self.at)
        if found is None:
            raise Reject
        self.at = found.end()
        return found

    def skip(self, at: int) -> int:
        """The offset after the blanks at ``at``."""
        return _SKIP.match(self.text, at).end()

    # -- statements ------------------------------------------------------------------

    def body(self) -> list[Statement]:
        """``(_sep | statement _sep)* statement?``: stops before ``}`` or at the end."""
        text = self.text
        statements: list[Statement] = []
        separated = True  # a statement may start here
        while True:
            char = text[self.at:self.at + 1]
            if char == "\n":
                self.at += 1
                self.line += 1
                self.base = self.at - 1
                separated = True
            elif char == ";":
                self.at = self.skip(self.at + 1)
                separated = True
            elif char == "#":
                found = _COMMENT.match(text, self.at)
                self.comments.append(Comment(found.group().rstrip(),
                                             self.span(self.at, found.end())))
                self.at = found.end()
            elif char in (" ", "\t", "\f", "\r"):
                self.at = self.skip(self.at)
            elif char == "}" or not char:
                return statements
            elif separated:
                statements.append(self.statement())
                separated = False
            else:
                raise Reject

    def statement(self) -> Statement:
        word = _WORD.match(self.text, self.at)
        if word is not None:
            keyword = word.group(1)
            if keyword == "name":
                return self.name_rule(word)
            if keyword == "load":
                load = self.load(word)
                return LoadRule(load, span=load.span)
            if keyword == "scope":
                return self.scope(word)
        return self.layer_rule()

    def layer_rule(self) -> LayerRule:
        text, start = self.text, self.at
        layers: list[Layer] = []
        if text.startswith("[", start):
            self.at = self.skip(start + 1)
            if not text.startswith("]", self.at):
                raise Reject
            self.at = self.skip(self.at + 1)
            self.expect(_ARROW)
        else:
            while True:
                found = self.expect(_LAYER)
                name = found.group(1)
                if name is None:
                    layers.append(Layer(_decode(found.group(2)), self.span(*found.span(2))))
                else:
                    layers.append(Layer(name, self.span(*found.span(1))))
                if found.group(3) is None:  # `->`: the call follows
                    break
        call = self.call()
        return LayerRule(layers, call, span=self.join(start, call.span))

    def name_rule(self, keyword: re.Match[str]) -> NameRule:
        start = self.at
        self.at = keyword.end()
        name, name_span = self.child()
        end = name_span
        target: Call | Load | None = None
        if self.text.startswith("->", self.at):
            self.expect(_ARROW)
            word = _WORD.match(self.text, self.at)
            target = self.load(word) if word is not None and word.group(1) == "load" else self.call()
            end = target.span
        return NameRule(name, target, span=self.join(start, end), name_span=name_span)

    def child(self) -> tuple[str, Span]:
        """A NAME, STRING or INT: a child of ``name`` or a segment of a scope path."""
        found = self.expect(_CHILD)
        group = found.lastindex
        word = found.group(group)  # type: ignore[arg-type]
        return (_decode(word) if group == 2 else word), self.span(*found.span(group))

    def scope(self, keyword: re.Match[str]) -> Scope:
        start, line, base = self.at, self.line, self.base
        self.at = keyword.end()
        segment, first = self.child()
        segments, last = [segment], first
        while self.text.startswith(".", self.at):
            self.at = self.skip(self.at + 1)
            segment, last = self.child()
            segments.append(segment)
        path_span = Span(self.file, self.line, first.column, self.line, last.end_column)
        if not self.text.startswith("{", self.at):
            raise Reject
        self.at += 1
        statements = self.body()
        if not self.text.startswith("}", self.at):
            raise Reject  # the end of the text, with the scope still open
        self.at += 1
        span = Span(self.file, line, start - base, self.line, self.at - self.base)
        self.at = self.skip(self.at)
        return Scope(segments, statements, span=span, path_span=path_span)

    # -- calls, loads, values ------------------------------------------------------------

    def call(self) -> Call:
        # The hot path of a long policy: one match per argument, trailing
        # comma included, and positions computed in place.
        text, file, line, base = self.text, self.file, self.line, self.base
        found = self.expect(_CALL)
        name_start, end = found.span(1)
        name_span = Span(file, line, name_start - base, line, end - base)
        args: list[Arg] = []
        if found.group(2) is not None:
            at = self.at
            while not text.startswith(")", at):
                arg = _ARG.match(text, at)
                if arg is None:
                    raise Reject
                keyword, _, minus, real, integer, string, name, comma = arg.groups()
                value_start, value_end = arg.span(2)
                value = _value(minus, real, integer, string, name,
                               Span(file, line, value_start - base, line, value_end - base))
                if keyword is None:
                    args.append(Arg(None, value, value.span))
                elif keyword in _VALUE_WORDS:
                    raise Reject  # a keyword value there: `true = 1` is no argument
                else:
                    args.append(Arg(keyword, value, Span(file, line, at - base, line,
                                                         value_end - base)))
                at = arg.end()
                if comma is None and not text.startswith(")", at):
                    raise Reject
            end = at + 1
            self.at = self.skip(end)
        return Call(found.group(1), args, span=Span(file, line, name_start - base, line,
                                                    end - base), name_span=name_span)

    def load(self, keyword: re.Match[str]) -> Load:
        start = self.at
        self.at = keyword.end()
        path = self.expect(_STRING_AT)
        checkpoint = String(_decode(path.group(1)), self.span(*path.span(1)))
        end = checkpoint.span
        options: list[Option] = []
        while True:
            word = _WORD.match(self.text, self.at)
            if word is None:
                break
            self.at = word.end()
            found = self.expect(_VALUE)
            _, minus, real, integer, string, name = found.groups()
            value = _value(minus, real, integer, string, name, self.span(*found.span(1)))
            options.append(Option(word.group(1), value, self.join(word.start(), value.span)))
            end = value.span
        return Load(checkpoint, options, span=self.join(start, end))


def _value(minus: str | None, real: str | None, integer: str | None, string: str | None,
           name: str | None, span: Span) -> Value:
    """The value node for the groups of a value match: sign, FLOAT, INT, STRING, NAME."""
    try:
        if integer is not None:
            return Integer(-int(integer) if minus else int(integer), span)
        if real is not None:
            return Float(-float(real) if minus else float(real), span)
    except ValueError:
        raise Reject from None  # an integer past int()'s digit limit: Lark reports it
    if minus is not None:
        raise Reject  # `-` only negates a number
    if string is not None:
        return String(_decode(string), span)
    if name == "true" or name == "false":
        return Boolean(name == "true", span)
    if name == "none":
        return Null(span)
    return Identifier(name, span)  # type: ignore[arg-type]


def _decode(literal: str) -> str:
    """A STRING's value; JSON's escapes are the grammar's."""
    try:
        return json.loads(literal)
    except ValueError:
        raise Reject from None
