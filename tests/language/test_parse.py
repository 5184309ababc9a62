"""Parsing and formatting: text → tree tables, canonical text tables, comments, syntax errors."""

from __future__ import annotations

import pytest

import initdsl
from initdsl.language.ast import (
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
    Span,
    String,
)
from initdsl.language.formatter import generate
from initdsl.language.lark_reader import grammar_text
from initdsl.language.parser import parse_recovering

# -- text → tree -------------------------------------------------------------------------------

PARSE_CASES = [
    ("Conv2d -> kaiming",
     [LayerRule([Layer("Conv2d")], Call("kaiming"))]),
    ("Conv2d -> kaiming()",
     [LayerRule([Layer("Conv2d")], Call("kaiming"))]),
    ("Conv2d, Linear -> xavier(gain=2, distribution=uniform)",
     [LayerRule([Layer("Conv2d"), Layer("Linear")],
                Call("xavier", [Arg("gain", Integer(2)),
                                Arg("distribution", Identifier("uniform"))]))]),
    ('[] -> constant(1, bias=-0.5, bias_prob=1e-2,)',
     [LayerRule([], Call("constant", [Arg(None, Integer(1)), Arg("bias", Float(-0.5)),
                                       Arg("bias_prob", Float(0.01))]))]),
    ('"load", _BatchNorm -> normal(mean="x y", std=2.5E+3)',
     [LayerRule([Layer("load"), Layer("_BatchNorm")],
                Call("normal", [Arg("mean", String("x y")), Arg("std", Float(2500.0))]))]),
    ("X -> u(a=true, b=false, c=none, d=-7)",
     [LayerRule([Layer("X")], Call("u", [Arg("a", Boolean(True)), Arg("b", Boolean(False)),
                                         Arg("c", Null()), Arg("d", Integer(-7))]))]),
    ("name conv2", [NameRule("conv2")]),
    ("name 0 -> xavier", [NameRule("0", Call("xavier"))]),
    ('name "my-key" -> xavier', [NameRule("my-key", Call("xavier"))]),
    ("name load -> kaiming(mode=name)",  # keywords are names where a name is expected
     [NameRule("load", Call("kaiming", [Arg("mode", Identifier("name"))]))]),
    ('name backbone -> load "x.pth" prefix "backbone."',
     [NameRule("backbone", Load(String("x.pth"), [Option("prefix", String("backbone."))]))]),
    ('load "r50.pth" map_location "cpu" prefix "backbone." weights_only false',
     [LoadRule(Load(String("r50.pth"), [Option("map_location", String("cpu")),
                                        Option("prefix", String("backbone.")),
                                        Option("weights_only", Boolean(False))]))]),
    ('load "a\\"b\\\\c\\u00e9"', [LoadRule(Load(String('a"b\\cé')))]),
    ("scope backbone.layer1.0 { Conv2d -> kaiming; name conv2 }",
     [Scope(("backbone", "layer1", "0"), [LayerRule([Layer("Conv2d")], Call("kaiming")),
                                          NameRule("conv2")])]),
    ('scope a { scope "b" {} }', [Scope(("a",), [Scope(("b",))])]),
    ("\n\n;;A -> b;\n\n;C -> d;;\n", [LayerRule([Layer("A")], Call("b")),
                                      LayerRule([Layer("C")], Call("d"))]),
    ("", []),
    ("# only a comment", []),
]


@pytest.mark.parametrize("text, statements", PARSE_CASES)
def test_parse(text, statements):
    assert initdsl.parse(text).statements == tuple(statements)


def test_spans_are_one_based_and_carry_the_file_name():
    policy = initdsl.parse("\n  Conv2d -> kaiming(mode=fan_out)\n", filename="p.init")
    rule = policy.statements[0]
    assert rule.span == Span("p.init", 2, 3, 2, 34)
    assert str(rule.span) == "p.init:2:3"
    assert rule.init.name_span == Span("p.init", 2, 13, 2, 20)
    assert rule.init.args[0].span == Span("p.init", 2, 21, 2, 33)
    assert rule.init.args[0].value.span == Span("p.init", 2, 26, 2, 33)
    assert initdsl.parse("A -> b").statements[0].span.file == "<string>"


