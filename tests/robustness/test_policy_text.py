"""Policy text of every kind through parse, check, compile, format, decompile and lint.

Inputs are the strategies of :mod:`tests.robustness.texts`: canonical text,
grammar-shaped text with keywords in every slot, fragment soup, and all of
them mutated (deleted, inserted, duplicated characters; huge and
non-finite numbers; NUL, BOM, CR/CRLF, lone surrogates; very long lines;
deep ``scope`` nesting). What must hold for all of them:

* only ``initdsl.InitError`` escapes, from every entry point;
* every diagnostic has a span inside the text (line >= 1, column >= 1);
* ``parse(format(x)) == parse(x)`` whenever ``x`` parses, the output is
  canonical (formatting it again changes nothing) and is UTF-8 whenever
  ``x`` is;
* what compiles decompiles, and the decompiled text compiles to the same
  init_cfg;
* the fast reader and Lark accept the same texts and build the same trees.
"""

from __future__ import annotations

import functools
import time

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import initdsl
from initdsl.language import fast_reader
from initdsl.language.ast import Scope
from initdsl.language.parser import parse_recovering, parse_with_lark
from initdsl.tools.lint import lint
from tests.language.test_fastparse import accepted_by_fast_reader, layout

from ._support import outcome, quiet_logs, small_model
from .texts import (
    FRAGMENTS,
    NUMBERS,
    STRINGS,
    WORDS,
    any_text,
    encodable,
    generated,
    line_endings,
    mutated,
    soup,
    templated,
)

FILE = "policy.init"

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

# Texts from the hardening issue that each once broke a promise; every
# property below runs on them first.
EDGE_CASES = [
    "Linear -> name",
    "Linear -> normal(load=1)",
    'load "x.pth" true 1',
    "x -> kaiming(mode=name)",
    "kaiming(mode=name)",
    'x -> n(s="\\ud800")',
    '"\\ud800" -> constant(1)',
    'load "\\ud800.pth"',
    "x -> y\r\nz -> w\r\n",
    "\ufeffx -> y\n",
    "\ufeff\ufeffx -> y",
    "x -> constant(1e999)",
    "x -> constant(1e-999)",
    "x -> constant(0e-999)",
    "x -> constant(" + "9" * 4301 + ")",
    "scope a {" * 101 + "}" * 101,
    "scope a {" * 100 + "}" * 100,
    "x -> y\x00",
    "# \x00 \u2028 \ud800\nx -> y",
    "x -> y # c\rz",
    "name x -> load",
    'load "a" name "b" scope 1 load "c"',
    "x -> " + "n(" + "1, " * 3000 + ")",
    # Recovery once looped forever on text after a block on its line, and
    # raised LookupError on a comment at the end of an unclosed scope.
    "{}{", "scope a {}{", "x -> y\nscope a {} x {", "Linear -> normal {} x", "name a {}x",
    'name""{}\x00', "scope a {#c", "scope a {\nLinear -> normal  # c", "scope a { x #c",
    # A scope named like a cfg key once decompiled as one cfg.
    "scope layer {}\n", "scope prefix { Linear -> normal }",
]

def with_edge_cases(test):
    for text in reversed(EDGE_CASES):
        test = example(text)(test)
    return test


@functools.lru_cache(maxsize=1)
def meta_model():
    """The small model on the meta device, as ``initdsl lint --model`` builds models."""
    return small_model("meta")


def assert_spans(diagnostics, text: str, what: str) -> None:
    """Every diagnostic is positioned inside ``text`` (columns count no byte-order mark)."""
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.split("\n")
    for diagnostic in diagnostics:
        span = diagnostic.span
        assert span is not None, f"{what}: {diagnostic.code} has no position"
        where = f"{what}: {diagnostic.code} at {span.line}:{span.column}-" \
                f"{span.end_line}:{span.end_column}"
        assert 1 <= span.line <= len(lines), where
        assert 1 <= span.column <= len(lines[span.line - 1]) + 1, where
        assert span.line <= span.end_line <= len(lines), where
        assert (span.end_line, span.end_column) >= (span.line, span.column), where
        # One past the end of the line: "found end of file/line" points there.
        assert span.end_column <= len(lines[span.end_line - 1]) + 2, where


