"""Hypothesis strategies for policy *text*: generated, broken, mutated, and hostile.

Three sources, all mixed by :data:`any_text`:

* :data:`generated`: canonical text of generated syntax trees
  (``tests.language.strategies.policies``), valid by construction;
* :data:`templated`: statements assembled from the grammar's shapes with a
  word from :data:`WORDS` in every slot, so keywords, reserved words and
  number-like words turn up in every position (some parse, as the
  contextual lexer allows; most do not);
* :data:`soup`: fragments near every decision of the grammar, joined at random.

:func:`mutated` then deletes, duplicates and inserts (fragments, keywords,
huge and non-finite numbers, NUL, lone surrogates, BOMs, CR and CRLF, very
long runs, deep ``scope a {`` nesting) and may convert the line endings or
prepend a byte-order mark.
"""

from __future__ import annotations

from hypothesis import strategies as st

import initdsl
from initdsl.language.ast import KEYWORDS, RESERVED_WORDS
from tests.language.strategies import policies

#: Words for every slot that takes a word: keywords, reserved words,
#: initializer and argument names, and words that look like numbers.
WORDS = sorted(KEYWORDS | RESERVED_WORDS) + [
    "Linear", "Conv2d", "_BatchNorm", "x", "_", "kaiming", "normal", "constant", "xavier",
    "trunc_normal", "uniform", "caffe2_xavier", "pretrained", "std", "mean", "mode", "val",
    "gain", "bias", "bias_prob", "prefix", "map_location", "weights_only", "checkpoint",
    "layer", "override", "type", "fan_out", "inf", "nan", "e5", "E1", "True", "None",
]

#: Number spellings at and beyond the edges of what a policy can hold.
NUMBERS = [
    "0", "1", "007", "-3", "0.5", "-0.0", "1e5", "2.5E-3", "1e308", "1.7976931348623157e308",
    "1.8e308", "1e999", "-1e999", "1e-999", "0e-999", "0.0e-99999", "4.9e-324", "2e-324",
    "1e-400", "100000000000000000000", "18446744073709551616", "9" * 4300, "9" * 4301,
    "1" + "0" * 5000, "1." + "0" * 400 + "1", "0." + "0" * 400 + "1e-0",
]

#: Escapes and characters a string literal may or may not hold.
STRINGS = [
    '""', '"a"', '"x.pth"', '"My Layer"', '"load"', '"a.b"', '"\\ud800"', '"\\udfff"',
    '"\\ud83d\\ude00"', '"\\u0000"', '"\\n\\t\\"\\\\\\/"', '"é"', '"\u2028"', '"\\u00e9"',
    '"\\q"', '"unterminated', '"\x00"', '"\ud800"',
]

values = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(STRINGS), st.sampled_from(WORDS))
words = st.sampled_from(WORDS)
blank = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def _call(draw):
    name = draw(words)
    if draw(st.booleans()):
        return name
    args = []
    for _ in range(draw(st.integers(0, 3))):
        value = draw(values)
        args.append(f"{draw(words)}={value}" if draw(st.booleans()) else value)
    return f"{name}({', '.join(args)}{draw(st.sampled_from(['', ',']))})"


@st.composite
def _load(draw):
    options = " ".join(f"{draw(words)} {draw(values)}" for _ in range(draw(st.integers(0, 3))))
    return f"load {draw(st.sampled_from(STRINGS))} {options}".rstrip()


_child = st.one_of(words, st.sampled_from(["0", "12", "1.5"]), st.sampled_from(STRINGS))


@st.composite
def _statement(draw, depth: int = 0):
    kind = draw(st.sampled_from(["layer", "layer", "empty", "name", "name_to", "name_load",
                                 "load", "scope", "param"]))
    if kind == "layer":
        layers = ", ".join(draw(st.lists(st.one_of(words, st.sampled_from(STRINGS)),
                                         min_size=1, max_size=3)))
        return f"{layers} -> {draw(_call())}"
    if kind == "empty":
        return f"[] -> {draw(_call())}"
    if kind == "name":
        return f"name {draw(_child)}"
    if kind == "name_to":
        return f"name {draw(_child)} -> {draw(_call())}"
    if kind == "name_load":
        return f"name {draw(_child)} -> {draw(_load())}"
    if kind == "param":
        pattern = ".".join(draw(st.lists(st.one_of(_child, st.sampled_from(["*", "**", "w*"])),
                                         min_size=1, max_size=3)))
        return f"param {pattern} -> {draw(_call())}"
    if kind == "load" or depth >= 2:
        return draw(_load())
    path = ".".join(draw(st.lists(_child, min_size=1, max_size=3)))
    body = draw(st.lists(_statement(depth + 1), max_size=3))
    separator = draw(st.sampled_from(["\n", "; ", "\n\n"]))
    return f"scope {path} {{{separator}{separator.join(body)}{separator}}}"


#: Statements of the grammar's shapes with arbitrary words in every slot.
templated = st.lists(_statement(), max_size=5).flatmap(
    lambda body: st.sampled_from(["\n", ";", "\r\n", "  # c\n"]).map(lambda sep: sep.join(body)))

#: Canonical text of generated syntax trees.
generated = policies.map(initdsl.format)

#: Pieces that sit next to every decision of the grammar, and hostile ones.
FRAGMENTS = [
    "Conv2d", "x", "true", "false", "none", "name", "load", "scope", "seed", "param", "let",
    "normal", "std", "0", "12", "1.5", "1e5", "1e999", "1e-999", "9" * 4301, "-", "->", ",",
    "(", ")", "=", "{", "}", ".", ";", "[", "]", "[]", '"a"', '"\\u0041"', '"\\ud800"', '"',
    "\\", "#c", "# é \ud800", "\n", "\r\n", "\r", " ", "\t", "\f", "\x0b", "'", "é", "\x00",
    "\ufeff", "\ud800", "\u2028", "scope a {", "scope a.b {\n", "}\n", "\n}",
    "name x -> load", 'load "x.pth" prefix', "Linear -> name", "x -> n(load=1)",
    "*", "**", "param a.*.b -> normal", "param ** -> constant(1)", 'param "a".w* -> x',
    "scope a {" * 101, "}" * 101, "x" * 3000, "a, " * 500, "1, " * 500,
]

soup = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)


@st.composite
def mutated(draw, base=None):
    """``base`` (default: any of the sources) after one to four edits."""
    text = draw(base if base is not None else st.one_of(generated, templated))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "insert", "duplicate", "replace"]))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        elif edit == "insert":
            fragment = draw(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(NUMBERS),
                                      st.sampled_from(STRINGS), words))
            text = text[:at] + fragment + text[at:]
        elif edit == "duplicate":
            stop = min(len(text), at + draw(st.integers(1, 40)))
            text = text[:stop] + text[at:stop] * draw(st.integers(1, 3)) + text[stop:]
        else:
            text = text[:at] + draw(st.characters()) + text[at + 1:]
    return draw(line_endings(text))


def line_endings(text: str):
    """``text`` as it is, with CRLF line endings, or with a byte-order mark (or both)."""
    return st.sampled_from([0, 0, 1, 2, 3]).map(lambda how: (
        ("\ufeff" if how & 2 else "") + (text.replace("\n", "\r\n") if how & 1 else text)))


#: Everything above, for the properties that hold for every text.
any_text = st.one_of(
    generated.flatmap(line_endings),
    templated.flatmap(line_endings),
    soup,
    mutated(),
)


def encodable(text: str) -> bool:
    """Whether ``text`` could be the content of a UTF-8 file (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