def test_spans_do_not_take_part_in_equality():
    assert initdsl.parse("A -> b", "x.init") == initdsl.parse("\n\nA   ->   b  \n", "y")
    assert initdsl.parse("A -> b") != initdsl.parse("A -> b  # comments are content")


def test_comments_attach_to_their_nodes():
    text = (
        "# file header\n"
        "\n"
        "Conv2d -> kaiming  # trailing\n"
        "# leading of name\n"
        "name conv2\n"
        "scope a {  # open\n"
        "    # leading inside\n"
        "    X -> y; Z -> w  # trailing of Z\n"
        "    # end of scope\n"
        "}  # after scope\n"
        "# end of file\n"
    )
    policy = initdsl.parse(text)
    rule, name, scope = policy.statements
    assert rule.comments == (Comment("# file header"),)
    assert rule.trailing_comment == Comment("# trailing")
    assert name.comments == (Comment("# leading of name"),)
    assert scope.open_comment == Comment("# open")
    assert scope.statements[0].comments == (Comment("# leading inside"),)
    assert scope.statements[0].trailing_comment is None
    assert scope.statements[1].trailing_comment == Comment("# trailing of Z")
    assert scope.end_comments == (Comment("# end of scope"),)
    assert scope.trailing_comment == Comment("# after scope")
    assert policy.end_comments == (Comment("# end of file"),)


def test_grammar_is_the_shipped_file():
    text = grammar_text()
    assert text.startswith("// ====")
    assert "layer_rule:" in text and "propagate" not in text


# -- formatting -------------------------------------------------------------------------------

FORMAT_CASES = [
    ("Conv2d->kaiming( mode = fan_out , )", "Conv2d -> kaiming(mode=fan_out)\n"),
    ("Conv2d , Linear->xavier()", "Conv2d, Linear -> xavier\n"),
    ("[ ] -> normal(0,0.02)", "[] -> normal(0, 0.02)\n"),
    ("A -> b(x=1e-5, y=1E3, z=-0.0, w=10.50)", "A -> b(x=1e-05, y=1000.0, z=-0.0, w=10.5)\n"),
    ('A -> b(x="fan_out", y="two words")', 'A -> b(x="fan_out", y="two words")\n'),
    ('"Conv2d", "my layer", "seed" -> b', 'Conv2d, "my layer", "seed" -> b\n'),
    ('name "conv2"; name "0" -> k; name "a b"', 'name conv2\nname 0 -> k\nname "a b"\n'),
    ('load  "x.pth"   prefix "b."  weights_only   false',
     'load "x.pth" prefix "b." weights_only false\n'),
    ("scope a . b {}", "scope a.b {}\n"),
    ("scope a { A -> b }", "scope a {\n    A -> b\n}\n"),
    ("scope a {\n\n\n  A -> b\n\n\n\n  C -> d\n\n}", "scope a {\n    A -> b\n\n    C -> d\n}\n"),
    ("\n\n# c\n\n\nA -> b\n\n\n", "# c\n\nA -> b\n"),
    ("A -> b # c\n#d\n", "A -> b  # c\n#d\n"),
    ("scope a { # open\n}", "scope a {  # open\n}\n"),
    ("scope a {} # after", "scope a {}  # after\n"),
    ("scope a {\n# only a comment\n}", "scope a {\n    # only a comment\n}\n"),
    ("", ""),
]


@pytest.mark.parametrize("text, expected", FORMAT_CASES)
def test_format(text, expected):
    assert initdsl.format(text) == expected
    assert initdsl.format(expected) == expected
    assert initdsl.parse(expected) == initdsl.parse(text)


