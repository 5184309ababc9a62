"""Text → syntax tree: the Lark parser for ``grammar/initdsl.lark`` and the tree builder.

The grammar file is the language reference; this module only turns Lark's
parse tree into :mod:`initdsl.language.ast` nodes, attaches comments to the nodes
they belong to, and turns parse failures into diagnostics a user can act on.
After a syntax error the parser blanks out the broken statement and parses
again, so one run reports every syntax error in the file.
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

#: Stop reporting after this many syntax errors in one file.
MAX_SYNTAX_ERRORS = 50

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

    Each broken statement is reported (code ``E001``) and left out of the
    tree; parsing resumes at the next statement boundary.
    """
    file = filename if filename is not None else STRING_FILENAME
    with no_gc():
        try:
            statements, comments = fast_reader.read(text, file)
        except fast_reader.Reject:
            return _parse_with_lark(text, file)
        policy = Policy(statements, span=_whole(text, file), source=text)
        return _attach_comments(policy, comments, text), []


def _parse_with_lark(text: str, file: str) -> tuple[Policy, list[Diagnostic]]:
    """The reference parse: every syntax error, each broken statement left out."""
    diagnostics: list[Diagnostic] = []
    work = text
    tree: Tree | None = None
    comments: list[Token] = []
    for _ in range(MAX_SYNTAX_ERRORS):
        comments = []
        token = _COMMENTS.set(comments)
        try:
            tree = _parser().parse(work)
            break
        except UnexpectedInput as error:
            diagnostics.append(_syntax_diagnostic(error, work, file))
            blanked = _blank_broken_statement(work, error)
            if blanked == work:
                break
            work = blanked
        finally:
            _COMMENTS.reset(token)
    if tree is None:
        return Policy(source=text, span=_whole(text, file)), diagnostics
    builder = _Builder(file)
    statements = [builder.statement(child) for child in _statements(tree)]
    policy = Policy(statements, span=_whole(text, file), source=text)
    return _attach_comments(policy, [builder.comment(c) for c in comments], work), diagnostics


def _whole(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, 1, 1, len(lines), len(lines[-1]) + 1)


# -- parse tree → AST ------------------------------------------------------------------


def _statements(tree: Tree) -> list[Tree]:
    return [child for child in tree.children if isinstance(child, Tree)]


class _Builder:
    """Builds AST nodes from Lark trees, with spans in ``file``."""

    def __init__(self, file: str) -> None:
        self.file = file

    def span(self, item: Tree | Token) -> Span:
        if isinstance(item, Token):
            return Span(self.file, item.line, item.column, item.end_line, item.end_column)
        meta = item.meta
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

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
        if kind == "integer":
            return Integer(int(token), span)
        if kind == "negative_integer":
            return Integer(-int(token), span)
        if kind == "float":
            return Float(float(token), span)
        if kind == "negative_float":
            return Float(-float(token), span)
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


# -- recovery --------------------------------------------------------------------------

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


def _blank(text: str, start: int, stop: int) -> str:
    middle = "".join("\n" if c == "\n" else " " for c in text[start:stop])
    return text[:start] + middle + text[stop:]


def _blank_broken_statement(text: str, error: UnexpectedInput) -> str:
    """``text`` with the statement that holds the error replaced by spaces (lines kept)."""
    offset, _, _, length = _position(error, text)
    marks = _boundaries(text)
    start = max((m + 1 for m in marks if m < offset), default=0)
    stop = min((m for m in marks if m >= offset), default=len(text))
    if text[start:stop].strip():
        blanked = _blank(text, start, stop)
        if stop < len(text) and text[stop] == "{":
            # A broken scope header: drop its braces too and keep the body.
            close = _matching_brace(text, stop, marks)
            blanked = _blank(blanked, stop, stop + 1)
            if close is not None:
                blanked = _blank(blanked, close, close + 1)
        return blanked
    if offset < len(text):
        return _blank(text, offset, offset + max(length, 1))
    # End of file inside an unclosed scope: drop the innermost open brace.
    opened = _unclosed_brace(text, marks)
    if opened is not None:
        head = max((m + 1 for m in marks if m < opened), default=0)
        return _blank(text, head, opened + 1)
    return text


def _matching_brace(text: str, open_at: int, marks: list[int]) -> int | None:
    depth = 0
    for mark in marks:
        if mark < open_at:
            continue
        if text[mark] == "{":
            depth += 1
        elif text[mark] == "}":
            depth -= 1
            if depth == 0:
                return mark
    return None


def _unclosed_brace(text: str, marks: list[int]) -> int | None:
    stack: list[int] = []
    for mark in marks:
        if text[mark] == "{":
            stack.append(mark)
        elif text[mark] == "}" and stack:
            stack.pop()
    return stack[-1] if stack else None