def assert_policy_error(error, text: str, what: str) -> None:
    assert isinstance(error, initdsl.PolicyError), \
        f"{what} raised {type(error).__name__}, not a PolicyError: {error}"
    assert error.diagnostics, f"{what}: a PolicyError without diagnostics"
    assert_spans(error.diagnostics, text, what)
    str(error)  # rendering the diagnostics never fails


def run_pipeline(text: str) -> dict:
    """Every entry point on ``text``; returns what each produced (errors included)."""
    results = {}
    policy, error = outcome(lambda: initdsl.parse(text, FILE), "parse")
    results["parse"] = policy, error
    if error is not None:
        assert_policy_error(error, text, "parse")
    else:
        diagnostics, error = outcome(lambda: initdsl.check(policy), "check")
        assert error is None, f"check raised {error!r}"
        assert_spans(diagnostics, text, "check")
        results["check"] = diagnostics

    compiled, error = outcome(lambda: initdsl.compile(text, FILE), "compile")
    results["compile"] = compiled, error
    if error is not None:
        assert_policy_error(error, text, "compile")
    # compile is parse, then check: it fails exactly when one of them finds something.
    assert (error is None) == (policy is not None and not results["check"]), \
        "compile disagrees with parse + check"

    formatted, error = outcome(lambda: initdsl.format(text, FILE), "format")
    results["format"] = formatted, error
    if policy is None:
        assert_policy_error(error, text, "format")
    else:
        assert error is None, f"format rejects text that parses: {error}"

    if compiled is not None:
        back, error = outcome(lambda: initdsl.decompile(compiled), "decompile")
        assert error is None, f"decompile rejects what compile produced: {error}"
        results["decompile"] = back

    with quiet_logs():
        for model in (None, meta_model()):
            what = "lint" if model is None else "lint with a model"
            result, error = outcome(lambda model=model: lint(text, FILE, model=model), what)
            assert error is None, f"{what} raised {error!r} instead of reporting it"
            assert_spans(result.diagnostics, text, what)
            results[what] = result
    return results


@PROPERTY
@with_edge_cases
@given(any_text)
def test_every_text_raises_only_initdsl_errors_with_positions(text):
    """Any text: each entry point returns or raises InitError; every diagnostic is in the text."""
    run_pipeline(text)


@PROPERTY
@given(st.one_of(mutated(), templated.flatmap(line_endings), soup, generated))
@with_edge_cases
def test_formatter_prints_back_what_the_parser_accepted(text):
    """Any text that parses: format keeps its tree, is idempotent, and keeps it UTF-8."""
    policy, error = outcome(lambda: initdsl.parse(text), "parse")
    if error is not None:
        return
    formatted, error = outcome(lambda: initdsl.format(text), "format")
    assert error is None, f"format rejects text that parses: {error}"
    if encodable(text):
        formatted.encode("utf-8")  # a lone surrogate from "\ud800" is written as its escape
    again, error = outcome(lambda: initdsl.parse(formatted), "parse of the formatted text")
    assert error is None, f"the formatted text does not parse:\n{formatted}\n{error}"
    assert again == policy
    assert initdsl.format(formatted) == formatted
    # and the syntax tree alone prints the same text (less the BOM and line endings)
    assert initdsl.format(policy) == formatted.lstrip("\ufeff").replace("\r\n", "\n")


@PROPERTY
@given(any_text)
@with_edge_cases
def test_decompiling_what_compiled_gives_the_same_init_cfg(text):
    """Any text that compiles: decompile → compile reproduces the init_cfg exactly."""
    compiled, error = outcome(lambda: initdsl.compile(text), "compile")
    if error is not None:
        return
    back = initdsl.decompile(compiled)
    again, error = outcome(lambda: initdsl.compile(back), "compile of the decompiled text")
    assert error is None, f"decompiled text does not compile:\n{back}\n{error}"
    assert again == compiled


