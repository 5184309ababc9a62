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

With a :class:`Recovery`, the reader reads text *with* errors in one pass:
each statement it does not accept is handed, alone, to the recovery (which
asks Lark: Lark decides what the statement is or says what is wrong with it),
and reading resumes at the next statement boundary. So reporting every
error of a file costs one pass over it plus a parse of each broken
statement, whatever their number. The reader itself reports what only the
block structure shows: a ``}`` with no scope open, a scope not closed at the
end of the file, scopes nested deeper than :data:`MAX_SCOPE_DEPTH`, and text
right after a scope's ``}``.
"""

from __future__ import annotations

import json
import re

import attrs

from ..core.expressions import (
    ExpressionError,
    Number,
    Reference,
    Unary,
    parse_prefix,
    rebased,
)
from ..diagnostics import Diagnostic, Span
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

__all__ = ["Reject", "Recovery", "Region", "read", "MAX_SCOPE_DEPTH", "number",
           "NumberOutOfRange", "too_deep"]

#: How deep scopes may nest (``E003`` beyond): real policies nest a few levels,
#: and every stage that walks the tree may recurse once per level.
MAX_SCOPE_DEPTH = 100

#: The longest integer literal read (Python's own limit on converting digits).
MAX_INTEGER_DIGITS = 4300


class Reject(Exception):
    """The text is not one this reader accepts; Lark's parser decides and explains."""


class NumberOutOfRange(ValueError):
    """A number literal initdsl cannot represent; ``str()`` says why (``E002``)."""


def number(token: str, negative: bool) -> int | float:
    """The value of an INT or FLOAT token (negated if ``negative``).

    Raises :class:`NumberOutOfRange` for an integer of more than
    :data:`MAX_INTEGER_DIGITS` digits, and for a float that overflows to
    infinity or a non-zero one that underflows to zero.
    """
    if token.isdigit():
        if len(token) > MAX_INTEGER_DIGITS:
            raise NumberOutOfRange(
                f"an integer of {len(token):,} digits is out of range (at most "
                f"{MAX_INTEGER_DIGITS:,} digits; torch itself takes integers below 2**64)")
        value: int | float = int(token)
    else:
        value = float(token)
        if value == float("inf"):
            raise NumberOutOfRange(
                f"{token} is out of range: it is larger than the largest float "
                "(about 1.8e308); numbers must be finite")
        mantissa = token.lower().partition("e")[0]
        if value == 0.0 and mantissa.strip("0.") != "":
            raise NumberOutOfRange(
                f"{token} is out of range: it is smaller than the smallest float "
                "(about 5e-324) and would be read as 0")
    return -value if negative else value


def too_deep(depth: int) -> str:
    """The ``E003`` message for a scope opened at ``depth`` (past :data:`MAX_SCOPE_DEPTH`)."""
    return (f"scopes nest at most {MAX_SCOPE_DEPTH} deep, and this one would be number "
            f"{depth}; name a deep module with one dotted path (`scope a.b.c {{ ... }}`) "
            "instead of nesting")


@attrs.frozen
class Region:
    """A statement the reader did not accept: ``text[start:stop]``, on one line.

    ``terminator`` is what ends it: ``"\\n"``, ``";"``, ``"}"`` (the end of the
    scope it is in), ``"{"`` (it is a scope header), ``"#"`` (a comment
    follows) or ``""`` (the end of the text). ``line`` and ``column`` are the
    position of ``start``; ``depth`` is how many scopes are open around it.
    """

    text: str
    start: int
    stop: int
    terminator: str
    line: int
    column: int
    depth: int

    @property
    def source(self) -> str:
        return self.text[self.start:self.stop]


class Recovery:
    """What the reader asks about a statement it does not accept, and where findings go.

    :mod:`initdsl.language.parser` implements it with Lark; this base class
    rejects everything.
    """

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def statement(self, region: Region) -> Statement | None:
        """The statement Lark reads in ``region``, or ``None`` after reporting why not."""
        return None

    def scope_header(self, region: Region) -> Scope | None:
        """The scope ``region`` opens (without its body), or ``None`` after reporting why not."""
        return None

    def at_end_of_scope(self, tail: str) -> str:
        """What a scope whose body ends with ``tail`` expects at the end of the text."""
        return "expected `}`"


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
_CLASS_PATTERN = r"[A-Za-z0-9_]*\*[A-Za-z0-9_*]*"
_LAYER = re.compile(rf"(?:({_CLASS_PATTERN}|{_NAME})|({_STRING})){_BLANKS}(?:(,)|->){_BLANKS}")
# A child of `name`, a segment of a scope path.
_CHILD = re.compile(rf"(?:({_NAME})|({_STRING})|({_INT})){_BLANKS}")
_ARROW = re.compile(rf"->{_BLANKS}")
# A class and the `.` of `Linear.bias -> ...`.
_CLASS_DOT = re.compile(rf"(?:({_CLASS_PATTERN}|{_NAME})|({_STRING})){_BLANKS}\.{_BLANKS}")
# A segment of a parameter pattern: names, digits and `*`, or a string.
_PATTERN_SEGMENT = re.compile(
    rf"(?:([A-Za-z0-9_*]+)|({_STRING})|(\{{{_BLANKS}({_NAME}){_BLANKS}\}})){_BLANKS}")
