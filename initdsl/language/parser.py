"""Text → syntax tree: the entry points of the policy language's readers.

``grammar/initdsl.lark`` defines the language. Text is read by
:mod:`initdsl.language.fast_reader`; when it holds something that reader
does not accept, it is read again, in one pass, with each rejected
statement handed to Lark alone (:mod:`initdsl.language.lark_reader`): Lark
decides whether the statement is valid and, if not, says what is wrong with
it; reading resumes at the next statement. So every syntax error of a file
is reported, in Lark's words, in time linear in its length, and text
without errors never imports Lark at all. This module also attaches each
comment to the node it belongs to, and reads policy files.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Any

import attrs

from ..collector import no_gc
from ..diagnostics import Diagnostic, Span
from ..errors import PolicyError, PolicyFileError
from . import fast_reader
from .ast import Comment, Policy, Scope, Statement

__all__ = ["parse", "parse_recovering", "parse_with_lark", "load", "read_policy_file",
           "decode_policy", "STRING_FILENAME"]

#: The file name spans carry for policies given as text.
STRING_FILENAME = "<string>"


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
    """The text of the policy file at ``path``, which is UTF-8.

    A leading byte-order mark is kept in the text (the parser skips it, and
    the formatter writes it back).

    A file that cannot be read raises :class:`~initdsl.PolicyFileError`; one
    that is not UTF-8 raises :class:`~initdsl.PolicyError` with an ``E004``
    diagnostic at the line and column of the first bad byte.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise PolicyFileError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise PolicyFileError(f"{name}: is a directory, not a policy file") from None
    except OSError as error:
        raise PolicyFileError(f"{name}: cannot read ({error.strerror or error})") from None
    return decode_policy(data, name)


def decode_policy(data: bytes, filename: str) -> str:
    """``data`` as policy text (see :func:`read_policy_file`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        start = error.start
        line = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        # Only the file's own byte-order mark takes no column; a U+FEFF that
        # starts a later line is a character like any other.
        codec = "utf-8-sig" if line_start == 0 else "utf-8"
        column = len(data[line_start:start].decode(codec, errors="replace")) + 1
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
        recovery = _Recovery(file)
        statements, comments = fast_reader.read(text, file, recovery)
        policy = Policy(statements, span=_whole(text, file), source=text)
        return _attach_comments(policy, comments, text), sorted(recovery.diagnostics,
                                                                key=_order)


class _Recovery(fast_reader.Recovery):
    """Lark's recovery (:class:`~initdsl.language.lark_reader.LarkRecovery`), made only when
    the fast reader first rejects a statement: text without errors never imports Lark."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file
        self._lark: fast_reader.Recovery | None = None

    def lark(self) -> fast_reader.Recovery:
        if self._lark is None:
            from .lark_reader import LarkRecovery

            self._lark = LarkRecovery(self.file)
            self._lark.diagnostics = self.diagnostics  # one list of findings
        return self._lark

    def statement(self, region: fast_reader.Region) -> Statement | None:
        return self.lark().statement(region)

    def scope_header(self, region: fast_reader.Region) -> Scope | None:
        return self.lark().scope_header(region)

    def at_end_of_scope(self, tail: str) -> str:
        return self.lark().at_end_of_scope(tail)


def parse_with_lark(text: str, filename: str | None = None
                    ) -> tuple[Policy | None, Diagnostic | None]:
    """The reference parse: Lark's parser on the whole text, without recovery.

    Returns the tree (comments attached) or the first syntax error. This is
    what the fast reader is tested against; :func:`parse` uses Lark only
    statement by statement, for the statements the fast reader rejects.
    """
    from .lark_reader import LarkSyntaxError, read

    file = filename if filename is not None else STRING_FILENAME
    text = text.removeprefix("\ufeff")  # as parse_recovering reads it
    try:
        statements, comments = read(text, file)
    except LarkSyntaxError as error:
        return None, error.diagnostic
    policy = Policy(statements, span=_whole(text, file), source=text)
    return _attach_comments(policy, comments, text), None


def _order(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.column) if span is not None else (0, 0)


def _whole(text: str, file: str) -> Span:
    lines = text.split("\n")
    return Span(file, 1, 1, len(lines), len(lines[-1]) + 1)


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
