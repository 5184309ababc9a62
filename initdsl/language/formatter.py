"""Syntax tree → canonical text: the formatter and generator.

Every node can be printed back (:func:`generate`), sqlglot-style, and
:func:`format` is ``generate(parse(text))``. The canonical layout:

* one statement per line (``;`` becomes a new line), scopes indented by four
  spaces, ``scope a {}`` for an empty scope;
* single spaces around ``->`` and after commas, no spaces inside
  parentheses or around ``=``; a call without arguments has no parentheses;
* numbers in Python's shortest round-trip spelling (``1e-05``), strings in
  double quotes, names quoted only when they must be;
* comments kept where they were (leading, trailing after two spaces, or at
  the end of a block); runs of blank lines collapse to one, and blank lines
  at the start of a block are dropped.

Formatting is idempotent and preserves meaning: ``parse(format(t)) ==
parse(t)``.
"""

from __future__ import annotations

import json
import math
import re

from ..errors import InitTypeError, InitValueError
from .ast import (
    VALUE_WORDS,
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
    Policy,
    Scope,
    Seed,
    Statement,
    String,
    is_bare_word,
)
from .fast_reader import MAX_INTEGER_DIGITS
from .parser import parse

__all__ = ["format", "generate"]

INDENT = "    "

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOAD = frozenset({"load"})


def format(source: str | Policy, filename: str | None = None) -> str:  # noqa: A001
    """The canonical text of a policy (given as text or as a parsed :class:`~initdsl.Policy`).

    Text keeps its line endings (``\\r\\n`` if its first line ends so) and a
    leading byte-order mark. Raises :class:`~initdsl.PolicyError` if
    ``source`` is text with syntax errors.
    """
    if not isinstance(source, str):
        return generate(source)
    text = generate(parse(source, filename))
    first = source.find("\n")
    if first > 0 and source[first - 1] == "\r":
        text = text.replace("\n", "\r\n")
    return "\ufeff" + text if source.startswith("\ufeff") else text


def generate(node: object) -> str:
    """The text of any syntax-tree node (a whole policy ends with a new line)."""
    if isinstance(node, Policy):
        lines = _block(node.statements, node.end_comments, 0)
        return "".join(line + "\n" for line in lines)
    if isinstance(node, (LayerRule, NameRule, ParamRule, LoadRule, Let, Seed, Scope)):
        return "\n".join(_statement(node, 0))
    generator = _INLINE.get(type(node))
    if generator is None:
        raise InitTypeError(f"not a policy syntax node: {node!r}")
    return generator(node)


# -- inline nodes ------------------------------------------------------------------------


def _quoted(text: str) -> str:
    # JSON's escapes, with every character written as itself except those no
    # UTF-8 file can hold (lone surrogates, from a "\\ud800" escape).
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _word(text: str, *, digits: bool = False) -> str:
    return text if is_bare_word(text, digits=digits) else _quoted(text)


def _identifier(text: str, what: str, keywords: frozenset[str] = frozenset()) -> str:
    """``text`` as a bare name; ``keywords`` are the words that would read as keywords here.

    Lark's lexer is contextual: a keyword is a keyword only where the grammar
    accepts it, so ``Linear -> name`` calls an initializer called ``name``.
    """
    if not _IDENTIFIER.match(text) or text in keywords:
        raise InitValueError(f"{what} {text!r} cannot be written in a policy: it must be an "
                             "identifier" + (f" other than {', '.join(sorted(keywords))}"
                                             if keywords else ""))
    return text


def _integer(node: Integer) -> str:
    try:
        return str(node.value)
    except ValueError:  # more digits than Python converts (E002 where it is read)
        raise InitValueError(f"an integer of more than {MAX_INTEGER_DIGITS:,} digits cannot be "
                             "written in a policy") from None


def _float(node: Float) -> str:
    if not math.isfinite(node.value):
        raise InitValueError(f"{node.value!r} cannot be written in a policy (only finite "
                             "numbers)")
    return repr(float(node.value))


def _string(node: String) -> str:
    return _quoted(node.value)


def _identifier_value(node: Identifier) -> str:
    # A value word is read as true/false/none there; any other identifier is itself.
    if _IDENTIFIER.match(node.name) and node.name not in VALUE_WORDS:
        return node.name
    return _quoted(node.name)


def _boolean(node: Boolean) -> str:
    return "true" if node.value else "false"


def _null(node: Null) -> str:
    return "none"


def _expression(node: Expression) -> str:
    text = node.text
    # At the start of a value `true`, `false` and `none` are keywords: a
    # reference called so is written in parentheses there.
    first = _FIRST_WORD.match(text)
    if first is not None and first.group(1) in VALUE_WORDS:
        return f"({first.group(1)}){text[first.end(1):]}"
    return text


