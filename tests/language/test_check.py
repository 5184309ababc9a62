"""Semantic checks: input → exact diagnostics (code, position, message), rendering, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit
from initdsl.core.registry import Registry
from initdsl.diagnostics import Diagnostic, Span
from initdsl.language.checker import Initializers, snake_case
from initdsl.language.codes import CODES

KNOWN = ("caffe2_xavier, constant, kaiming, keep, normal, ones, orthogonal, trunc_normal, "
         "uniform, variance_scaling, xavier, zeros")

CHECK_CASES = [
    # unknown initializer, with "did you mean"
    ("Conv2d -> kaimng", [("E101", "1:11", "unknown initializer `kaimng`; did you mean "
                           f"`kaiming`? (known: {KNOWN})")]),
    ("Conv2d -> Kaiming", [("E101", "1:11", "unknown initializer `Kaiming`; did you mean "
                            f"`kaiming`? (known: {KNOWN})")]),
    ("Conv2d -> TruncNormalInit", [("E101", "1:11", "unknown initializer `TruncNormalInit`; did "
                                    f"you mean `trunc_normal`? (known: {KNOWN})")]),
    ("[] -> pretrained", [("E103", "1:7", "`pretrained` is not a layer initializer; load "
                           'checkpoints with `load "path"`')]),
    # arguments
    ("Linear -> normal(sdt=0.1)", [("E110", "1:18", "unknown argument `sdt` for `normal`; did "
                                    "you mean `std`? (accepted: mean, std, bias, bias_prob)")]),
    ("Linear -> normal(layer=Conv2d)", [("E111", "1:18", "`layer` cannot be an argument: the "
                                         "classes a rule matches go left of `->` "
                                         "(`Conv2d, Linear -> ...`)")]),
    ("Linear -> normal(override=1)", [("E111", "1:18", "`override` cannot be an argument: write "
                                       "overrides as `name child -> ...` rules after the rule")]),
    ("Linear -> normal(type=Normal)", [("E111", "1:18", "`type` cannot be an argument: the "
                                        "initializer is the name being called")]),
    ("Linear -> normal(std=1, std=2)", [("E112", "1:25", "argument `std` is given more than "
                                         "once")]),
    ("Linear -> normal(0, mean=1)", [("E112", "1:21", "argument `mean` is given more than once")]),
    ("Linear -> normal(std=1, 0)", [("E113", "1:25", "positional argument after keyword "
                                     "arguments")]),
    ("Linear -> normal(0, 1, 2, 0.5, 9)", [("E114", "1:32", "too many positional arguments: "
                                            "`normal` takes at most 4 (mean, std, bias, "
                                            "bias_prob)")]),
    ("Linear -> caffe2_xavier(1, 0.5, 3)", [("E114", "1:33", "too many positional arguments: "
                                             "`caffe2_xavier` takes at most 2 (bias, "
                                             "bias_prob)")]),
    ("Linear -> constant(bias=1)", [("E115", "1:11", "`constant` is missing the required "
                                     "argument `val` (the first positional argument)")]),
    # values, as the initializer classes judge them
    ('Linear -> normal(std="big")', [("E120", "1:22", "Normal argument 'std' must be a number, "
                                      "got 'big'")]),
    ("Linear -> normal(bias_prob=1)", [("E120", "1:28", "NormalInit argument 'bias_prob' must "
                                        "be a float, got 1 (write 1.0 if you meant a float)")]),
    ("Conv2d -> kaiming(mode=fan_ot)", [("E121", "1:24", "Kaiming argument 'mode' must be one "
                                         "of fan_in, fan_out; got 'fan_ot'; did you mean "
                                         "`fan_out`?")]),
    ("Conv2d -> xavier(distribution=unifrom)",
     [("E121", "1:31", "Xavier argument 'distribution' must be one of normal, uniform; got "
       "'unifrom'; did you mean `uniform`?")]),
    ("Linear -> normal(std=-1)", [("E122", "1:22", "Normal argument 'std' must be >= 0, got "
                                   "-1")]),
    ("Linear -> uniform(1, 0)", [("E122", "1:11", "Uniform needs a <= b, got a=1, b=0")]),
    ("Linear -> normal(bias_prob=0.0)", [("E122", "1:28", "NormalInit argument 'bias_prob' "
                                          "must be in (0, 1], got 0.0")]),
    # every bad value of a call is reported, not just the first
    ("Conv2d -> kaiming(mode=x, nonlinearity=y, distribution=z)",
     [("E121", "1:24", "Kaiming argument 'mode' must be one of fan_in, fan_out; got 'x'"),
      ("E121", "1:40", "Kaiming argument 'nonlinearity' must be one of linear, conv1d, conv2d, "
       "conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, "
       "leaky_relu, selu; got 'y'"),
      ("E121", "1:56", "Kaiming argument 'distribution' must be one of normal, uniform; got "
       "'z'")]),
    # loads
    ('load "x.pth" prefx "a."', [("E130", "1:14", "unknown load option `prefx`; did you mean "
                                  "`prefix`? (options: prefix, map_location, weights_only)")]),
    ('load "x.pth" prefix "a." prefix "b."', [("E131", "1:26", "load option `prefix` is given "
                                               "more than once")]),
    ('load "x.pth" checkpoint "y"', [("E131", "1:14", "the checkpoint is already given right "
                                      "after `load`")]),
    ('load "x.pth" weights_only "no"', [("E132", "1:27", "Pretrained argument 'weights_only' "
                                         "must be True or False, got 'no'")]),
    ('load "x.pth" prefix 3', [("E132", "1:21", "Pretrained argument 'prefix' must be a str, "
                                "got 3")]),
    # name rules
    ("name conv2", [("E140", "1:6", "`name conv2` has no rule to inherit an initializer from; "
                     "give it one (`name conv2 -> kaiming`) or put it right after a layer rule "
                     "or load")]),
    ("scope a { Conv2d -> kaiming }\nname conv2",
     [("E140", "2:6", "`name conv2` has no rule to inherit an initializer from; give it one "
       "(`name conv2 -> kaiming`) or put it right after a layer rule or load")]),
    ('name backbone -> load "r50.pth"',
     [("E141", "1:1", "`name backbone -> load ...` has no rule to attach to; put it right after "
       "a layer rule or load, or load into the submodule with `scope backbone { load ... }`")]),
    ('Conv2d -> kaiming\nname "a.b"', [("E142", "2:6", "invalid child name 'a.b': a name rule "
                                        "names a direct child (no dotted paths; use a scope for "
                                        "deeper modules)")]),
    ('scope a."" {}', [("E150", "1:7", "invalid module name '' in a scope path: names are "
                        "non-empty and hold no `.` (write `a.b` for nested modules)")]),
    # `seed` is a statement: a class called so is quoted
    ("seed -> kaiming", [("E001", "1:6", "expected an integer, found `->`")]),
    # valid policies have no findings
    ('"seed" -> kaiming', []),
    ("Conv2d -> kaiming(0, FAN_IN, leaky_relu, uniform, 0.5, 0.01)", []),
    ('[] -> kaiming\nname x\nload "y"\nname x\nname z -> load "w" prefix "z."', []),
    ("Conv2d -> kaiming\nname 0\nname 1 -> xavier(gain=2)", []),
]


def _found(text):
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile(text)
    return [(d.code, f"{d.span.line}:{d.span.column}", d.message)
            for d in caught.value.diagnostics]


@pytest.mark.parametrize("text, expected", CHECK_CASES)
def test_check(text, expected):
    if not expected:
        assert initdsl.check(initdsl.parse(text)) == []
        initdsl.compile(text)
        return
    assert _found(text) == expected


def test_all_errors_of_a_file_are_reported_in_order():
    text = (
        "Conv2d -> kaiming(mode=fan_ot\n"        # syntax: unclosed
        "Linear -> normal(sdt=0.1)\n"            # unknown argument
        "name head\n"                            # fine: attaches to the Linear rule
        "scope neck {\n"
        "    Conv2d -> xavier(gain=one)\n"      # wrong type
        "    BatchNorm2d -> constnt(1)\n"        # unknown initializer
        "}\n"
        'load "x.pth" prefix "a." prefix "b."\n'  # duplicate option
    )
    assert [(code, where) for code, where, _ in _found(text)] == [
        ("E001", "1:30"), ("E110", "2:18"), ("E120", "5:27"), ("E101", "6:20"), ("E131", "8:26")]


def test_diagnostics_render_like_ruff():
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile("Conv2d -> kaiming\nLinear -> normal(sdt=0.1)\n", filename="p.init")
    assert str(caught.value) == (
        "p.init:2:18: E110 unknown argument `sdt` for `normal`; did you mean `std`? "
        "(accepted: mean, std, bias, bias_prob)\n"
        "  |\n"
        "2 | Linear -> normal(sdt=0.1)\n"
        "  |                  ^^^^^^^"
    )


def test_rendering_keeps_tabs_and_clips_to_the_line():
    span = initdsl.parse("\tA -> x", "f").statements[0].init.name_span
    diagnostic = Diagnostic("E101", "m", span)
    assert diagnostic.render("\tA -> x") == "f:1:7: E101 m\n  |\n1 | \tA -> x\n  | \t     ^"
    assert diagnostic.render(None) == "f:1:7: E101 m"
    assert Diagnostic("E001", "m", None).render("x") == "<policy>: E001 m"


def test_policy_error_is_an_init_error_and_a_value_error():
    with pytest.raises(ValueError):
        initdsl.compile("X -> nope")
    with pytest.raises(initdsl.InitError):
        initdsl.compile("X -> nope")


def test_codes_are_stable_and_documented(docs_language):
    for code, title in CODES.items():
        assert f"`{code}`" in docs_language, f"{code} ({title}) is not documented"


# -- the registry decides the vocabulary -----------------------------------------------------


def test_snake_case():
    assert [snake_case(n) for n in ("Kaiming", "TruncNormal", "Caffe2Xavier", "HTTPInit",
                                    "Orthogonal", "already_snake")] == [
        "kaiming", "trunc_normal", "caffe2_xavier", "http_init", "orthogonal", "already_snake"]


def test_user_registered_initializers_are_available_and_checked():
    registry = Registry("test")
    for name, cls in WEIGHT_INITIALIZERS.items():
        registry.register_module(name=name, module=cls)

    @registry.register_module()
    class ScaledOrthogonal(BaseInit):
        def __init__(self, gain: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            if gain <= 0:
                raise ValueError(f"ScaledOrthogonal argument 'gain' must be > 0, got {gain}")
            self.gain = gain

        def init_weight(self, weight):
            torch.nn.init.orthogonal_(weight, gain=self.gain)

    assert initdsl.compile("Linear -> scaled_orthogonal(2.0)", registry=registry) == [
        dict(type="ScaledOrthogonal", layer="Linear", gain=2.0)]
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile("Linear -> scaled_orthogonal(gain=-1)", registry=registry)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.span.column) == ("E122", 34)
    assert "must be > 0" in diagnostic.message
    assert initdsl.decompile([dict(type=ScaledOrthogonal, layer="Linear", gain=0.5)],
                             registry=registry) == "Linear -> scaled_orthogonal(gain=0.5)\n"


def test_repeated_calls_are_each_checked():
    # Each distinct call is built once per check; a cached success must not
    # hide a failure of a call that differs only in a value or its type.
    text = ("a -> kaiming(mode=fan_out)\nb -> kaiming(mode=fan_out)\n"
            "c -> kaiming(mode=fan)\nd -> kaiming(mode=fan)\n"
            "e -> constant(1)\nf -> constant(\"1\")\n")
    assert [(code, line) for code, line, _ in _found(text)] == [
        ("E121", "3:19"), ("E121", "4:19"), ("E120", "6:15")]


def test_user_initializers_are_checked_for_every_layer_list():
    registry = Registry("test")

    @registry.register_module()
    class OnlyLinear(BaseInit):
        """Refuses any layer but Linear: it looks at the names, as initdsl's own never do."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if self.layer not in ([], ["Linear"]):
                raise ValueError(f"OnlyLinear argument 'layer' must be Linear, got {self.layer}")

        def init_weight(self, weight):
            torch.nn.init.zeros_(weight)

    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile("Linear -> only_linear\nConv2d -> only_linear", registry=registry)
    assert [(d.code, d.span.line) for d in caught.value.diagnostics] == [("E122", 2)]


