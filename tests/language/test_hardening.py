"""Hardening of the language: numbers in range, bounded nesting, every error reported,
decompiling only what a run accepts, and a formatter that prints what it parsed.
"""

from __future__ import annotations

import time

import pytest

import initdsl
from initdsl.language.parser import parse_recovering, parse_with_lark

# -- number literals -------------------------------------------------------------------------

DIGITS_LIMIT = 4_300  # Python's limit on converting digits to an int

OUT_OF_RANGE = {
    "overflow": "1e999",
    "negative-overflow": "-1e999",
    "underflow": "1e-999",
    "negative-underflow": "-1e-999",
    "overflow-with-point": "1.5e400",
    "int-4301-digits": "9" * (DIGITS_LIMIT + 1),
    "negative-int-4301-digits": "-" + "1" * (DIGITS_LIMIT + 1),
}

IN_RANGE = {
    "largest-exponent": ("1e308", 1e308),
    "negative-largest": ("-1e308", -1e308),
    "smallest-subnormal": ("5e-324", 5e-324),
    "zero-with-huge-negative-exponent": ("0e-999", 0.0),
    "int-4300-digits": ("9" * DIGITS_LIMIT, None),
}

#: where a number is written: (text before it, text after it)
PLACES = {
    "positional": ("Linear -> constant(", ")"),
    "keyword": ("Linear -> normal(std=", ")"),
    "second-line": ("Conv2d -> kaiming\nLinear -> normal(mean=0, std=", ", bias=0)"),
    "load-option": ('load "x.pth" map_location ', ""),
}


def _expected_span(before: str, literal: str) -> tuple[int, int, int]:
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return line, column, column + len(literal)


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_number_out_of_range_is_e002_at_the_literal(case, place):
    """initdsl.parse: one E002, spanning exactly the literal (minus sign included)."""
    before, after = PLACES[place]
    literal = OUT_OF_RANGE[case]
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.parse(before + literal + after)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E002"
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == _expected_span(before, literal)


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_number_out_of_range_is_e002_in_the_reference_parser(case, place):
    """parse_with_lark, the reference: the same E002 at the same span."""
    before, after = PLACES[place]
    literal = OUT_OF_RANGE[case]
    policy, diagnostic = parse_with_lark(before + literal + after)
    assert policy is None
    assert diagnostic is not None and diagnostic.code == "E002"
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == _expected_span(before, literal)


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_number_out_of_range_is_e002_from_compile(case):
    """compile reports it as a PolicyError too (no OverflowError, no ValueError of int())."""
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.compile(f"Linear -> constant({OUT_OF_RANGE[case]})")
    assert [d.code for d in info.value.diagnostics] == ["E002"]


def _value(policy) -> object:
    return policy.statements[0].init.args[0].value.value


@pytest.mark.parametrize("case", list(IN_RANGE))
def test_number_in_range_parses_in_both_readers(case):
    """The largest, the smallest and the longest numbers allowed parse, to the same value."""
    literal, expected = IN_RANGE[case]
    text = f"Linear -> constant({literal})"
    policy = initdsl.parse(text)
    reference, diagnostic = parse_with_lark(text)
    assert diagnostic is None and reference == policy
    value = _value(policy)
    if expected is None:
        assert isinstance(value, int) and len(str(value)) == DIGITS_LIMIT
    else:
        assert value == expected and isinstance(value, float)


# -- nesting -----------------------------------------------------------------------------------

MAX_DEPTH = 100


def _nested(depth: int, one_line: bool = True) -> str:
    if one_line:
        return "scope a {" * depth + "Linear -> kaiming" + "}" * depth
    return "".join("scope a {\n" for _ in range(depth)) + "Linear -> kaiming\n" + "}\n" * depth


def _depth_of(policy) -> int:
    depth, statements = 0, policy.statements
    while statements and hasattr(statements[0], "statements"):
        depth, statements = depth + 1, statements[0].statements
    return depth


@pytest.mark.parametrize("one_line", [True, False], ids=["one-line", "one-scope-per-line"])
@pytest.mark.parametrize("reader", ["parse", "reference"])
def test_scopes_nested_100_deep_parse(reader, one_line):
    text = _nested(MAX_DEPTH, one_line)
    if reader == "parse":
        policy = initdsl.parse(text)
    else:
        policy, diagnostic = parse_with_lark(text)
        assert diagnostic is None
    assert _depth_of(policy) == MAX_DEPTH


def test_scope_with_a_long_dotted_path_is_one_level():
    """The way around the limit: one scope with a 500-segment path."""
    policy = initdsl.parse("scope " + ".".join(["a"] * 500) + " { Linear -> kaiming }")
    assert len(policy.statements[0].path) == 500