# The value of `seed`: an INT (a FLOAT is no seed; Lark says so).
_SEED_VALUE = re.compile(rf"({_INT})(?![0-9.eE]){_BLANKS}")
# `name =` of a keyword argument or a let.
_KEYWORD = re.compile(rf"({_NAME}){_BLANKS}={_BLANKS}")
_VALUE_WORD_AT = re.compile(r"(?:true|false|none)(?![A-Za-z0-9_])")
# An initializer's name and, if it has any, the `(` of its arguments.
_CALL = re.compile(rf"({_NAME}){_BLANKS}(\({_BLANKS})?")
# A value: the whole of it (sign included), its sign, then one group per kind.
# FLOAT is tried before INT, as Lark's lexer does where both may come.
_VALUE_GROUPS = rf"((?:(-){_BLANKS})?(?:({_FLOAT})|({_INT})|({_STRING})|({_NAME})))"
_VALUE = re.compile(rf"{_VALUE_GROUPS}{_BLANKS}")
# An argument: an optional `keyword =`, a value (groups 2-7), an optional comma.
_ARG = re.compile(rf"(?:({_NAME}){_BLANKS}={_BLANKS})?{_VALUE_GROUPS}{_BLANKS}(,{_BLANKS})?")

_VALUE_WORDS = frozenset({"true", "false", "none"})
_INFINITY = float("inf")


def read(text: str, file: str, recovery: Recovery | None = None
         ) -> tuple[list[Statement], list[Comment]]:
    """The statements and the comments of ``text``.

    Without ``recovery``, text with anything this reader does not accept
    raises :class:`Reject`. With it, the statements it does not accept are
    left out (or replaced by what ``recovery`` reads in them), every finding
    goes to ``recovery.diagnostics``, and nothing is raised.
    """
    reader = _Reader(text, file, recovery)
    statements = reader.body()
    while reader.at != len(text):  # a `}` with no scope open
        if recovery is None:
            raise Reject
        reader.report("E001", "unmatched `}`: no scope is open here",
                      reader.span(reader.at, reader.at + 1))
        reader.at = reader.skip(reader.at + 1)
        statements.extend(reader.body())
    return statements, reader.comments