@PROPERTY
@given(any_text)
@with_edge_cases
def test_fast_reader_and_lark_accept_the_same_texts_and_trees(text):
    """Any text: both readers accept it or both reject it, and build the same tree."""
    # parse() and parse_with_lark skip a leading byte-order mark; the fast reader is
    # handed the text after it.
    accepted = accepted_by_fast_reader(text.removeprefix("\ufeff"))
    reference, error = outcome(lambda: parse_with_lark(text, FILE), "parse_with_lark")[0]
    assert accepted == (error is None), (
        f"fast reader {'accepts' if accepted else 'rejects'} what Lark "
        f"{'rejects: ' + error.message if error else 'accepts'}")
    policy, diagnostics = outcome(lambda: parse_recovering(text, FILE), "parse_recovering")[0]
    if accepted:
        assert diagnostics == []
        assert layout(policy) == layout(reference)
    else:
        assert diagnostics, "an error Lark finds is reported"


def nesting(policy) -> int:
    """How deep the scopes of a parsed policy nest."""
    deepest, stack = 0, [(statement, 1) for statement in policy.statements]
    while stack:
        statement, depth = stack.pop()
        if isinstance(statement, Scope):
            deepest = max(deepest, depth)
            stack.extend((inner, depth + 1) for inner in statement.statements)
    return deepest


@settings(PROPERTY, max_examples=60)
@given(body=st.one_of(generated, templated),
       depth=st.one_of(st.integers(0, 3), st.integers(96, 104), st.integers(150, 160)),
       separator=st.sampled_from(["", "\n", " ; "]))
def test_nesting_is_bounded_at_100_with_e003(body, depth, separator):
    """``scope a {`` nested around any body: E003 exactly when scopes nest past 100."""
    text = f"scope a {{{separator}" * depth + body + f"{separator}}}" * depth
    inner, error = outcome(lambda: initdsl.parse(body), "parse of the body")
    policy, error = outcome(lambda: initdsl.parse(text), "parse")
    codes = [d.code for d in error.diagnostics] if error else []
    if inner is not None:
        too_deep = depth + nesting(inner) > fast_reader.MAX_SCOPE_DEPTH
        assert ("E003" in codes) == too_deep
        assert (error is None) == (not too_deep)
    if error is not None:
        assert_policy_error(error, text, "parse")
    run_pipeline(text)


@pytest.mark.parametrize("depth", [150, 1_000, 20_000])
def test_nesting_far_beyond_the_limit_is_one_e003(depth):
    """Thousands of nested scopes (closed or not): one E003, no RecursionError, in any stage."""
    for text in ("scope a {" * depth + "}" * depth, "scope a {\n" * depth):
        _, error = outcome(lambda text=text: initdsl.parse(text), "parse")
        assert [d.code for d in error.diagnostics].count("E003") == 1
        with quiet_logs():
            result, error = outcome(lambda text=text: lint(text, FILE, model=meta_model()), "lint")
        assert error is None
        assert "E003" in [d.code for d in result.diagnostics]


@pytest.mark.parametrize("depth", [101, 2_000])
def test_reference_reader_stops_at_the_nesting_limit_too(depth):
    """Lark, the reference, reports E003 where the fast path does, at any depth."""
    text = "scope a {" * depth + "}" * depth
    (_, error), _ = outcome(lambda: parse_with_lark(text, FILE), "parse_with_lark")
    assert error is not None and error.code == "E003"
    _, through_parse = parse_recovering(text, FILE)
    assert (error.code, error.span) == (through_parse[0].code, through_parse[0].span)


# -- numbers out of range (E002) -------------------------------------------------------------

huge_integers = st.integers(4_301, 6_000).map(lambda n: "9" * n)
overflowing = st.builds(lambda m, e: f"{m}e{e}", st.sampled_from(["1", "2.5", "17.9"]),
                        st.integers(309, 10**6))
underflowing = st.builds(lambda m, e: f"{m}e-{e}", st.sampled_from(["1", "2.5", "0.1"]),
                         st.integers(325, 10**6))


@PROPERTY
@given(number=st.one_of(huge_integers, overflowing, underflowing),
       sign=st.sampled_from(["", "-", "- "]),
       where=st.sampled_from(["x -> n({})", "x -> n(a={})", 'load "c" prefix {}',
                              "scope s {{\n  name c -> n(1, {})\n}}"]),
       before=st.sampled_from(["", "a -> b\n", "\ufeff", "a -> b\r\n\n"]))