@pytest.mark.parametrize("reader", ["parse", "parse_recovering", "compile"])
@pytest.mark.parametrize("depth, one_line", [
    (MAX_DEPTH + 1, True), (MAX_DEPTH + 1, False), (10_000, True), (10_000, False),
], ids=["101-one-line", "101-per-line", "10000-one-line", "10000-per-line"])
def test_scopes_nested_deeper_than_100_are_e003_quickly(reader, depth, one_line):
    """One E003 at the 101st scope, in well under a second, never a RecursionError."""
    text = _nested(depth, one_line)
    started = time.monotonic()
    if reader == "parse_recovering":
        _policy, diagnostics = parse_recovering(text)
    else:
        with pytest.raises(initdsl.PolicyError) as info:
            (initdsl.parse if reader == "parse" else initdsl.compile)(text)
        diagnostics = list(info.value.diagnostics)
    assert time.monotonic() - started < 5
    assert [d.code for d in diagnostics] == ["E003"]
    span = diagnostics[0].span
    if one_line:
        assert span.line == 1 and 9 * MAX_DEPTH < span.column <= 9 * (MAX_DEPTH + 1)
    else:
        assert span.line == MAX_DEPTH + 1


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000], ids=["101", "10000"])
def test_reference_parser_agrees_on_nesting_too_deep(depth):
    """The reference parser rejects what initdsl.parse rejects: the same E003, at the same place."""
    policy, diagnostic = parse_with_lark(_nested(depth))
    assert policy is None
    assert diagnostic is not None and diagnostic.code == "E003"
    (ours,) = parse_recovering(_nested(depth))[1]
    assert (diagnostic.message, diagnostic.span) == (ours.message, ours.span)


# -- every syntax error, without a cap ---------------------------------------------------------


@pytest.mark.parametrize("count", [1, 50, 51, 200])
def test_every_syntax_error_is_reported_and_str_renders_50(count):
    """count broken statements → count E001s; str() renders 50 and says how many more."""
    text = "\n".join("Linear -> -> kaiming" for _ in range(count)) + "\n"
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.parse(text)
    diagnostics = info.value.diagnostics
    assert [d.code for d in diagnostics] == ["E001"] * count
    assert [d.span.line for d in diagnostics] == list(range(1, count + 1))
    rendered = str(info.value)
    shown = min(count, initdsl.PolicyError.RENDERED)
    assert rendered.count(": E001 ") == shown
    hidden = count - shown
    if hidden:
        assert f"... and {hidden} more error{'s' if hidden > 1 else ''} ({count} in all" \
            in rendered
    else:
        assert "more error" not in rendered


def test_errors_of_every_kind_are_all_reported():
    """Syntax errors and out-of-range numbers, interleaved with valid rules, 300 in all."""
    lines = []
    for i in range(150):
        lines += ["Linear -> (", f"Conv2d -> constant(1e{999 + i})", "LayerNorm -> constant(1)"]
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.parse("\n".join(lines))
    codes = [d.code for d in info.value.diagnostics]
    assert codes == ["E001", "E002"] * 150


def test_one_error_after_100000_valid_lines_is_the_only_one():
    """Exactly that one error, on its line; nothing else is blamed."""
    valid = [f"Linear -> normal(std={i / 1000})" for i in range(100_000)]
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.parse("\n".join(valid) + "\nLinear -> -> kaiming\n")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E001"
    assert (diagnostic.span.line, diagnostic.span.column) == (100_001, 11)


# -- decompile ---------------------------------------------------------------------------------

#: id → (init_cfg, exception classes it must be an instance of, fragment of the message)
DECOMPILE_REFUSED = {
    "key-true": ({"type": "Xavier", "true": 1}, (initdsl.InitError, (ValueError, TypeError)),
                 "'true'"),
    "key-none": ({"type": "Xavier", "none": 1}, (initdsl.InitError, (ValueError, TypeError)),
                 "'none'"),
    "key-int": ({"type": "Xavier", 3: 1}, (initdsl.InitError, (ValueError, TypeError)), "3"),
    "int-5001-digits": ({"type": "Constant", "val": 10 ** 5000},
                        (initdsl.InitError, ValueError), "4,300 digits"),
    "unknown-argument": ({"type": "Normal", "lbias_prob": 0.01},
                         (initdsl.InitError, TypeError), "did you mean 'bias_prob'"),
    "unknown-argument-in-list": ([{"type": "Constant", "val": 1},
                                  {"type": "Normal", "lbias_prob": 0.01}],
                                 (initdsl.InitError, TypeError), "lbias_prob"),
    "no-type": ({"checkpoint": "x.pth"}, (initdsl.InitError, KeyError), "no 'type'"),
    "no-type-in-list": ([{"checkpoint": "x.pth"}], (initdsl.InitError, KeyError), "no 'type'"),
    "infinite-value": ({"type": "Constant", "val": float("inf")},
                       (initdsl.InitError, ValueError), "finite"),
    # Found by the robustness property: these decompiled to `name "" -> normal`.
    "override-empty-name": ({"type": "Normal", "override": [{"name": ""}]},
                            (initdsl.InitError, ValueError), "not a child's name"),
    "override-dotted-name": ({"type": "Normal", "override": {"name": "a.b", "type": "Normal"}},
                             (initdsl.InitError, ValueError), "'a.b' is not a child's name"),
}