_FIRST_WORD = re.compile(r"-*([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_(])")


def _arg(node: Arg) -> str:
    value = generate(node.value)
    if node.name is None:
        return value
    return f"{_identifier(node.name, 'argument name', VALUE_WORDS)}={value}"


def _call(node: Call, keywords: frozenset[str] = frozenset()) -> str:
    name = _identifier(node.name, "initializer name", keywords)
    if not node.args:
        return name
    return f"{name}({', '.join(_arg(arg) for arg in node.args)})"


def _option(node: Option) -> str:
    return f"{_identifier(node.name, 'load option')} {generate(node.value)}"


def _load(node: Load) -> str:
    return " ".join(["load", _quoted(node.checkpoint.value), *(_option(o) for o in node.options)])


def _layer(node: Layer) -> str:
    return node.name if _CLASS_PATTERN.match(node.name) else _word(node.name)


_CLASS_PATTERN = re.compile(r"[A-Za-z0-9_]*\*[A-Za-z0-9_*]*\Z")


def _comment(node: Comment) -> str:
    return node.text


_INLINE = {
    Integer: _integer,
    Float: _float,
    String: _string,
    Identifier: _identifier_value,
    Boolean: _boolean,
    Null: _null,
    Expression: _expression,
    Arg: _arg,
    Call: _call,
    Option: _option,
    Load: _load,
    Layer: _layer,
    Comment: _comment,
}


# -- statements and blocks ----------------------------------------------------------------


def _with_trailing(text: str, comment: Comment | None) -> str:
    return f"{text}  {comment.text}" if comment is not None else text


def _head(node: Statement) -> str:
    if isinstance(node, LayerRule):
        layers = ", ".join(_layer(layer) for layer in node.layers) if node.layers else "[]"
        return f"{layers} -> {_call(node.init)}{_then(node.then)}"
    if isinstance(node, NameRule):
        text = f"name {_word(node.name, digits=True)}"
        if isinstance(node.target, Call):
            # `load` after a name rule's `->` starts a load.
            text += f" -> {_call(node.target, _LOAD)}"
        elif node.target is not None:
            text += f" -> {_load(node.target)}"
        return text
    if isinstance(node, ParamRule):
        pattern = ".".join(_segment(segment) for segment in node.pattern)
        if node.layer is not None:
            return f"{_layer(node.layer)}.{pattern} -> {_call(node.init)}{_then(node.then)}"
        return f"param {pattern} -> {_call(node.init)}{_then(node.then)}"
    if isinstance(node, LoadRule):
        return _load(node.load)
    if isinstance(node, Seed):
        return f"seed {node.value}"
    if isinstance(node, Let):
        return f"let {_identifier(node.name, 'let name')} = {generate(node.value)}"
    raise InitTypeError(f"not a statement: {node!r}")


def _then(modifiers: tuple[Call, ...]) -> str:
    return "".join(f" then {_call(modifier)}" for modifier in modifiers)


def _segment(text: str) -> str:
    # In a pattern, keywords are names (Lark's lexer is contextual) and `*` is a word character.
    return text if _PATTERN_WORD.match(text) or _CAPTURE.match(text) else _quoted(text)


_PATTERN_WORD = re.compile(r"[A-Za-z0-9_*]+\Z")
_CAPTURE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}\Z")


def _statement(node: Statement, depth: int) -> list[str]:
    indent = INDENT * depth
    if not isinstance(node, Scope):
        return [indent + _with_trailing(_head(node), node.trailing_comment)]
    path = ".".join(_word(segment, digits=True) for segment in node.path)
    if not node.statements and not node.end_comments and node.open_comment is None:
        return [indent + _with_trailing(f"scope {path} {{}}", node.trailing_comment)]
    lines = [indent + _with_trailing(f"scope {path} {{", node.open_comment)]
    lines += _block(node.statements, node.end_comments, depth + 1)
    lines.append(indent + _with_trailing("}", node.trailing_comment))
    return lines


def _block(statements: tuple[Statement, ...], end_comments: tuple[Comment, ...], depth: int
           ) -> list[str]:
    indent = INDENT * depth
    lines: list[str] = []

    def emit(blank_line_before: bool, text: list[str]) -> None:
        if blank_line_before and lines:
            lines.append("")
        lines.extend(text)

    for statement in statements:
        for comment in statement.comments:
            emit(comment.blank_line_before, [indent + comment.text])
        emit(statement.blank_line_before, _statement(statement, depth))
    for comment in end_comments:
        emit(comment.blank_line_before, [indent + comment.text])
    return lines