def test_numbers_out_of_range_are_e002_at_the_number(number, sign, where, before):
    """Integers over 4,300 digits, floats that overflow or underflow: E002 on the number."""
    text = before + where.format(sign + number)
    _, error = outcome(lambda: initdsl.parse(text), "parse")
    assert_policy_error(error, text, "parse")
    assert [d.code for d in error.diagnostics] == ["E002"]
    body = text.lstrip("\ufeff")
    offset = body.index(sign + number)
    line = body.count("\n", 0, offset) + 1
    column = offset - (body.rfind("\n", 0, offset) + 1) + 1
    span = error.diagnostics[0].span
    assert (span.line, span.column) == (line, column)


@PROPERTY
@given(st.sampled_from(["0e-999", "0.0e-99999", "0.000e5", "1.7976931348623157e308",
                        "4.9e-324", "9" * 4300]))
def test_numbers_at_the_edge_of_the_range_are_read(number):
    """The largest finite float, the smallest subnormal, zero with any exponent, 4,300 digits."""
    text = f"Linear -> n({number})"
    policy, error = outcome(lambda: initdsl.parse(text), "parse")
    assert error is None
    assert initdsl.parse(initdsl.format(text)) == policy


# -- files that are not UTF-8 (E004) ---------------------------------------------------------

BYTES = [b"a", b"x -> y", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xff", b"\xc3",
         b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00", b"#", b'"']


@PROPERTY
@given(st.lists(st.sampled_from(BYTES), max_size=12).map(b"".join))
def test_bytes_that_are_not_utf8_are_e004_at_the_first_bad_byte(tmp_path_factory, data):
    """Any bytes as a policy file: read as UTF-8, or E004 at the first undecodable byte."""
    path = tmp_path_factory.mktemp("e004") / "policy.init"
    path.write_bytes(data)
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError as reason:
        bad = reason.start
    else:
        bad = None
    policy, error = outcome(lambda: initdsl.load(path), "load")
    if bad is None:
        if error is not None:
            assert_policy_error(error, expected, "load")
            assert "E004" not in [d.code for d in error.diagnostics]
        return
    assert isinstance(error, initdsl.PolicyError)
    assert [d.code for d in error.diagnostics] == ["E004"]
    assert_e004_position(error, data, bad)


def assert_e004_position(error, data: bytes, bad: int) -> None:
    span = error.diagnostics[0].span
    line_start = data.rfind(b"\n", 0, bad) + 1
    before = data[line_start:bad].decode("utf-8")
    if line_start == 0:
        before = before.removeprefix("\ufeff")  # the file's BOM takes no column
    assert (span.line, span.column) == (data.count(b"\n", 0, bad) + 1, len(before) + 1)


# -- the text of diagnostics -----------------------------------------------------------------


@PROPERTY
@given(st.one_of(st.sampled_from(EDGE_CASES), any_text).filter(encodable))
@example('load "\\ud800.pth"')
@example('"\\udfff" -> constant(1)')
def test_diagnostics_of_a_utf8_file_can_be_written_as_utf8(text):
    """Any UTF-8 text: every rendered diagnostic of lint and compile encodes as UTF-8."""
    with quiet_logs():
        for model in (None, meta_model()):
            result = lint(text, FILE, model=model)
            for diagnostic in result.diagnostics:
                diagnostic.render(text).encode("utf-8")
    _, error = outcome(lambda: initdsl.compile(text, FILE), "compile")
    if error is not None:
        str(error).encode("utf-8")


# -- time ------------------------------------------------------------------------------------

#: Broken texts whose recovery once cost more than one pass: each is repeated n times.
BROKEN = {
    "bad statements": "x -> (\n",
    "unclosed scopes": "scope a {\n",
    "unclosed strings": '"abc -> x\n',
    "one long line": "x -> y z ",
    "deep braces": "scope a {",
    "stray braces": "} ",
    "bad numbers": "x -> n(1e999)\n",
    "unterminated escapes": 'x -> n("\\',
    "keywords": "name load scope true ",
}


def _seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        outcome(lambda: initdsl.parse(text), "parse")
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("unit", list(BROKEN.values()), ids=list(BROKEN))
def test_recovery_time_is_linear_in_the_text(unit):
    """Broken text 8 times longer takes at most ~16 times longer to report (8 is linear)."""
    small, large = unit * 300, unit * 2_400
    _seconds(small)  # warm up Lark's parser
    ratio = _seconds(large) / max(_seconds(small), 1e-4)
    assert ratio < 24, f"8x the text took {ratio:.0f}x the time"


@pytest.mark.parametrize("fragment", FRAGMENTS + NUMBERS + STRINGS + WORDS)
def test_every_fragment_alone_and_repeated(fragment):
    """Each fragment alone, repeated, and around a valid rule goes through the whole pipeline."""
    for text in (fragment, fragment * 3, f"Linear -> normal\n{fragment}\nConv2d -> kaiming"):
        run_pipeline(text)


# -- texts the first version of this suite found escaping or looping ------------------------

NO_SHRINK = settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow])


