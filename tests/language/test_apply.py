"""Applying policies: same bytes as the hand-written init_cfg through the core (and mmengine),
provenance by file:line:col, the examples, and the phase order of scopes and loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo
from initdsl.core.runner import run_scoped
from initdsl.language.compiler import runtime_types

from .models import (
    assert_same_state,
    detector,
    toy_custom,
    toy_linear_conv,
    toy_pretrained,
    toy_two_convs,
    vit,
    writers,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

DESIGN_CARD = 'Conv2d -> kaiming(mode=fan_out); name conv2 -> xavier; load "ckpt.pth"'
DESIGN_CFG = [
    dict(type="Kaiming", layer="Conv2d", mode="fan_out",
         override=dict(name="conv2", type="Xavier")),
    dict(type="Pretrained", checkpoint="ckpt.pth"),
]


def _mmengine_base():
    mmengine_model = pytest.importorskip("mmengine.model")
    return mmengine_model.BaseModule


def _partial_checkpoint(path: Path) -> None:
    """A checkpoint with conv1 only, so the initializers' writes to conv2 stay visible."""
    torch.manual_seed(123)
    donor = toy_two_convs()
    torch.save({k: v for k, v in donor.state_dict().items() if k.startswith("conv1.")}, path)


def test_design_card_compiles_to_the_expected_init_cfg():
    assert initdsl.compile(DESIGN_CARD) == DESIGN_CFG


