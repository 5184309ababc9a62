"""``param`` rules: parameter-level targets with qualified-name patterns, through every stage.

Tables of input → expected output (parse/format, compile, check, decompile),
then runs against real tensors: the bytes exact mode writes, the patterns'
order and ties, fast mode, and atomicity on every new error.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo
from initdsl.core.patterns import parameter_pattern

FORMAT = [
    ("param pos_embed->trunc_normal( std=0.02 )", "param pos_embed -> trunc_normal(std=0.02)\n"),
    ("param blocks . * . attn.proj.weight -> normal", "param blocks.*.attn.proj.weight -> normal\n"),
    ('param "my param" -> constant(1)  # c', 'param "my param" -> constant(1)  # c\n'),
    ('param "w*"."0".load -> constant(1)', "param w*.0.load -> constant(1)\n"),
    ("scope head {param ** -> zeros}", "scope head {\n    param ** -> zeros\n}\n"),
    ("param name.scope.true -> x", "param name.scope.true -> x\n"),
    ("Linear . bias->constant(0)", "Linear.bias -> constant(0)\n"),
    ('"name".w*->x', '"name".w* -> x\n'),
    ("scope a { LSTM.weight_ih_l* -> xavier }", "scope a {\n    LSTM.weight_ih_l* -> xavier\n}\n"),
]


@pytest.mark.parametrize("text, canonical", FORMAT)
def test_format(text, canonical):
    assert initdsl.format(text) == canonical
    assert initdsl.parse(canonical) == initdsl.parse(text)


COMPILE = [
    ("param pos_embed -> trunc_normal(std=0.02)",
     [dict(type="Select", params="pos_embed", init=dict(type="TruncNormal", std=0.02))]),
    ("param **.c_proj.weight -> normal(0, 0.01)",
     [dict(type="Select", params="**.c_proj.weight", init=dict(type="Normal", mean=0,
                                                               std=0.01))]),
    # A name rule after a param rule stands alone: it cannot inherit from it.
    ("Linear -> normal\nparam fc.bias -> constant(1)\nname head -> constant(0)",
     [dict(type="Normal", layer="Linear"),
      dict(type="Select", params="fc.bias", init=dict(type="Constant", val=1)),
      dict(type="Constant", val=0, override=dict(name="head"))]),
    ("Linear.weight -> normal(std=0.02)\nLinear.bias -> constant(0)",
     [dict(type="Select", layer="Linear", params="weight", init=dict(type="Normal", std=0.02)),
      dict(type="Select", layer="Linear", params="bias", init=dict(type="Constant", val=0))]),
    ("scope head { param * -> constant(val=2) }",
     {"": [], "head": [dict(type="Select", params="*", init=dict(type="Constant", val=2))]}),
]


@pytest.mark.parametrize("text, expected", COMPILE)
def test_compile_and_decompile(text, expected):
    compiled = initdsl.compile(text)
    assert compiled == expected
    assert initdsl.compile(initdsl.decompile(compiled)) == compiled


CHECK = [
    ("param a -> normal(bias=1)", "E111", (1, 19)),
    ("param a -> constant(1, 0)", "E111", (1, 24)),
    ("param a -> normal(bias_prob=0.1)", "E111", (1, 19)),
    ('param "" -> normal', "E150", (1, 7)),
    ("param a.x**.b -> normal", "E150", (1, 7)),
    ('param "a.b" -> normal', "E150", (1, 7)),
    ("param a -> load", "E101", (1, 12)),
    ("param a -> select", "E101", (1, 12)),
    ("param a -> nope", "E101", (1, 12)),
    ("param fc.weight -> normal\nname x", "E140", (2, 6)),
    ("param -> normal", "E001", (1, 7)),
    ("param a. -> normal", "E001", (1, 10)),
    ("param a b -> normal", "E001", (1, 9)),
    ("Linear.bias -> normal(bias=0)", "E111", (1, 23)),
    ("seed.bias -> normal", "E001", (1, 5)),
    ("Linear. -> normal", "E001", (1, 9)),
    ("name.x -> normal", "E001", (1, 5)),
]


@pytest.mark.parametrize("text, code, position", CHECK)
def test_errors_point_at_the_cause(text, code, position):
    with pytest.raises(initdsl.PolicyError) as raised:
        initdsl.compile(text)
    first = raised.value.diagnostics[0]
    assert (first.code, (first.span.line, first.span.column)) == (code, position)


DECOMPILE_REFUSES = [
    dict(type="Select", params="a..b", init=dict(type="Normal")),
    dict(type="Select", params="a", init=dict(type="Normal", bias=1)),
    dict(type="Select", params="a", init=dict(type="Normal"), override=dict(name="x")),
    dict(type="Select", params="a", init=dict(type="Pretrained", checkpoint="x.pth")),
    dict(type="Select", params="a", init=dict(type="Normal", std=-1)),
    dict(type="Select", params=3, init=dict(type="Normal")),
    dict(type="Select", params="a"),
    dict(type="Select", layer=3, params="bias", init=dict(type="Normal")),
    dict(type="Select", init=dict(type="Normal")),
    dict(type="Select", layer=[], init=dict(type="Normal")),
]

# A run takes these, but no policy compiles to them: decompiling says so.
NO_SPELLING = [
    dict(type="Select", layer=["Linear", "Conv2d"], params="bias", init=dict(type="Normal")),
    dict(type="Select", layer="Linear", init=dict(type="Normal")),  # plain names: a layer rule
]


@pytest.mark.parametrize("cfg", NO_SPELLING)
def test_decompile_refuses_what_no_policy_compiles_to(cfg):
    with pytest.raises(initdsl.InitError):
        initdsl.decompile(cfg)
    initdsl.initialize(_Vit(), cfg)


@pytest.mark.parametrize("cfg", DECOMPILE_REFUSES)
def test_decompile_refuses_what_a_run_refuses(cfg):
    with pytest.raises(initdsl.InitError):
        initdsl.decompile(cfg)
    with pytest.raises(initdsl.InitError):
        initdsl.initialize(_Vit(), cfg)


PATTERNS = [
    ("pos_embed", "pos_embed", True),
    ("pos_embed", "x.pos_embed", False),
    ("blocks.*.attn.proj.weight", "blocks.3.attn.proj.weight", True),
    ("blocks.*.attn.proj.weight", "blocks.3.x.attn.proj.weight", False),
    ("**.c_proj.weight", "c_proj.weight", True),
    ("**.c_proj.weight", "h.0.mlp.c_proj.weight", True),
    ("**.c_proj.weight", "h.0.mlp.c_proj.bias", False),
    ("*_proj.weight", "q_proj.weight", True),
    ("*_proj.weight", "a.q_proj.weight", False),
    ("weight_ih_l*", "weight_ih_l0", True),
    ("a.**", "a", False),
    ("a.**", "a.b.c", True),
    ("a+b", "a+b", True),  # only `*` is special
    ("a+b", "aab", False),
]


@pytest.mark.parametrize("pattern, name, matches", PATTERNS)
def test_pattern_matching(pattern, name, matches):
    assert bool(parameter_pattern(pattern).fullmatch(name)) is matches


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gamma = nn.Parameter(torch.ones(4))


class _Vit(nn.Module):
    def __init__(self, tied: bool = False) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))
        self.blocks = nn.Sequential(_Block(), _Block())
        self.head = nn.Linear(4, 2)
        if tied:
            self.blocks[1].fc.weight = self.blocks[0].fc.weight
        self.register_buffer("position_ids", torch.arange(3))


def _bytes(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_exact_mode_writes_what_the_torch_calls_write():
    policy = ("param pos_embed -> trunc_normal(std=0.02)\n"
              "param cls_token -> normal(std=1e-6)\n"
              "param blocks.*.gamma -> constant(1e-5)\n")
    torch.manual_seed(1)  # the same constructor values in both models
    model = _Vit()
    torch.manual_seed(7)
    prov = initdsl.apply(model, policy, filename="p.init")
    torch.manual_seed(1)
    reference = _Vit()
    torch.manual_seed(7)
    # mmengine's (and timm's) trunc_normal_ is the inverse-CDF one initdsl implements.
    from initdsl.core.functional import trunc_normal_
    trunc_normal_(reference.pos_embed, std=0.02)
    nn.init.normal_(reference.cls_token, std=1e-6)
    for block in reference.blocks:
        nn.init.constant_(block.gamma, 1e-5)
    assert all(torch.equal(a, b) for a, b in zip(_bytes(model).values(),
                                                 _bytes(reference).values()))
    assert str(prov["pos_embed"].origin) == "p.init:1:1"
    assert str(prov["blocks.1.gamma"].origin) == "p.init:3:1"
    # no bias is written by a param rule, and what it does not name is untouched
    assert torch.equal(model.head.bias, reference.head.bias)


def test_matches_run_in_walk_order_and_a_tied_tensor_is_written_once():
    torch.manual_seed(1)
    model = _Vit(tied=True)
    torch.manual_seed(0)
    initdsl.apply(model, "param **.weight -> normal(std=1)")
    after = torch.rand(1)
    torch.manual_seed(1)
    reference = _Vit(tied=True)
    torch.manual_seed(0)
    # Post-order, as every rule: blocks.0.fc, (blocks.1.fc: the same tensor), head.
    nn.init.normal_(reference.blocks[0].fc.weight)
    nn.init.normal_(reference.head.weight)
    assert torch.equal(after, torch.rand(1))  # no more draws than two
    assert torch.equal(model.blocks[0].fc.weight, reference.blocks[0].fc.weight)
    assert torch.equal(model.head.weight, reference.head.weight)
    assert model.blocks[1].fc.weight is model.blocks[0].fc.weight


def test_fast_mode_and_materialize_agree_and_are_keyed_by_name():
    policy = "param pos_embed -> trunc_normal(std=0.02)\nparam blocks.*.fc.weight -> normal\n"
    a, b = _Vit(), _Vit()
    initdsl.apply(a, policy, mode="fast", seed=3)
    initdsl.apply(b, "param blocks.*.fc.weight -> normal\nparam pos_embed -> trunc_normal("
                     "std=0.02)", mode="fast", seed=3)
    # Keyed by name: the rules' order does not change a value.
    for name in ("pos_embed", "blocks.0.fc.weight", "blocks.1.fc.weight"):
        assert torch.equal(_bytes(a)[name], _bytes(b)[name])
    with torch.device("meta"):
        meta = _Vit()
    with pytest.warns(UserWarning):  # position_ids: no rule writes the buffer
        built = initdsl.materialize(meta, policy, seed=3)
    assert torch.equal(built.pos_embed, a.pos_embed)
    assert torch.equal(built.blocks[1].fc.weight, a.blocks[1].fc.weight)


@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize("policy, code", [
    ("Linear -> constant(2)\nparam * -> constant(1)", "E240"),        # matches a buffer
    ("Linear -> constant(2)\nparam blocks.*.gamma -> xavier", "E240"),  # 1-D: no fans
    ("Linear -> constant(2)\nparam cls_token -> constant(1e39)", "E122"),
])
def test_errors_write_nothing(policy, code, mode):
    model = _Vit()
    before = _bytes(model)
    with pytest.raises(initdsl.PolicyError) as raised:
        initdsl.apply(model, policy, mode=mode, seed=0)
    assert raised.value.diagnostics[0].code == code
    assert raised.value.diagnostics[0].span.line == 2
    assert all(torch.equal(before[k], v) for k, v in _bytes(model).items())


def test_explain_names_the_rule_of_each_parameter():
    from initdsl.language.compiler import compile_policy
    from initdsl.tools.explain import explain

    compiled = compile_policy("param pos_embed -> trunc_normal(std=0.02)\nLinear -> normal",
                              "p.init")
    with torch.device("meta"):
        model = _Vit()
    explanation = explain(model, compiled)
    by_name = {p.name: p for p in explanation.parameters}
    assert str(by_name["pos_embed"].final.origin) == "p.init:1:1"
    assert by_name["cls_token"].final is None


def test_class_qualified_rules_write_each_matched_modules_own_tensors():
    torch.manual_seed(1)
    model = _Vit()
    torch.manual_seed(0)
    initdsl.apply(model, "Linear.weight -> normal(std=2)\nLinear.bias -> constant(0.5)\n"
                         "_Block.gamma -> constant(3)")
    torch.manual_seed(1)
    reference = _Vit()
    torch.manual_seed(0)
    for linear in (reference.blocks[0].fc, reference.blocks[1].fc, reference.head):
        nn.init.normal_(linear.weight, std=2)  # post-order: blocks.0.fc, blocks.1.fc, head
    assert torch.equal(model.head.weight, reference.head.weight)
    assert torch.equal(model.blocks[1].fc.weight, reference.blocks[1].fc.weight)
    assert all(torch.equal(m.bias, torch.full_like(m.bias, 0.5))
               for m in (model.head, model.blocks[0].fc))
    assert torch.equal(model.blocks[0].gamma, torch.full((4,), 3.0))
    assert torch.equal(model.pos_embed, reference.pos_embed)  # not named: untouched


def test_a_class_qualified_pattern_that_matches_a_buffer_writes_nothing():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    before = _bytes(model)
    with pytest.raises(initdsl.PolicyError) as raised:
        initdsl.apply(model, "Linear -> constant(1)\nBatchNorm1d.running_* -> constant(0)")
    assert raised.value.diagnostics[0].code == "E240"
    assert "1.running_mean" in raised.value.diagnostics[0].message
    assert all(torch.equal(before[k], v) for k, v in _bytes(model).items())


def test_tied_tensor_is_written_once_and_answers_for_both_names():
    model = zoo.gpt(vocab=50, dim=16, depth=1, heads=2, mlp=32, tie=True)
    records = initdsl.apply(model, "Embedding -> normal(std=0.02)\nparam head.weight -> keep")
    assert records.tied("head.weight") == ("tok_emb.weight", "head.weight")
    assert records.tied("pos_emb.weight") == ("pos_emb.weight",)
    assert records["head.weight"].writer == "Keep"  # the last rule, through either name
    with pytest.raises(KeyError):
        records.tied("nope")


def test_lint_warns_when_rules_disagree_on_a_tied_tensor():
    from initdsl.tools.lint import lint

    model = zoo.gpt(vocab=50, dim=16, depth=1, heads=2, mlp=32, tie=True)
    text = "Linear -> normal(std=0.01)\nEmbedding -> normal(std=0.02)\n"
    codes = [(d.code, d.span.line) for d in lint(text, "t.init", model).diagnostics]
    assert ("W213", 1) in codes
    agreeing = "Linear, Embedding -> normal(std=0.02)\n"
    assert "W213" not in [d.code for d in lint(agreeing, "t.init", model).diagnostics]


def test_lint_without_a_model_does_not_call_class_patterns_unknown():
    from initdsl.tools.lint import lint

    codes = [d.code for d in lint("*LayerNorm*, *RMSNorm* -> ones\nNotAClass -> zeros\n",
                                  "p.init").diagnostics]
    assert codes == ["W201"]  # only the plain name