@NO_SHRINK
@given(before=st.sampled_from(["", "x -> y\n", "scope a {\n"]),
       block=st.sampled_from(["{}", "scope a {}", "scope a.b { x -> y }", "[] -> k {}"]),
       between=st.sampled_from(["", " ", "x ", "12(false", " load "]),
       after=st.sampled_from(["{", "{}", "{ x -> y }", "scope b {}"]))
@example(before="", block="{}", between="", after="{")
def test_text_after_a_closing_brace_is_reported_not_looped_on(before, block, between, after):
    """A block statement followed on its line by more text holding a `{`: E001s, promptly."""
    text = before + block + between + after
    _, error = outcome(lambda: initdsl.parse(text), "parse", seconds=3)
    assert_policy_error(error, text, "parse")


@NO_SHRINK
@given(statement=st.sampled_from(["Linear -> normal", "name a", 'name ""', 'load "x.pth"',
                                  "x, y -> k(1)"]),
       block=st.sampled_from(["{}", " { }", "{ x -> y }"]),
       after=st.sampled_from(["x", " y", "\x00", " 1"]))
@example(statement="Linear -> normal", block=" {}", after=" x")
def test_statement_followed_by_a_block_and_more_text_is_reported(statement, block, after):
    """``<statement> {...} <more>`` on one line: E001s, promptly."""
    text = statement + block + after
    _, error = outcome(lambda: initdsl.parse(text), "parse", seconds=3)
    assert_policy_error(error, text, "parse")


@NO_SHRINK
@given(path=st.sampled_from(["a", "a.b", '"x y"']),
       body=st.sampled_from(["", "x", "Linear -> normal", "\nLinear -> normal(std=0.1)",
                             "x -> ", "name fc"]),
       comment=st.sampled_from(["#c", "  # a comment", "# é"]),
       depth=st.integers(1, 3))
@example(path="a", body="", comment="#c", depth=1)
def test_unclosed_scope_ending_in_a_comment_is_e001(path, body, comment, depth):
    """An unclosed scope whose last line has a comment: E001 "not closed", not a LookupError."""
    text = f"scope {path} {{\n" * depth + body + comment
    _, error = outcome(lambda: initdsl.parse(text), "parse")
    assert_policy_error(error, text, "parse")
    assert any("not closed" in d.message for d in error.diagnostics)


@NO_SHRINK
@given(line=st.integers(1, 3), before=st.sampled_from([b"", b"x -> y ", b"\xc3\xa9"]),
       bad=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
@example(line=1, before=b"", bad=b"\xff")
def test_e004_column_counts_a_zero_width_space_after_line_one(tmp_path_factory, line, before,
                                                             bad):
    """A line after the first starting with U+FEFF: E004's column still counts it."""
    data = b"x -> y\n" * line + b"\xef\xbb\xbf" + before + bad
    path = tmp_path_factory.mktemp("e004") / "policy.init"
    path.write_bytes(data)
    _, error = outcome(lambda: initdsl.load(path), "load")
    assert_e004_position(error, data, data.index(bad, len(data) - len(bad)))