def test_snake_case_collisions_are_an_error_when_used():
    registry = Registry("test")
    registry.register_module(name="MyInit", module=initdsl.ConstantInit)
    registry.register_module(name="My_Init", module=initdsl.NormalInit)
    registry.register_module(name="Normal", module=initdsl.NormalInit)
    assert Initializers.of(registry).words["my_init"] == ("MyInit", "My_Init")
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.compile("Linear -> my_init(1)", registry=registry)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E102"
    assert "'MyInit', 'My_Init'" in diagnostic.message
    assert initdsl.compile("Linear -> normal", registry=registry) == [
        dict(type="Normal", layer="Linear")]


# -- checks that need the model -----------------------------------------------------------------


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 1, 1))
        self.head = nn.Linear(1, 1)


def test_scopes_and_names_must_exist_in_the_model():
    model = _Net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    text = ("Linear -> normal\nname haed\nscope backbone.1 { Conv2d -> kaiming }\n"
            "scope backbone { name 0 -> xavier; name 1 -> xavier }\n")
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.apply(model, text)
    assert [(d.code, d.span.line, d.span.column, d.message)
            for d in caught.value.diagnostics] == [
        (
            "E171", 2, 6, "_Net has no child module `haed`; did you mean `head`? (children: "
            "backbone, head)"),
        ("E170", 3, 7, "the model (_Net) has no submodule `backbone.1`; did you mean "
         "`backbone.0`?"),
        ("E171", 4, 41, "`backbone` (Sequential) has no child module `1` (children: 0)"),
    ]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), "nothing may be written before the checks pass"


def test_rendering_one_by_one_shows_each_text_its_own_line():
    # render() keeps the last texts' lines (so n renders of one long text split
    # it once); texts that differ, even equal ones built apart, never mix.
    span = Span("f", 1, 1, 1, 2)
    diagnostic = Diagnostic("E101", "m", span)
    texts = ["a -> x", "b -> y", "".join(["a", " -> x"]), "c -> z\n"]
    for text in texts * 2:
        assert diagnostic.render(text).split("\n")[2] == f"1 | {text.splitlines()[0]}"


def test_messages_escape_lone_surrogates():
    # "\ud800" is a valid escape in a policy string; a message quoting the
    # decoded string must still encode as UTF-8 wherever it is written.
    diagnostic = Diagnostic("W201", "no class `\ud800` in torch.nn", Span("f", 1, 1, 1, 9))
    assert diagnostic.message == "no class `\\ud800` in torch.nn"
    assert str(initdsl.InitError("path \udfff missing")) == "path \\udfff missing"
    diagnostic.render('"\ud800" -> x').encode("utf-8")
