"""The fast reader against Lark, the reference parser: the same texts accepted, the same trees.

``initdsl.parse`` reads with :mod:`initdsl.language.fast_reader` and falls back to the
Lark grammar only when the fast reader rejects the text. That is sound only if
the fast reader accepts exactly what the grammar accepts and builds exactly
the tree Lark's path builds, spans, comments and blank lines included, which
the AST's equality ignores, so these tests compare every field.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initdsl
from initdsl.language import fast_reader as fastparse
from initdsl.language.parser import parse_recovering, parse_with_lark

from .strategies import policies

FILE = "policy.init"


def layout(node: Any) -> Any:
    """Every field of ``node`` and of the nodes under it, equality-excluded ones too."""
    if isinstance(node, (list, tuple)):
        return [layout(item) for item in node]
    if attrs.has(type(node)):
        return (type(node).__name__, {field.name: layout(getattr(node, field.name))
                                      for field in attrs.fields(type(node))
                                      if field.name != "source"})
    return (type(node).__name__, node)


def accepted_by_fast_reader(text: str) -> bool:
    try:
        fastparse.read(text, FILE)
    except fastparse.Reject:
        return False
    return True


def assert_same_as_lark(text: str) -> None:
    reference, error = parse_with_lark(text, FILE)
    assert error is None, error.message
    assert accepted_by_fast_reader(text)
    policy, fast_diagnostics = parse_recovering(text, FILE)
    assert fast_diagnostics == []
    assert layout(policy) == layout(reference)


VALID = [
    "",
    "\n\n",
    ";;",
    "Conv2d -> kaiming(mode=fan_out)",
    "Conv2d,Linear->xavier(gain=2,distribution=uniform)",
    '"Conv2d" , "My Layer" -> normal ( std = 0.02 , ) ',
    "[] -> kaiming",
    "[ ]->kaiming()\n",
    "x -> n(1, -2, - 3.5, 1e5, 1.5E-3, 007, true, false, none, word, \"s\")",
    'x -> n(a=1, b="\\u00e9\\n\\"", c=-0.0)',
    # keywords are keywords only where the grammar accepts them
    "true -> xavier",
    "none, false -> xavier",
    "x -> load",
    "x -> normal(mode=load)",
    "x -> n(name=scope)",
    "name load -> xavier",
    "name x -> name",
    "name x -> scope",
    'name x -> load "a.pth"',
    'load "a" load "b"',
    'load "a.pth" prefix "backbone." map_location "cpu" weights_only true',
    'load"a"',
    # names of children and path segments
    "name 0 -> constant(1)",
    'name "odd child" -> constant(1)',
    "name fc",
    "scope load.0.1 { }",
    "scope a . 12 . b{x->y}",
    'scope "x y".z {\n  x -> y\n  scope w { name 3 }\n}',
    "scope a {x->y;}",
    "scope a {\n}\nscope b {}",
    # comments, blank lines, separators, line endings
    "# only a comment",
    "x -> y  # trailing\n\n# leading\nz -> w\n# at the end",
    "scope a {  # on the open line\n  # leading inside\n  x -> y  # trailing inside\n"
    "  # end of block\n}  # after the close\n",
    "x -> y\r\nz -> w\r\n",
    "x -> y ;z -> w; ;\n\t\f\rname q",
    "a -> b\n\n\n\nc -> d",
    # expressions, lets, captures
    "x -> n(-a)",
    "x -> n(std=(a + b), c=((1)) * d, e=(-x) ** 2)",  # offsets from the expression's start
    "x -> n(std=0.02 / sqrt(2 * model.config.n_layer), mean=-(1), b=(x), c=- x)",
    "x -> n((1 + 2) * 3, 2 ** -1, -2 ** 2, tensor.shape[-1], max(1, (2)), a.b[0])",
    "x -> n(2 * true, (none) + 1, std=x, a=load * 2)",
    "let s = 0.02\nlet t = s / 2 ; x -> n(std=t)",
    "let  x=(1)",
    "param blocks.{i}.mlp.fc2.weight -> n(std=0.02 / sqrt(2 * (i + 1)))",
    "param a.{ i }.b.{j} -> n",
    'Linear.{p} -> n(std=p)',
    "name*Norm.a -> a",  # a class-name pattern that starts like a keyword
    "param*x -> y",
]


@pytest.mark.parametrize("text", VALID)
def test_fast_reader_builds_lark_tree(text):
    assert_same_as_lark(text)


INVALID = [
    "x -> n(true=1)",  # `true` is a keyword where a value may come
    "x -> n(1.)",
    "x -> n(,)",
    "x -> n(1,,)",
    "x -> n(- \"s\")",
    # expressions
    "x -> n(true * 2)",  # `true` is a keyword where a value starts
    "x -> n(1 +)",
    "x -> n((1)",
    "x -> n(sqrt(1,)",
    "x -> n(a.)",
    "x -> n(a[1.5])",
    "x -> n(2 ** )",
    "x -> n(\"a\" + 1)",
    "x -> n(1 2)",
    "let x",
    "let = 1",
    "let x = ",
    'load "a" prefix -x',
    "param a.{1}.b -> n",
    "param a.{x.b -> n",
    "x -> n(1) y",
    "x -> n(a=b=c)",
    "x -> n(\n1)",
    "x -> n(1 # comment\n)",
    "x -> n(1e)",
    "1x -> y",
    "'a' -> x",
    "a, -> x",
    "a -> ",
    "a ->",
    "[], a -> x",
    "name -> x",
    "name 1.5 -> x",
    "name x -> load",
    "name x y",
    "load",
    "load x",
    'load "a" prefix',
    "scope a",
    "scope a {",
    "scope a { x -> y",
    "scope 1e5 {}",
    "scope a. {}",
    "scope a { x -> y } z -> w",
    "}",
    "x -> y z -> w",
    "x -> y }",
    "é -> x",
    "x -> y\x00",
    '"unterminated -> x',
    '"a\\q" -> x',
    "x -> n(1)(2)",
    # An unclosed scope whose last line is a comment: Lark is asked about the
    # state at the end of the scope, and its lexer sees the comment.
    "{#\n#0",
    "scope a {\n# c",
]


@pytest.mark.parametrize("text", INVALID)
def test_fast_reader_rejects_what_lark_rejects(text):
    assert not accepted_by_fast_reader(text)
    _, error = parse_with_lark(text, FILE)
    assert error is not None
    # Reading statement by statement finds Lark's first error, in Lark's words.
    _, through_parse = parse_recovering(text, FILE)
    assert (through_parse[0].message, through_parse[0].span) == (error.message, error.span)


# Fragments near every decision of the grammar; joined at random they make
# mostly broken text, with enough valid text among it to compare trees.
FRAGMENTS = [
    "Conv2d", "x", "true", "none", "name", "load", "scope", "param", "*", "**", "normal",
    "std", "0", "12",
    "1.5", "1e5", "0.1", "-", "->", ",", "(", ")", "=", "{", "}", ".", ";", "[", "]",
    '"a"', '"\\u0041"', '"', "#c", "\n", "\r\n", " ", " ", "\t", "'", "é",
]
soup = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)
SOUP = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SOUP
@given(soup)
def test_fast_reader_accepts_exactly_what_lark_accepts(text):
    _, error = parse_with_lark(text, FILE)
    assert accepted_by_fast_reader(text) == (error is None)
    if error is None:
        assert_same_as_lark(text)


@st.composite
def mutated_policies(draw):
    """A valid formatted policy with a few characters deleted or fragments inserted."""
    text = initdsl.format(draw(policies))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + draw(st.sampled_from(FRAGMENTS)) + text[at:]
    return text


@settings(SOUP, max_examples=500)
@given(mutated_policies())
def test_fast_reader_agrees_with_lark_next_to_valid_text(text):
    _, error = parse_with_lark(text, FILE)
    assert accepted_by_fast_reader(text) == (error is None)
    if error is None:
        assert_same_as_lark(text)
    else:
        _, through_parse = parse_recovering(text, FILE)
        assert through_parse, "an error Lark finds is reported"


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(policies)
def test_formatted_policies_take_the_fast_path(policy):
    assert_same_as_lark(initdsl.format(policy))
