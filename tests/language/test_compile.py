"""Compiling policies to init_cfg and back: input → expected tables, and the source table."""

from __future__ import annotations

import pytest

import initdsl
from initdsl import KaimingInit, PretrainedInit, XavierInit
from initdsl.language.compiler import compile_policy

COMPILE_CASES = [
    # the design card
    ('Conv2d -> kaiming(mode=fan_out); name conv2 -> xavier; load "ckpt.pth"',
     [dict(type="Kaiming", layer="Conv2d", mode="fan_out",
           override=dict(name="conv2", type="Xavier")),
      dict(type="Pretrained", checkpoint="ckpt.pth")]),
    # layer rules
    ("Conv2d -> kaiming", [dict(type="Kaiming", layer="Conv2d")]),
    ("Conv2d, Linear -> xavier", [dict(type="Xavier", layer=["Conv2d", "Linear"])]),
    ("BatchNorm2d -> constant(1, bias=0)",
     [dict(type="Constant", layer="BatchNorm2d", val=1, bias=0)]),
    ("[] -> kaiming", [dict(type="Kaiming")]),
    ('"My Layer" -> caffe2_xavier', [dict(type="Caffe2Xavier", layer="My Layer")]),
    # positional arguments follow the initializer's declaration order
    ("Linear -> normal(0, 0.02)", [dict(type="Normal", layer="Linear", mean=0, std=0.02)]),
    ("Linear -> trunc_normal(0, 0.02, -0.04, 0.04)",
     [dict(type="TruncNormal", layer="Linear", mean=0, std=0.02, a=-0.04, b=0.04)]),
    ("Linear -> uniform(-1, 1, bias=0.5)",
     [dict(type="Uniform", layer="Linear", a=-1, b=1, bias=0.5)]),
    ("Conv2d -> kaiming(0, fan_in, leaky_relu, uniform)",
     [dict(type="Kaiming", layer="Conv2d", a=0, mode="fan_in", nonlinearity="leaky_relu",
           distribution="uniform")]),
    ("Conv2d -> xavier(2, uniform)",
     [dict(type="Xavier", layer="Conv2d", gain=2, distribution="uniform")]),
    ("Conv2d -> caffe2_xavier(0.5)", [dict(type="Caffe2Xavier", layer="Conv2d", bias=0.5)]),
    ("Conv2d -> normal(bias_prob=0.01)", [dict(type="Normal", layer="Conv2d", bias_prob=0.01)]),
    # values
    ('X -> constant(val=-1e-3, bias=true)', [dict(type="Constant", layer="X", val=-0.001,
                                                   bias=True)]),
    ('X -> kaiming(mode="fan_in")', [dict(type="Kaiming", layer="X", mode="fan_in")]),
    # name rules attach to the rule before them
    ("Conv2d -> kaiming\nname conv2", [dict(type="Kaiming", layer="Conv2d",
                                            override=dict(name="conv2"))]),
    ("Conv2d -> kaiming\nname conv2 -> xavier(gain=2)\n# a comment does not break the chain\n"
     "name 0\n\nname head -> constant(0)",
     [dict(type="Kaiming", layer="Conv2d",
           override=[dict(name="conv2", type="Xavier", gain=2), dict(name="0"),
                     dict(name="head", type="Constant", val=0)])]),
    ('load "r.pth"\nname backbone -> load "b.pth" prefix "backbone."\nname neck',
     [dict(type="Pretrained", checkpoint="r.pth",
           override=[dict(name="backbone", type="Pretrained", checkpoint="b.pth",
                          prefix="backbone."), dict(name="neck")])]),
    # a name rule with nothing to attach to carries only the override
    ("name conv2 -> xavier(gain=2)",
     [dict(type="Xavier", gain=2, override=dict(name="conv2"))]),
    ("name a -> xavier\nname b -> normal",
     [dict(type="Xavier", override=dict(name="a")), dict(type="Normal", override=dict(name="b"))]),
    # loads
    ('load "checkpoints/r50.pth" prefix "backbone." map_location "cpu"',
     [dict(type="Pretrained", checkpoint="checkpoints/r50.pth", prefix="backbone.",
           map_location="cpu")]),
    ('load "x.pth" weights_only false map_location none',
     [dict(type="Pretrained", checkpoint="x.pth", weights_only=False, map_location=None)]),
    ("", []),
    ("# nothing but comments\n\n", []),
]