class _Reader:
    """Recursive descent over ``text``; ``at`` is the offset of the next unread character.

    Every method leaves ``at`` after the blanks that follow what it read.
    """

    def __init__(self, text: str, file: str, recovery: Recovery | None = None) -> None:
        self.text = text
        self.file = file
        self.recovery = recovery
        self.at = 0
        self.line = 1
        self.base = -1  # offset of the current line's first character, minus one
        self.depth = 0  # scopes open around the statement being read
        self.last_item = 0  # where the last statement or separator of the body started
        self.unclosed_reported = False
        self.comments: list[Comment] = []

    def report(self, code: str, message: str, span: Span) -> None:
        assert self.recovery is not None
        self.recovery.diagnostics.append(Diagnostic(code, message, span))

    def advance(self, offset: int) -> None:
        """Move to ``offset``, counting the new lines passed."""
        newline = self.text.rfind("\n", self.at, offset)
        if newline >= 0:
            self.line += self.text.count("\n", self.at, offset)
            self.base = newline
        self.at = offset

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
        start = 0  # where the last statement started
        braced = False  # whether it ended with a `}`
        while True:
            char = text[self.at:self.at + 1]
            if char == "\n":
                self.last_item = self.at
                self.at += 1
                self.line += 1
                self.base = self.at - 1
                separated = True
            elif char == ";":
                self.last_item = self.at
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
                start = self.last_item = self.at
                if self.recovery is None:
                    statements.append(self.statement())
                else:
                    braced = self.recovering_statement(statements)
                separated = False
            elif self.recovery is None:
                raise Reject
            elif braced:
                # Text right after a scope's `}` on the same line.
                self.unseparated()
            else:
                # The statement went on where it should have ended (`A -> b c`):
                # read all of it again, as one broken statement.
                if statements and statements[-1].span is not None \
                        and (statements[-1].span.line, statements[-1].span.column) \
                        == (self.line, start - self.base):
                    statements.pop()
                self.at = start
                # What it read may end with a block (`A -> b {} c`): text after
                # that block is then unseparated, not this statement again.
                braced = self.recovering_statement(statements, broken=True)

    def recovering_statement(self, statements: list[Statement], broken: bool = False) -> bool:
        """Read one statement; if this reader rejects it, ask the recovery about it.

        Returns whether the statement was a braced block (it ended with ``}``).
        """
        start, line, base, comments = self.at, self.line, self.base, len(self.comments)
        if not broken:
            try:
                statement = self.statement()
            except Reject:
                pass
            else:
                if statement is not None:
                    statements.append(statement)
                return statement is None or isinstance(statement, Scope)
        self.at, self.line, self.base = start, line, base
        del self.comments[comments:]
        stop, terminator = _boundary(self.text, start)
        region = Region(self.text, start, stop, terminator, line, start - base, self.depth)
        if terminator == "{":
            self.at = stop
            scope = self.recovery.scope_header(region)
            body = self.scope_body(start, line, base)
            if scope is not None and body is not None:
                statements.append(attrs.evolve(scope, statements=body[0], span=body[1]))
            elif body is not None:
                statements.extend(body[0])  # a broken header: keep its body
            return True
        statement = self.recovery.statement(region)
        if statement is not None:
            statements.append(statement)
        self.at = stop
        return False

    def unseparated(self) -> None:
        """Report text that follows a scope's ``}`` without a new line or ``;``, and skip it."""
        found = _TOKEN.match(self.text, self.at)
        token = found.group() if found else self.text[self.at]
        self.report("E001", f"expected the end of the statement, found `{token}`",
                    self.span(self.at, self.at + max(len(token), 1)))
        stop, terminator = _boundary(self.text, self.at)
        if terminator == "{":
            # A block is skipped whole, `}` included; stopping at its `{` would
            # leave the reader where it was, reporting the same token forever.
            stop = _matching_brace(self.text, stop)
            if self.text.startswith("}", stop):
                stop += 1
        self.advance(stop)

    def statement(self) -> Statement:
        word = _WORD.match(self.text, self.at)
        if word is not None and self.text.startswith("*", word.end(1)):
            word = None  # `name*Norm`: a class-name pattern (Lark's longest token), no keyword
        if word is not None:
            keyword = word.group(1)
            if keyword == "name":
                return self.name_rule(word)
            if keyword == "load":
                load = self.load(word)
                return LoadRule(load, span=load.span)
            if keyword == "scope":
                return self.scope(word)
            if keyword == "param":
                return self.param_rule(word)
            if keyword == "let":
                return self.let(word)
            if keyword == "seed":
                return self.seed(word)
        owner = _CLASS_DOT.match(self.text, self.at)
        if owner is not None:
            return self.class_param_rule(owner)
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
        then, end = self.modifiers(call.span)
        return LayerRule(layers, call, then=then, span=self.join(start, end))

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

    def param_rule(self, keyword: re.Match[str]) -> ParamRule:
        start = self.at
        self.at = keyword.end()
        return self.pattern_rule(start, None)

    def class_param_rule(self, found: re.Match[str]) -> ParamRule:
        """``Linear.bias -> call``: ``found`` matched the class and its ``.``."""
        start = self.at
        name = found.group(1)
        if name is None:
            layer = Layer(_decode(found.group(2)), self.span(*found.span(2)))
        else:
            layer = Layer(name, self.span(*found.span(1)))
        self.at = found.end()
        return self.pattern_rule(start, layer)

    def pattern_rule(self, start: int, layer: Layer | None) -> ParamRule:
        segments: list[str] = []
        first = last = None
        while True:
            found = self.expect(_PATTERN_SEGMENT)
            word = found.group(1)
            if word is not None:
                segments.append(word)
            elif found.group(2) is not None:
                segments.append(_decode(found.group(2)))
            else:
                segments.append("{" + found.group(4) + "}")
            last = self.span(*found.span(found.lastindex))  # type: ignore[arg-type]
            first = first or last
            if not self.text.startswith(".", self.at):
                break
            self.at = self.skip(self.at + 1)
        self.expect(_ARROW)
        call = self.call()
        then, end = self.modifiers(call.span)
        pattern_span = Span(self.file, first.line, first.column, last.end_line, last.end_column)
        return ParamRule(segments, call, layer, then=then, span=self.join(start, end),
                         pattern_span=pattern_span)

    def modifiers(self, end: Span) -> tuple[list[Call], Span]:
        """The ``then call`` modifiers after a rule's call, and where the rule ends."""
        then: list[Call] = []
        while True:
            word = _WORD.match(self.text, self.at)
            if word is None or word.group(1) != "then":
                return then, end
            self.at = word.end()
            call = self.call()
            then.append(call)
            end = call.span

    def seed(self, keyword: re.Match[str]) -> Seed:
        start = self.at
        self.at = keyword.end()
        found = self.expect(_SEED_VALUE)
        digits = found.group(1)
        if len(digits) > MAX_INTEGER_DIGITS:
            raise Reject  # the recovery reports it (E002)
        return Seed(int(digits), span=self.span(start, found.end(1)))

    def let(self, keyword: re.Match[str]) -> Let:
        start = self.at
        self.at = keyword.end()
        found = self.expect(_KEYWORD)
        value, end = self.value(self.at)
        self.at = self.skip(end)
        return Let(found.group(1), value, span=self.span(start, end),
                   name_span=self.span(*found.span(1)))

    def value(self, start: int) -> tuple[Value, int]:
        """The value at ``start`` (an expression, or a literal) and the offset after it."""
        text = self.text
        if _VALUE_WORD_AT.match(text, start):
            found = _VALUE.match(text, start)
            if found is None:
                raise Reject
            _, minus, real, integer, string, name = found.groups()
            end = found.end(1)
            return _value(minus, real, integer, string, name, self.span(start, end)), end
        if text.startswith('"', start):
            found = self.expect_at(_STRING_AT, start)
            return String(_decode(found.group(1)), self.span(*found.span(1))), found.end(1)
        try:
            tree, end = parse_prefix(text, start)
        except ExpressionError:
            raise Reject from None  # Lark reports it
        span = self.span(start + tree.start, start + tree.end)
        if isinstance(tree, Unary) and isinstance(tree.operand, Number):
            # `-2` (and `-(2)`) is the literal -2, as in Lark's reader.
            span = self.span(start, end)
            literal = text[start + tree.operand.start:start + tree.operand.end]
            return _value("-", literal if not literal.isdigit() else None,
                          literal if literal.isdigit() else None, None, None, span), end
        if isinstance(tree, Number):
            literal = text[start + tree.start:start + tree.end]
            return _value(None, literal if not literal.isdigit() else None,
                          literal if literal.isdigit() else None, None, None, span), end
        if isinstance(tree, Reference) and len(tree.parts) == 1 and tree.index is None:
            return Identifier(tree.parts[0], span), end
        # Offsets from the expression's own start, as Lark's reader has them.
        return Expression(rebased(tree, tree.start), span), end

    def expect_at(self, pattern: re.Pattern[str], at: int) -> re.Match[str]:
        found = pattern.match(self.text, at)
        if found is None:
            raise Reject
        return found

    def child(self) -> tuple[str, Span]:
        """A NAME, STRING or INT: a child of ``name`` or a segment of a scope path."""
        found = self.expect(_CHILD)
        group = found.lastindex
        word = found.group(group)  # type: ignore[arg-type]
        return (_decode(word) if group == 2 else word), self.span(*found.span(group))

    def scope(self, keyword: re.Match[str]) -> Scope | None:
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
        body = self.scope_body(start, line, base)
        if body is None:
            return None
        return Scope(segments, body[0], span=body[1], path_span=path_span)

    def scope_body(self, start: int, line: int, base: int
                   ) -> tuple[list[Statement], Span] | None:
        """From the ``{`` at ``at``: the statements up to the matching ``}``, and the span of
        the whole scope from ``start`` (``None``: too deep, skipped)."""
        opened = self.at
        if self.depth >= MAX_SCOPE_DEPTH:
            if self.recovery is None:
                raise Reject
            self.report("E003", too_deep(self.depth + 1), self.span(opened, opened + 1))
            self.advance(_matching_brace(self.text, opened))
            if self.text.startswith("}", self.at):
                self.at = self.skip(self.at + 1)
            return None
        self.at += 1
        self.last_item = self.at
        self.depth += 1
        try:
            statements = self.body()
        finally:
            self.depth -= 1
        if not self.text.startswith("}", self.at):
            # The end of the text, with the scope still open.
            if self.recovery is None:
                raise Reject
            if not self.unclosed_reported:
                self.unclosed_reported = True
                around = self.depth
                also = (f"; so {'is' if around == 1 else 'are'} the {around} scope"
                        f"{'' if around == 1 else 's'} around it" if around else "")
                end = len(self.text)
                column = end - self.text.rfind("\n", 0, end)
                expected = self.recovery.at_end_of_scope(self.text[self.last_item:])
                self.report("E001", f"{expected}, found end of file (the scope opened on "
                            f"line {line} is not closed{also})",
                            Span(self.file, self.line, column, self.line, column + 1))
            span = Span(self.file, line, start - base, self.line, self.at - self.base)
            return statements, span
        self.at += 1
        span = Span(self.file, line, start - base, self.line, self.at - self.base)
        self.at = self.skip(self.at)
        return statements, span

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
                if arg is None or (arg.group(8) is None and not text.startswith(")", arg.end())
                                   ) or (arg.group(3) is not None and arg.group(7) is not None):
                    # Not one literal and a `,` or `)`: an expression.
                    at = self.computed_arg(at, args)
                    continue
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

    def computed_arg(self, at: int, args: list[Arg]) -> int:
        """Read the argument at ``at`` whose value is an expression; the offset after it."""
        text = self.text
        keyword = _KEYWORD.match(text, at)
        if keyword is not None and keyword.group(1) in _VALUE_WORDS:
            raise Reject
        value_start = at if keyword is None else keyword.end()
        value, end = self.value(value_start)
        args.append(Arg(None if keyword is None else keyword.group(1), value,
                        self.span(at, end)))
        after = self.skip(end)
        if text.startswith(",", after):
            return self.skip(after + 1)
        if not text.startswith(")", after):
            raise Reject
        return after

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
    # The common cases inline (a policy is mostly numbers); number() decides the rest.
    if integer is not None:
        if len(integer) > MAX_INTEGER_DIGITS:
            raise Reject  # the recovery reports it (E002)
        return Integer(-int(integer) if minus else int(integer), span)
    if real is not None:
        value = float(real)
        if value == _INFINITY or value == 0.0:
            try:
                value = number(real, False)
            except NumberOutOfRange:
                raise Reject from None  # the recovery reports it (E002)
        return Float(-value if minus else value, span)
    if minus is not None:
        raise Reject  # `-` only negates a number
    if string is not None:
        return String(_decode(string), span)
    if name == "true" or name == "false":
        return Boolean(name == "true", span)
    if name == "none":
        return Null(span)
    return Identifier(name, span)  # type: ignore[arg-type]


