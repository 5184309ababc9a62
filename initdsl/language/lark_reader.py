"""Text → syntax tree: the Lark parser for ``grammar/initdsl.lark`` and the tree builder.

The grammar file is the language reference; this module turns Lark's parse
tree into :mod:`initdsl.language.ast` nodes, attaches comments to the nodes
they belong to, and turns parse failures into diagnostics a user can act on.

Text is read by :mod:`initdsl.language.fast_reader`. When it holds
something the fast reader does not accept, it is read again, in one pass,
with each rejected statement handed to Lark alone (:class:`_LarkRecovery`):
Lark decides whether the statement is valid and, if not, says what is
wrong with it; reading resumes at the next statement. So every syntax error
of a file is reported, with Lark's words, in time linear in its length.
:func:`parse_with_lark` is the reference the fast reader is tested against:
Lark on the whole text.
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import attrs
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..collector import no_gc
from ..diagnostics import Diagnostic, Span
from ..errors import PolicyError, PolicyFileError
from . import fast_reader
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
    Policy,
    Scope,
    Statement,
    String,
    Value,
)

__all__ = ["parse", "parse_recovering", "load", "read_policy_file", "decode_policy",
           "grammar_text", "STRING_FILENAME"]

#: The file name spans carry for policies given as text.
STRING_FILENAME = "<string>"

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


def parse(text: str, filename: str | None = None) -> Policy:
    """Parse policy ``text`` into a :class:`~initdsl.Policy`.

    ``filename`` goes into every node's span (``<string>`` if not given).
    Raises :class:`~initdsl.PolicyError` listing every syntax error. Only the
    syntax is checked here; :func:`initdsl.language.checker.check` checks the meaning.
    """
    policy, diagnostics = parse_recovering(text, filename)
    if diagnostics:
        raise PolicyError(diagnostics, text)
    return policy


def load(path: str | os.PathLike[str]) -> Policy:
    """Parse the policy file at ``path``; spans carry ``path`` as the file name.

    The file is UTF-8 (a leading byte-order mark is allowed). Raises
    :class:`~initdsl.PolicyError` on syntax errors or bytes that are not
    UTF-8, :class:`~initdsl.PolicyFileError` if the file cannot be read.
    """
    return parse(read_policy_file(path), filename=os.fspath(path))


def read_policy_file(path: str | os.PathLike[str]) -> str:
    """The text of the policy file at ``path``: UTF-8, without a leading byte-order mark.

    A file that cannot be read raises :class:`~initdsl.PolicyFileError`; one
    that is not UTF-8 raises :class:`~initdsl.PolicyError` with an ``E004``
    diagnostic at the line and column of the first bad byte.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as error:
        raise PolicyFileError(f"{name}: cannot read ({error.strerror or error})") from None
    return decode_policy(data, name)