SCOPED_CASES = [
    ("Conv2d -> kaiming\nscope backbone { Conv2d -> xavier; load \"b.pth\" }",
     {"": [dict(type="Kaiming", layer="Conv2d")],
      "backbone": [dict(type="Xavier", layer="Conv2d"),
                   dict(type="Pretrained", checkpoint="b.pth")]}),
    # only the scoped module is named; the planner lets the chain pass the
    # plain modules on its path (their own init_cfg, if any, is kept)
    ("scope backbone.layer1.0 { name conv2 -> constant(0) }",
     {"": [],
      "backbone.layer1.0": [dict(type="Constant", val=0, override=dict(name="conv2"))]}),
    # nested scopes concatenate; scopes of the same module add up in text order
    ("scope a { scope b { X -> kaiming }\nY -> kaiming }\nscope a.b { Z -> kaiming }",
     {"": [], "a": [dict(type="Kaiming", layer="Y")],
      "a.b": [dict(type="Kaiming", layer="X"), dict(type="Kaiming", layer="Z")]}),
    # a scope breaks a chain of name rules
    ("Conv2d -> kaiming\nscope a {}\nname x -> xavier",
     {"": [dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", override=dict(name="x"))],
      "a": []}),
    ('scope "0" { [] -> normal }', {"": [], "0": [dict(type="Normal")]}),
]


@pytest.mark.parametrize("text, expected", COMPILE_CASES + SCOPED_CASES)
def test_compile(text, expected):
    assert initdsl.compile(text) == expected
    # the compiled form is plain data; decompiling it gives a policy that compiles the same
    assert initdsl.compile(initdsl.decompile(expected)) == expected


def test_compile_accepts_a_parsed_policy_and_returns_fresh_data():
    policy = initdsl.parse("Conv2d -> kaiming")
    first = initdsl.compile(policy)
    first[0]["mode"] = "changed"
    assert initdsl.compile(policy) == [dict(type="Kaiming", layer="Conv2d")]


def test_sources_map_every_cfg_and_override_to_its_rule():
    text = ("Conv2d -> kaiming\n"         # ("", 0, None)
            "name conv2 -> xavier\n"      # ("", 0, 0)
            "name conv3\n"                # ("", 0, 1)
            "name head -> normal\n"       # ("", 0, 2): still the chain of line 1
            "scope neck {\n"
            "  name lateral -> xavier\n"  # ("neck", 0, None) and ("neck", 0, 0)
            '  load "n.pth"\n'            # ("neck", 1, None)
            "}\n")
    compiled = compile_policy(text, "p.init")
    where = {key: str(span) for key, span in compiled.sources.items()}
    assert where == {
        ("", 0, None): "p.init:1:1",
        ("", 0, 0): "p.init:2:1",
        ("", 0, 1): "p.init:3:1",
        ("", 0, 2): "p.init:4:1",
        ("neck", 0, None): "p.init:6:3",
        ("neck", 0, 0): "p.init:6:3",
        ("neck", 1, None): "p.init:7:3",
    }
    assert str(compiled.source_of("neck", 1, None)) == "p.init:7:3"
    assert compiled.source_of("nowhere", 0, None) is None


# -- decompiling --------------------------------------------------------------------------------

DECOMPILE_CASES = [
    (dict(type="Kaiming", layer="Conv2d"), "Conv2d -> kaiming\n"),
    ([dict(type="Kaiming", layer=["Conv2d", "Linear"])], "Conv2d, Linear -> kaiming\n"),
    ([dict(type="Kaiming", layer=["Conv2d"], override=dict(name="conv2", type="Xavier"))],
     "Conv2d -> kaiming\nname conv2 -> xavier\n"),
    (dict(type="Xavier", gain=2, override=dict(name="conv2")), "name conv2 -> xavier(gain=2)\n"),
    # after a rule a standalone name rule would attach to it: spell the layer-less cfg with []
    ([dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", override=dict(name="conv2"))],
     "Conv2d -> kaiming\n[] -> xavier\nname conv2\n"),
    ([dict(type="Normal", layer=None), dict(type="Normal", layer=[])],
     "[] -> normal\n[] -> normal\n"),
    (dict(type="Constant", val=1, bias=0, layer=["_BatchNorm", "GroupNorm"]),
     "_BatchNorm, GroupNorm -> constant(1, bias=0)\n"),
    (dict(type="Normal", mean=0, std=0.01, bias_prob=0.01, layer="Conv2d"),
     "Conv2d -> normal(mean=0, std=0.01, bias_prob=0.01)\n"),
    (dict(type="Constant", layer="X", val=1, override=[dict(name="a"), dict(name="0", type="Normal",
                                                                           std=0.5, layer="Y")]),
     "X -> constant(1)\nname a\nname 0 -> normal(std=0.5)\n"),
    (dict(type=KaimingInit, layer="Conv2d", mode="fan_in",
          override=dict(name="c", type=XavierInit)),
     "Conv2d -> kaiming(mode=fan_in)\nname c -> xavier\n"),
    (dict(type="Pretrained", checkpoint="x.pth"), 'load "x.pth"\n'),
    (dict(type=PretrainedInit, checkpoint="x.pth", prefix="backbone.", map_location="cpu",
          weights_only=False),
     'load "x.pth" prefix "backbone." map_location cpu weights_only false\n'),
    (dict(type="Pretrained", checkpoint="x.pth", override=dict(name="b")),
     'load "x.pth"\nname b\n'),
    (dict(type="Kaiming", layer="C", override=dict(name="backbone", type="Pretrained",
                                                   checkpoint="b.pth", prefix="backbone.")),
     'C -> kaiming\nname backbone -> load "b.pth" prefix "backbone."\n'),
    (dict(type="Constant", layer=["Weird Name", "seed", "true"], val=1),
     '"Weird Name", "seed", "true" -> constant(1)\n'),
    (dict(type="Pretrained", checkpoint="a b.pth", prefix="my prefix."),
     'load "a b.pth" prefix "my prefix."\n'),
    (dict(type="Constant", layer="X", val=-0.0, bias=1e-07), "X -> constant(-0.0, bias=1e-07)\n"),
    ([], ""),
    (None, ""),
    # an empty scope is kept: it replaces the module's own init_cfg with nothing
    ({"": [dict(type="Kaiming", layer="Conv2d")], "backbone": [], "backbone.layer1": dict(
        type="Constant", val=0, override=dict(name="bn3"))},
     "Conv2d -> kaiming\nscope backbone {}\nscope backbone.layer1 {\n    name bn3 -> constant(0)\n}\n"),
    ({"head": [], "": []}, "scope head {}\n"),
]


@pytest.mark.parametrize("init_cfg, text", DECOMPILE_CASES)
def test_decompile(init_cfg, text):
    assert initdsl.decompile(init_cfg) == text
    assert initdsl.format(text) == text


@pytest.mark.parametrize("init_cfg, error", [
    ("Kaiming", "must be a dict"),
    ([dict(layer="Conv2d")], "no 'type'"),
    ([dict(type="Kaimnig")], "not registered"),
    ([dict(type=dict)], "not a registered initializer class"),
    ([dict(type="Kaiming", layer=("Conv2d",))], "'layer' must be a str or a list"),
    ([dict(type="Constant", val=float("inf"))], "finite"),
    ([dict(type="Constant", val=(1, 2))], "'val' must be a number"),
    ([dict(type="Normal", lbias_prob=0.01)], "unexpected argument 'lbias_prob'"),
    ([dict(type="Kaiming", override="conv2")], "override must be a dict"),
    ([dict(type="Kaiming", override=dict(type="Xavier"))], "needs a 'name'"),
    ([dict(type="Kaiming", override=dict(name="a", gain=1))], "but no 'type'"),
    ([dict(type="Pretrained")], "missing the required argument 'checkpoint'"),
    ({"a..b": []}, "invalid module path"),
])
def test_decompile_rejects_what_a_policy_cannot_mean(init_cfg, error):
    with pytest.raises(initdsl.InitError, match=error):
        initdsl.decompile(init_cfg)