def test_every_node_can_be_generated():
    assert generate(Float(0.1)) == "0.1"
    assert generate(Integer(-3)) == "-3"
    assert generate(String('a"b')) == '"a\\"b"'
    assert generate(Identifier("fan_in")) == "fan_in"
    assert generate(Boolean(True)) == "true"
    assert generate(Null()) == "none"
    assert generate(Arg("std", Float(0.02))) == "std=0.02"
    assert generate(Call("kaiming", [Arg(None, Integer(0))])) == "kaiming(0)"
    assert generate(Load(String("x"), [Option("prefix", String("b."))])) == 'load "x" prefix "b."'
    assert generate(Layer("my layer")) == '"my layer"'
    assert generate(NameRule("0", Call("xavier"))) == "name 0 -> xavier"
    assert generate(Scope(("a", "b"), [NameRule("c")])) == "scope a.b {\n    name c\n}"
    assert generate(Policy()) == ""
    with pytest.raises(ValueError, match="finite"):
        generate(Float(float("nan")))
    # Keywords are names except where the grammar takes the keyword.
    assert generate(LayerRule([Layer("Linear")], Call("load"))) == "Linear -> load"
    with pytest.raises(ValueError, match="cannot be written"):
        generate(NameRule("x", Call("load")))
    with pytest.raises(ValueError, match="cannot be written"):
        generate(Arg("true", Integer(1)))


# -- syntax errors ----------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ("Conv2d ->", "1:10", "expected an initializer name, found end of file"),
    ("Conv2d -> kaiming(mode=)", "1:24", "expected a value, found `)`"),
    ("Conv2d -> kaiming mode=fan_out", "1:19",
     "expected `then`, `(` or the end of the statement, found `mode`"),
    ("Conv2d kaiming", "1:8", "expected `,`, `->` or `.`, found `kaiming`"),
    ("x -> y(mode='a')", "1:13",
     "unexpected character `'`; expected a value (strings use double quotes)"),
    ("load prefix", "1:6", "expected a checkpoint path in double quotes, found `prefix`"),
    ("name -> xavier", "1:6", "expected a child name, found `->`"),
    ("scope { A -> b }", "1:7", "expected a module name, found `{`"),
    ("}", "1:1", "unmatched `}`: no scope is open here"),
    ("scope a {\n A -> b\n", "3:1",
     "expected `}`, found end of file (the scope opened on line 1 is not closed)"),
    ("A -> b(1 2)", "1:10", "expected an operator, `)` or `,`, found `2`"),
    ("A -> b(x=1,,)", "1:12", "expected a value or `)`, found `,`"),
    ("A -> b(1 +)", "1:11", "expected a number, a name or `(`, found `)`"),
    ("A -> b(std=sqrt(2)", "1:19", "expected `)` or `,`, found end of file"),
    ("name a.b -> k", "1:7", "expected `->` or the end of the statement, found `.`"),
]


@pytest.mark.parametrize("text, where, message", SYNTAX_ERRORS)
def test_syntax_error_messages(text, where, message):
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.parse(text)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E001"
    assert f"{diagnostic.span.line}:{diagnostic.span.column}" == where
    assert diagnostic.message == message
    for internal in ("__ANON", "RPAR", "LPAR", "_NL", "$END", "NAME", "STRING"):
        assert internal not in diagnostic.message


def test_syntax_errors_render_like_ruff():
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.parse("Conv2d -> kaiming\nLinear -> normal(std=)\n", filename="p.init")
    assert str(caught.value) == (
        "p.init:2:22: E001 expected a value, found `)`\n"
        "  |\n"
        "2 | Linear -> normal(std=)\n"
        "  |                      ^"
    )
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, initdsl.InitError)


def test_every_syntax_error_in_a_file_is_reported():
    text = (
        "Conv2d -> kaiming(\n"      # 1: broken
        "Linear -> xavier\n"        # 2: fine
        "BatchNorm2d constant(1)\n"  # 3: broken
        "scope head {\n"            # 4
        "    Conv2d -> -> normal\n"  # 5: broken
        "    name cls -> normal\n"  # 6: fine
        "}\n"
        "name x ->\n"               # 8: broken
    )
    policy, diagnostics = parse_recovering(text)
    assert [(d.code, d.span.line) for d in diagnostics] == [
        ("E001", 1), ("E001", 3), ("E001", 5), ("E001", 8)]
    # The statements around the broken ones are still there.
    assert policy.statements == (
        LayerRule([Layer("Linear")], Call("xavier")),
        Scope(("head",), [NameRule("cls", Call("normal"))]),
    )


def test_a_broken_scope_header_keeps_its_body():
    policy, diagnostics = parse_recovering("scope {\n  A -> b\n}\nC -> d\n")
    assert [d.span.line for d in diagnostics] == [1]
    assert [s.layers[0].name for s in policy.statements] == ["A", "C"]