@pytest.mark.parametrize("case", list(DECOMPILE_REFUSED))
def test_decompile_refuses_what_a_run_or_a_policy_cannot_take(case):
    init_cfg, classes, fragment = DECOMPILE_REFUSED[case]
    with pytest.raises(initdsl.InitError) as info:
        initdsl.decompile(init_cfg)
    for cls in classes:
        assert isinstance(info.value, cls), (type(info.value), cls)
    assert fragment in str(info.value)  # and str() itself works (no int-to-str limit hit)


#: id → (init_cfg, or a function of mmengine.model giving it; the policy text)
DECOMPILED = {
    "scope-and-its-child-both-kept": ({"sub": [], "sub.fc": []},
                                      "scope sub {}\nscope sub.fc {}\n"),
    "scope-child-kept-after-rules": (
        {"sub": [{"type": "Constant", "val": 1, "layer": "Linear"}], "sub.fc": []},
        "scope sub {\n    Linear -> constant(1)\n}\nscope sub.fc {}\n"),
    "mmengine-PretrainedInit": (lambda mm: {"type": mm.PretrainedInit, "checkpoint": "x.pth"},
                                'load "x.pth"\n'),
    "mmengine-PretrainedInit-prefix": (
        lambda mm: [{"type": mm.PretrainedInit, "checkpoint": "x.pth", "prefix": "backbone."}],
        'load "x.pth" prefix "backbone."\n'),
    "mmengine-XavierInit": (lambda mm: {"type": mm.XavierInit, "layer": "Linear", "gain": 2},
                            "Linear -> xavier(gain=2)\n"),
}


@pytest.mark.parametrize("case", list(DECOMPILED))
def test_decompile(case):
    """The policy text, and it compiles back to what the run would do."""
    init_cfg, expected = DECOMPILED[case]
    if callable(init_cfg):
        init_cfg = init_cfg(pytest.importorskip("mmengine.model"))
    text = initdsl.decompile(init_cfg)
    assert text == expected
    compiled = initdsl.compile(text)
    if isinstance(init_cfg, dict) and "type" not in init_cfg:
        assert {k: v for k, v in compiled.items() if k} == init_cfg
    else:
        cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        assert [c["type"] for c in compiled] == [
            initdsl.WEIGHT_INITIALIZERS.name_of(c["type"]) if isinstance(c["type"], type)
            else c["type"] for c in cfgs]


# -- the formatter prints what it parsed -------------------------------------------------------

#: id → (text, its canonical form)
ROUND_TRIPS = {
    "initializer-called-name": ("Linear -> name", "Linear -> name\n"),
    "initializer-called-name-tight": ("Linear->name", "Linear -> name\n"),
    "initializer-called-load": ("Linear->load", "Linear -> load\n"),
    "initializer-called-scope": ("Linear ->  scope", "Linear -> scope\n"),
    "argument-called-load": ("Linear -> normal(load=1)", "Linear -> normal(load=1)\n"),
    "argument-called-load-spaced": ("Linear->normal( load = 1 )", "Linear -> normal(load=1)\n"),
    "argument-called-name": ("Linear->normal(name=name)", "Linear -> normal(name=name)\n"),
    "option-called-true": ('load "x.pth" true 1', 'load "x.pth" true 1\n'),
    "option-called-true-spaced": ('load  "x.pth"   true 1', 'load "x.pth" true 1\n'),
    "option-called-load": ('load "x.pth" load none', 'load "x.pth" load none\n'),
    "value-called-name": ("x -> kaiming(mode=name)", "x -> kaiming(mode=name)\n"),
    "value-called-scope": ("x->kaiming(mode=scope)", "x -> kaiming(mode=scope)\n"),
    "lone-surrogate": ('x -> f(a="\\ud800")', 'x -> f(a="\\ud800")\n'),
    "lone-low-surrogate": ('x->f(a="a\\udc00b")', 'x -> f(a="a\\udc00b")\n'),
    "surrogate-pair": ('x->f(a="\\ud83d\\ude00")', 'x -> f(a="\U0001F600")\n'),
    "crlf": ("Conv2d->kaiming\r\nLinear->normal\r\n", "Conv2d -> kaiming\r\nLinear -> normal\r\n"),
    "crlf-with-scope": ("scope a {Conv2d->kaiming}\r\n",
                        "scope a {\r\n    Conv2d -> kaiming\r\n}\r\n"),
    "bom": ("\ufeffConv2d->kaiming\n", "\ufeffConv2d -> kaiming\n"),
    "bom-crlf": ("\ufeffConv2d->kaiming\r\n", "\ufeffConv2d -> kaiming\r\n"),
}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_format_round_trips(case):
    """Canonical text, idempotent, the same tree, and always encodable as UTF-8."""
    text, canonical = ROUND_TRIPS[case]
    formatted = initdsl.format(text)
    assert formatted == canonical
    assert initdsl.format(formatted) == formatted
    assert initdsl.parse(formatted) == initdsl.parse(text)
    formatted.encode("utf-8")  # no lone surrogate escapes into the output