def test_design_card_applies_like_the_core(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _partial_checkpoint(tmp_path / "ckpt.pth")
    torch.manual_seed(0)
    by_policy, by_run_scoped, by_init_weights = toy_two_convs(), toy_two_convs(), toy_two_convs()
    for model in (by_run_scoped, by_init_weights):
        model.load_state_dict(by_policy.state_dict())
    by_init_weights.init_cfg = DESIGN_CFG

    torch.manual_seed(1)
    prov = initdsl.apply(by_policy, DESIGN_CARD)
    after_policy = torch.get_rng_state()
    torch.manual_seed(1)
    run_scoped(by_run_scoped, {"": DESIGN_CFG})
    torch.manual_seed(1)
    by_init_weights.init_weights()

    assert torch.equal(after_policy, torch.get_rng_state())
    assert_same_state(by_policy, by_run_scoped)
    assert_same_state(by_policy, by_init_weights)
    assert writers(by_policy) == writers(by_init_weights) == {
        "conv1.weight": "Pretrained", "conv1.bias": "Pretrained",
        "conv2.weight": "Xavier", "conv2.bias": "Xavier"}
    assert {name: str(record.origin) for name, record in prov.items()} == {
        "conv1.weight": "<string>:1:56", "conv1.bias": "<string>:1:56",
        "conv2.weight": "<string>:1:34", "conv2.bias": "<string>:1:34"}


@pytest.mark.mmengine
def test_design_card_matches_mmengine(tmp_path, monkeypatch):
    base = _mmengine_base()
    from mmengine.model import initialize as mm_initialize

    monkeypatch.chdir(tmp_path)
    _partial_checkpoint(tmp_path / "ckpt.pth")
    torch.manual_seed(0)
    ours = toy_two_convs()
    torch.manual_seed(0)
    theirs = toy_two_convs(base, init_cfg=DESIGN_CFG)
    torch.manual_seed(0)
    plain = toy_two_convs(base)
    torch.manual_seed(1)
    initdsl.apply(ours, DESIGN_CARD)
    torch.manual_seed(1)
    theirs.init_weights()
    torch.manual_seed(1)
    mm_initialize(plain, initdsl.compile(DESIGN_CARD))  # the compiled list, unchanged
    assert_same_state(ours, theirs)
    assert_same_state(ours, plain)


# -- the examples -----------------------------------------------------------------------------


def _save_pretrained(directory: Path) -> None:
    torch.manual_seed(7)
    torch.save(toy_pretrained().state_dict(), directory / "pretrained.pth")


def _save_resnet(directory: Path) -> None:
    torch.manual_seed(7)
    backbone = detector().backbone
    # An ImageNet checkpoint of the trunk, without the last stage's BatchNorms
    # (so the recipe's values show through there).
    state = {k: v for k, v in backbone.state_dict().items()
             if not (k.startswith("layer4") and ".bn" in k)}
    (directory / "checkpoints").mkdir()
    torch.save(state, directory / "checkpoints" / "resnet50.pth")


_TUTORIAL_OVERRIDE = [dict(type="Kaiming", layer=["Conv2d"],
                           override=dict(name="conv2", type="Xavier"))]

# file, model factory, keyword giving the hand-written init_cfg to the factory, setup
EXAMPLE_CASES = {
    "pretrained.init": (toy_pretrained, {"init_cfg": dict(type="Pretrained",
                                                          checkpoint="./pretrained.pth")},
                        _save_pretrained),
    "kaiming_conv_xavier_linear.init": (toy_linear_conv, {"init_cfg": [
        dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", layer="Linear")]}, None),
    "kaiming_conv_and_linear.init": (toy_linear_conv, {"init_cfg": [
        dict(type="Kaiming", layer=["Conv2d", "Linear"])]}, None),
    "override_conv2.init": (toy_two_convs, {"init_cfg": _TUTORIAL_OVERRIDE}, None),
    "custom_init_weights.init": (toy_custom, {"init_cfg": _TUTORIAL_OVERRIDE}, None),
    "resnet.init": (detector, {
        "backbone_cfg": [
            dict(type="Kaiming", layer="Conv2d", mode="fan_out", nonlinearity="relu"),
            dict(type="Constant", layer=["_BatchNorm", "GroupNorm"], val=1, bias=0),
            dict(type="Pretrained", checkpoint="checkpoints/resnet50.pth")],
        "neck_cfg": dict(type="Xavier", layer="Conv2d", distribution="uniform"),
        "head_cfg": dict(type="Normal", layer="Conv2d", std=0.01, override=dict(
            type="Normal", name="retina_cls", std=0.01, bias_prob=0.01)),
    }, _save_resnet),
    "vit.init": (vit, {"init_cfg": [
        dict(type="Select", params="pos_embed", init=dict(type="TruncNormal", std=0.02)),
        dict(type="Select", params="cls_token", init=dict(type="Normal", std=1e-6)),
        dict(type="TruncNormal", layer="Linear", std=0.02, bias=0),
        dict(type="Keep", layer=["Conv2d", "LayerNorm"])]}, None),
    "gpt.init": (lambda base=initdsl.BaseModule, init_cfg=None: _tiny_gpt(base, init_cfg), {
        "init_cfg": [dict(type="Normal", layer=["Linear", "Embedding"], std=0.02, bias=0),
                     dict(type="Constant", layer="LayerNorm", val=1, bias=0)]}, None),
}


def _tiny_gpt(base, init_cfg):
    kind = "initdsl" if base is initdsl.BaseModule else "mmengine"
    return zoo.gpt(vocab=64, dim=16, depth=2, heads=2, mlp=32, max_len=8, base=kind,
                   init_cfg=init_cfg)


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.init")) == sorted(EXAMPLE_CASES)


def _run_example(name, tmp_path, monkeypatch, base=initdsl.BaseModule):
    factory, hand_written, setup = EXAMPLE_CASES[name]
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    policy = initdsl.load(EXAMPLES / name)
    torch.manual_seed(0)
    by_policy = factory()
    torch.manual_seed(0)
    by_cfg = factory(base, **hand_written)
    torch.manual_seed(1)
    prov = initdsl.apply(by_policy, policy)
    rng = torch.get_rng_state()
    torch.manual_seed(1)
    by_cfg.init_weights()
    assert torch.equal(rng, torch.get_rng_state())
    assert_same_state(by_policy, by_cfg)
    return by_policy, by_cfg, prov


@pytest.mark.parametrize("name", sorted(EXAMPLE_CASES))
def test_example_applies_like_its_init_cfg(name, tmp_path, monkeypatch):
    by_policy, by_cfg, prov = _run_example(name, tmp_path, monkeypatch)
    assert writers(by_policy) == writers(by_cfg)
    assert any(record.writer is not None for record in prov.values())
    # Every rule-written parameter points at a rule line of the example file.
    lines = (EXAMPLES / name).read_text().split("\n")
    for record in prov.values():
        source = record.origin.source if record.origin is not None else None
        if source is None:
            continue  # written by user code (a custom init_weights)
        assert source.file == str(EXAMPLES / name)
        line = lines[source.line - 1][source.column - 1:]
        assert line and not line.startswith("#")


#: The examples mmengine can run alone: those whose init_cfg uses no initdsl-only type.
MMENGINE_EXAMPLES = sorted(
    name for name in EXAMPLE_CASES
    if not runtime_types(initdsl.compile((EXAMPLES / name).read_text())))


def test_only_the_examples_that_need_initdsl_are_kept_from_mmengine():
    assert sorted(set(EXAMPLE_CASES) - set(MMENGINE_EXAMPLES)) == ["vit.init"]


@pytest.mark.mmengine
@pytest.mark.parametrize("name", MMENGINE_EXAMPLES)
def test_example_matches_mmengine(name, tmp_path, monkeypatch):
    _run_example(name, tmp_path, monkeypatch, base=_mmengine_base())


@pytest.mark.mmengine
@pytest.mark.parametrize("name", [n for n in MMENGINE_EXAMPLES if n != "resnet.init"])
def test_compiled_examples_run_unchanged_in_mmengine_initialize(name, tmp_path, monkeypatch):
    from mmengine.model import initialize as mm_initialize

    base = _mmengine_base()
    factory, _, setup = EXAMPLE_CASES[name]
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    init_cfg = initdsl.compile((EXAMPLES / name).read_text())
    assert isinstance(init_cfg, list)
    torch.manual_seed(0)
    ours, theirs = factory(), factory(base)
    theirs.load_state_dict(ours.state_dict())
    torch.manual_seed(1)
    initdsl.initialize(ours, init_cfg)
    torch.manual_seed(1)
    mm_initialize(theirs, init_cfg)
    assert_same_state(ours, theirs)


def test_override_example_provenance_names_the_rules():
    model = toy_two_convs()
    prov = initdsl.apply(model, initdsl.load(EXAMPLES / "override_conv2.init"))
    path = str(EXAMPLES / "override_conv2.init")
    assert {k: (r.writer, str(r.origin)) for k, r in prov.items()} == {
        "conv1.weight": ("Kaiming", f"{path}:4:1"),
        "conv1.bias": ("Kaiming", f"{path}:4:1"),
        "conv2.weight": ("Xavier", f"{path}:5:1"),
        "conv2.bias": ("Xavier", f"{path}:5:1"),
    }


# -- semantics of scopes and loads -----------------------------------------------------------


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.body = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))


def _values(model):
    return {k: v.flatten()[0].item() for k, v in model.state_dict().items()}


def test_a_scope_runs_after_its_parents_rules_and_before_its_parents_loads(tmp_path):
    full = _Net()
    for tensor in full.state_dict().values():
        tensor.fill_(9)
    torch.save({"fc.weight": full.fc.weight, "fc.bias": full.fc.bias}, tmp_path / "fc.pth")
    model = _Net()
    policy = (f'load "{tmp_path / "fc.pth"}"\n'   # root load: runs last
              "Linear -> constant(1)\n"          # root rule: runs first
              "scope fc { Linear -> constant(5) }\n"
              "scope body.1 { Linear -> constant(7) }\n")
    prov = initdsl.apply(model, policy)
    assert _values(model) == {"fc.weight": 9, "fc.bias": 9, "body.0.weight": 1,
                              "body.0.bias": 0, "body.1.0.weight": 7, "body.1.0.bias": 0}
    assert {k: str(r.origin) for k, r in prov.items()} == {
        "fc.weight": "<string>:1:1", "fc.bias": "<string>:1:1",
        "body.0.weight": "<string>:2:1", "body.0.bias": "<string>:2:1",
        "body.1.0.weight": "<string>:4:16", "body.1.0.bias": "<string>:4:16"}


def test_a_root_only_policy_on_a_plain_module_is_initialize(tmp_path):
    text = "Linear -> normal(0, 0.5, bias=0.1)\nname body -> uniform(-1, 1)\nLinear -> xavier"
    torch.manual_seed(0)
    a, b = _Net(), _Net()
    b.load_state_dict(a.state_dict())
    torch.manual_seed(3)
    initdsl.apply(a, text)
    torch.manual_seed(3)
    initdsl.initialize(b, initdsl.compile(text))
    assert_same_state(a, b)


def test_apply_checks_everything_before_writing():
    model = _Net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(initdsl.PolicyError) as caught:
        initdsl.apply(model, "Linear -> constant(1)\nLinear -> normal(std=-1)\nX -> nope\n")
    assert [d.code for d in caught.value.diagnostics] == ["E122", "E101"]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_apply_uses_the_file_name_given():
    model = _Net()
    prov = initdsl.apply(model, "Linear -> constant(1)", filename="policies/net.init")
    assert str(prov["fc.weight"].origin) == "policies/net.init:1:1"


def test_vit_example_on_the_zoo_model():
    _, hand_written, _ = EXAMPLE_CASES["vit.init"]
    small = dict(num_classes=5, img_size=32, depth=2, dim=16, heads=2, patch_size=16)
    torch.manual_seed(0)
    by_policy = zoo.vit(**small)
    torch.manual_seed(0)
    by_cfg = zoo.vit(**small, base="initdsl", **hand_written)
    torch.manual_seed(1)
    initdsl.apply(by_policy, initdsl.load(EXAMPLES / "vit.init"))
    torch.manual_seed(1)
    by_cfg.init_weights()
    assert_same_state(by_policy, by_cfg)
    assert writers(by_policy) == writers(by_cfg)
    assert writers(by_policy)["head.weight"] == "TruncNormal"  # timm's default mode draws it
    assert writers(by_policy)["pos_embed"] == "TruncNormal"  # param rules write raw parameters
    assert writers(by_policy)["cls_token"] == "Normal"
    assert writers(by_policy)["patch_embed.proj.weight"] == "Keep"  # timm keeps torch's default