def decode_policy(data: bytes, filename: str) -> str:
    """``data`` as policy text (see :func:`read_policy_file`)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8-sig", errors="replace")
        start = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8-sig", errors="replace")) + 1
        bad = data[start:start + 1].hex()
        diagnostic = Diagnostic(
            "E004", f"the file is not UTF-8 text: byte 0x{bad} cannot start or continue a "
            "character here (save the policy as UTF-8)",
            Span(filename, line, column, line, column + 1))
        raise PolicyError([diagnostic], text) from None


def parse_recovering(text: str, filename: str | None = None
                     ) -> tuple[Policy, list[Diagnostic]]:
    """Parse what can be parsed: the tree of the valid statements, and the syntax errors.

    Each broken statement is reported (``E001``; ``E002`` for a number out of
    range, ``E003`` for scopes nested too deep) and left out of the tree;
    parsing resumes at the next statement boundary. Every error is reported,
    in time linear in the length of the text.
    """
    file = filename if filename is not None else STRING_FILENAME
    if text.startswith("\ufeff"):
        # A byte-order mark is no part of the policy (editors write it, and
        # do not count it as a column).
        text = text[1:]
    with no_gc():
        try:
            statements, comments = fast_reader.read(text, file)
            diagnostics: list[Diagnostic] = []
        except fast_reader.Reject:
            recovery = _LarkRecovery(file)
            statements, comments = fast_reader.read(text, file, recovery)
            diagnostics = sorted(recovery.diagnostics, key=_order)
        policy = Policy(statements, span=_whole(text, file), source=text)
        return _attach_comments(policy, comments, text), diagnostics


def parse_with_lark(text: str, filename: str | None = None
                    ) -> tuple[Policy | None, Diagnostic | None]:
    """The reference parse: Lark's parser on the whole text, without recovery.

    Returns the tree (comments attached) or the first syntax error. This is
    what the fast reader is tested against; :func:`parse` uses it only
    statement by statement, for the statements the fast reader rejects.
    """
    file = filename if filename is not None else STRING_FILENAME
    comments: list[Token] = []
    token = _COMMENTS.set(comments)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        return None, _syntax_diagnostic(error, text, file)
    finally:
        _COMMENTS.reset(token)
    builder = _Builder(file)
    try:
        statements = [builder.statement(child) for child in _statements(tree)]
    except fast_reader.NumberOutOfRange as error:
        return None, builder.out_of_range(error)
    policy = Policy(statements, span=_whole(text, file), source=text)
    return _attach_comments(policy, [builder.comment(c) for c in comments], text), None


def _order(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.column) if span is not None else (0, 0)


class _LarkRecovery(fast_reader.Recovery):
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
            _parser().parse(text)
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
        comments: list[Token] = []
        token = _COMMENTS.set(comments)
        try:
            tree = _parser().parse(text)
        except UnexpectedInput as error:
            diagnostic = _syntax_diagnostic(error, text, self.file)
            self.diagnostics.append(_moved(diagnostic, line_offset, column_offset,
                                           1 + (1 if wrapped else 0)))
            return None
        finally:
            _COMMENTS.reset(token)
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


def _whole(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, 1, 1, len(lines), len(lines[-1]) + 1)


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
                 first: int = 1) -> None:
        self.file = file
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

    def statement(self, tree: Tree) -> Statement:
        kind = tree.data
        if kind == "layer_rule":
            targets, call = tree.children
            layers = [] if targets.data == "no_layers" else [
                Layer(self.word(layer.children[0]), self.span(layer))
                for layer in targets.children
            ]
            return LayerRule(layers, self.call(call), span=self.span(tree))
        if kind == "name_rule":
            child, *rest = tree.children
            target: Call | Load | None = None
            if rest:
                target = self.call(rest[0]) if rest[0].data == "call" else self.load(rest[0])
            return NameRule(self.word(child.children[0]), target, span=self.span(tree),
                            name_span=self.span(child))
        if kind == "load_rule":
            return LoadRule(self.load(tree.children[0]), span=self.span(tree))
        if kind == "scope":
            path, *body = tree.children
            return Scope(
                tuple(self.word(segment.children[0]) for segment in path.children),
                [self.statement(child) for child in body if isinstance(child, Tree)],
                span=self.span(tree),
                path_span=self.span(path),
            )
        raise AssertionError(f"unknown statement {kind}")  # the grammar has no others

    @staticmethod
    def word(token: Token) -> str:
        return json.loads(token) if token.type == "STRING" else str(token)

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


# -- comments --------------------------------------------------------------------------


def _key(span: Span, end: bool = False) -> tuple[int, int]:
    return (span.end_line, span.end_column) if end else (span.line, span.column)


def _attach_comments(policy: Policy, comments: list[Comment], text: str) -> Policy:
    """Give each comment to its node: trailing (same line), leading (own line) or end of block."""
    lines = text.split("\n")
    statements, end, _ = _attach_block(list(policy.statements), comments, lines, None)
    return Policy(statements, end, span=policy.span, source=policy.source)


def _attach_block(statements: list[Statement], comments: list[Comment], lines: list[str],
                  open_line: int | None
                  ) -> tuple[list[Statement], list[Comment], Comment | None]:
    inner: dict[int, list[Comment]] = {}
    leading: dict[int, list[Comment]] = {}
    trailing: dict[int, Comment] = {}
    end: list[Comment] = []
    opened: Comment | None = None
    # Statements are in source order and do not overlap, and a comment runs to
    # the end of its line, so only the statement starting last before a
    # comment can hold it or end on its line, and the next one may follow it.
    starts = [_key(s.span) for s in statements]
    for comment in comments:
        at = _key(comment.span)
        index = bisect.bisect_left(starts, at)
        previous = statements[index - 1] if index else None
        if (isinstance(previous, Scope)
                and _key(previous.path_span, end=True) < at < _key(previous.span, end=True)):
            inner.setdefault(index - 1, []).append(comment)
        elif (previous is not None and previous.span.end_line == comment.span.line
                and _key(previous.span, end=True) <= at):
            trailing[index - 1] = comment
        elif open_line is not None and comment.span.line == open_line:
            opened = comment
        elif index == len(statements):
            end.append(comment)
        else:
            leading.setdefault(index, []).append(comment)

    result: list[Statement] = []
    previous_line = open_line  # last line used by an earlier item of this block
    first = True

    def gap(line: int) -> bool:
        nonlocal first
        blank = not first and previous_line is not None and any(
            not lines[n - 1].strip(" \t\f\r") for n in range(previous_line + 1, line))
        first = False
        return blank

    for index, statement in enumerate(statements):
        own = []
        for comment in leading.get(index, []):
            own.append(Comment(comment.text, comment.span, gap(comment.span.line)))
            previous_line = comment.span.line
        blank = gap(statement.span.line)
        changes: dict[str, Any] = {}
        if own:
            changes["comments"] = own
        if index in trailing:
            changes["trailing_comment"] = trailing[index]
        if blank:
            changes["blank_line_before"] = True
        if isinstance(statement, Scope):
            body, body_end, body_open = _attach_block(
                list(statement.statements), inner.get(index, []), lines,
                statement.path_span.end_line)
            changes.update(statements=body, end_comments=body_end, open_comment=body_open)
        # Most statements carry nothing to attach; evolving each would dominate
        # the parse of a long generated policy.
        result.append(attrs.evolve(statement, **changes) if changes else statement)
        previous_line = statement.span.end_line
    closing: list[Comment] = []
    for comment in end:
        closing.append(Comment(comment.text, comment.span, gap(comment.span.line)))
        previous_line = comment.span.line
    return result, closing, opened


# -- syntax errors ---------------------------------------------------------------------

_VALUE_START = frozenset({"INT", "FLOAT", "STRING", "NAME", "-"})
_STATEMENT_START = frozenset({"NAME", "STRING", "[", "name", "load", "scope"})
_END_OF_STATEMENT = frozenset({"_NL", ";"})
_CHILD = frozenset({"NAME", "INT", "STRING"})

_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string in double quotes",
    "_NL": "a new line",
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
        keys -= _VALUE_START | {"true", "false", "none"}
    if previous == "name" and _CHILD <= keys:
        words.append("a child name")
        keys -= _CHILD
    if previous in ("scope", ".") and _CHILD <= keys:
        words.append("a module name")
        keys -= _CHILD
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