# One token, as a message quotes what was found: a word, a number, a string or a character.
_TOKEN = re.compile(rf"{_NAME}|{_FLOAT}|{_INT}|{_STRING}|->|\S")


def _boundary(text: str, start: int) -> tuple[int, str]:
    """``(offset, terminator)`` of the end of the statement starting at ``start``: the next
    new line, ``;``, ``{``, ``}`` or ``#`` outside a string (``""`` at the end of the text)."""
    at, end = start, len(text)
    while at < end:
        char = text[at]
        if char == '"':
            at += 1
            while at < end and text[at] not in '"\n':
                at += 2 if text[at] == "\\" else 1
            if at < end and text[at] == '"':
                at += 1
            continue
        if char == "{":
            capture = _capture_end(text, at)
            if capture:
                at = capture
                continue
        if char in "\n;{}#":
            return at, char
        at += 1
    return end, ""


_BEFORE_CAPTURE = re.compile(rf"(?:\.|(?<![A-Za-z0-9_])param){_BLANKS}\Z")


def _capture_end(text: str, at: int) -> int:
    """Where the pattern capture whose ``{`` is at ``at`` ends (0: the ``{`` opens a scope).

    A capture follows the `.` of a pattern or `param`; a scope's `{` follows
    its path. An unclosed one runs to the end of the line, so that the
    statement is read (and its error reported) whole.
    """
    if not _BEFORE_CAPTURE.search(text, max(0, at - 16), at):
        return 0
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    close = text.find("}", at, line_end)
    return close + 1 if close >= 0 else at + 1


def _matching_brace(text: str, opened: int) -> int:
    """The offset of the ``}`` that closes the ``{`` at ``opened`` (the end if none)."""
    depth, at = 0, opened
    while True:
        stop, char = _boundary(text, at)
        if not char:
            return stop
        if char == "#":
            newline = text.find("\n", stop)
            at = len(text) if newline < 0 else newline
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return stop
        at = stop + 1


def _decode(literal: str) -> str:
    """A STRING's value; JSON's escapes are the grammar's."""
    try:
        return json.loads(literal)
    except ValueError:
        raise Reject from None
