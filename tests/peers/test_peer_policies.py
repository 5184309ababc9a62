"""Every peer of ../shared/spec/peers.md as one size-generic policy in examples/peers/.

For each policy, at two model sizes: it formats to itself and lints clean
against its model, and per tensor it resolves to the same distribution with
the same numbers as the peer's own init — observed from real HF transformers
where it installs, replayed from timm's and torchtitan's code on the zoo's
models with their names otherwise (timm needs torchvision, which this torch
lacks). Where the peer draws in one module-ordered pass (timm's ViT,
ConvNeXt, ResNet), the policy also writes the peer's bytes under one seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import initdsl
from initdsl import zoo
from initdsl.core.distributions import Constant

from . import reference as R

PEERS = Path(__file__).resolve().parents[2] / "examples" / "peers"
NAMES = ["hf_gpt2", "hf_bert", "hf_llama", "hf_vit", "timm_vit", "timm_vit_jax",
         "timm_convnext", "timm_resnet", "titan_llama3"]


def policy(name: str) -> str:
    return (PEERS / f"{name}.init").read_text()


def test_every_peer_has_a_policy():
    assert sorted(p.stem for p in PEERS.glob("*.init")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_policy_is_formatted_and_says_what_it_reproduces(name):
    text = policy(name)
    assert initdsl.format(text) == text
    first = text.splitlines()[0]
    assert first.startswith("# ") and any(lib in first for lib in ("transformers", "timm",
                                                                  "torchtitan"))


# -- HF transformers: the real library -------------------------------------------------

def _hf(kind: str, size: int):
    T = pytest.importorskip("transformers")
    layers, width = (2, 32) if size == 0 else (3, 64)
    common = dict(num_hidden_layers=layers, hidden_size=width, num_attention_heads=4,
                  intermediate_size=2 * width)
    if kind == "hf_gpt2":
        return T.GPT2LMHeadModel, T.GPT2Config(n_layer=layers, n_embd=width, n_head=4,
                                                vocab_size=97, n_positions=32,
                                                bos_token_id=0, eos_token_id=0)
    if kind == "hf_bert":
        return T.BertForPreTraining, T.BertConfig(vocab_size=97, max_position_embeddings=32,
                                                  **common)
    if kind == "hf_llama":
        return T.LlamaForCausalLM, T.LlamaConfig(vocab_size=97, num_key_value_heads=2,
                                                 **common)
    return T.ViTModel, T.ViTConfig(image_size=32, patch_size=8, **common)


HF = ["hf_gpt2", "hf_bert", "hf_llama", "hf_vit"]


@pytest.mark.transformers
@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("name", HF)
def test_hf_policy_resolves_to_what_hf_draws(name, size):
    cls, config = _hf(name, size)
    with R.record_hf() as seen:
        theirs_model = cls(config)
    theirs = R.observed(theirs_model, seen)
    ours = R.planned(cls(config), policy(name))
    checked = 0
    for param, tensor in theirs_model.named_parameters(remove_duplicate=False):
        expected = theirs.get(param)
        mine = ours.get(param)
        if expected is None:
            # Left at torch's constructor default by HF (we leave it too), or a copy
            # made after the init (BERT's decoder bias, re-padded at tie time): then
            # its values are a constant the policy writes.
            if mine is not None:
                assert isinstance(mine[0], Constant), param
                assert torch.all(tensor == mine[0].value), param
            checked += 1
            continue
        assert mine is not None, f"{param}: HF writes {expected[0]}, the policy nothing"
        assert R.same(mine[0], expected[0]), f"{param}: policy {mine[0]} vs HF {expected[0]}"
        assert mine[1] == expected[1], f"{param}: zeroed rows {mine[1]} vs HF {expected[1]}"
        checked += 1
    assert checked == len(list(theirs_model.named_parameters(remove_duplicate=False)))
    # Applied for real, the policy's writes stand: HF's own init_weights, which the
    # run chains into (mmengine's rule), writes nothing after construction.
    applied = cls(config)
    records = initdsl.apply(applied, policy(name))
    for param, _ in applied.named_parameters(remove_duplicate=False):
        assert not (records[param].writer or "").endswith(".init_weights"), param


@pytest.mark.transformers
def test_hf_gpt2_tied_head_answers_in_provenance():
    cls, config = _hf("hf_gpt2", 0)
    model = cls(config)
    records = initdsl.apply(model, policy("hf_gpt2"))
    assert "lm_head.weight" not in list(records)  # listed once, as named_parameters() does
    assert records["lm_head.weight"] == records["transformer.wte.weight"]
    assert records.tied("lm_head.weight") == ("transformer.wte.weight", "lm_head.weight")
    assert records.to_dict()["parameters"]["transformer.wte.weight"]["tied"] == [
        "transformer.wte.weight", "lm_head.weight"]


@pytest.mark.transformers
@pytest.mark.parametrize("name", HF)
def test_hf_policy_lints_clean(name):
    cls, config = _hf(name, 0)
    from initdsl.tools.lint import lint

    found = [d for d in lint(policy(name), f"{name}.init", cls(config)).diagnostics
             if d.severity != "info"]
    assert found == [], [d.render(policy(name)) for d in found]


@pytest.mark.transformers
def test_hf_bert_zeroes_the_padding_row_and_ties_the_decoder():
    cls, config = _hf("hf_bert", 1)
    model = cls(config)
    initdsl.apply(model, policy("hf_bert"))
    embeddings = model.bert.embeddings.word_embeddings.weight
    assert torch.all(embeddings[config.pad_token_id] == 0)
    assert embeddings[config.pad_token_id + 1].abs().sum() > 0
    assert model.cls.predictions.decoder.weight is embeddings
    assert torch.all(model.cls.predictions.bias == 0)


@pytest.mark.transformers
def test_hf_gpt2_statistics_on_a_large_tensor():
    """The residual scaling, seen in the values: std 0.02 / sqrt(2 * n_layer)."""
    T = pytest.importorskip("transformers")
    config = T.GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=97, n_positions=32,
                          bos_token_id=0, eos_token_id=0)
    model = T.GPT2LMHeadModel(config)
    torch.manual_seed(0)
    initdsl.apply(model, policy("hf_gpt2"))
    c_proj = model.transformer.h[5].mlp.c_proj.weight  # 3072 x 768 elements
    c_fc = model.transformer.h[5].mlp.c_fc.weight
    assert math.isclose(c_proj.std().item(), 0.02 / math.sqrt(24), rel_tol=0.01)
    assert math.isclose(c_fc.std().item(), 0.02, rel_tol=0.01)
    assert abs(c_proj.mean().item()) < 1e-4


# -- timm and torchtitan, replayed on the zoo -------------------------------------------

ZOO = {
    "timm_vit": [lambda: zoo.vit(num_classes=10, img_size=32, depth=2, dim=32, heads=2,
                                 patch_size=8),
                 lambda: zoo.vit(num_classes=7, img_size=64, depth=3, dim=64, heads=4,
                                 patch_size=16)],
    "timm_convnext": [lambda: zoo.convnext(depths=(1, 1, 2, 1), dims=(16, 32, 64, 128),
                                           num_classes=10),
                      lambda: zoo.convnext(depths=(2, 2, 3, 2), dims=(8, 16, 24, 32),
                                           num_classes=5)],
    "timm_resnet": [lambda: zoo.resnet18(num_classes=10),
                    lambda: zoo.resnet((1, 1, 1, 1), 16, 4, block="basic")],
}
ZOO["timm_vit_jax"] = ZOO["timm_vit"]
ZOO["titan_llama3"] = [lambda: zoo.titan_llama3(),
                       lambda: zoo.titan_llama3(vocab=97, dim=32, n_layers=5, heads=2,
                                                hidden=96, max_seq_len=16)]
REPLAYED = {"timm_vit": R.timm_vit, "timm_convnext": R.timm_convnext,
            "timm_resnet": R.timm_resnet}


@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("name", sorted(REPLAYED))
def test_timm_policy_writes_timms_bytes(name, size):
    build = ZOO[name][size]
    torch.manual_seed(0)
    theirs = build()
    mine = build()
    mine.load_state_dict(theirs.state_dict())  # the same constructor values
    torch.manual_seed(1)
    REPLAYED[name](theirs)
    torch.manual_seed(1)
    initdsl.apply(mine, policy(name))
    for (param, a), (_, b) in zip(theirs.state_dict().items(), mine.state_dict().items()):
        assert torch.equal(a, b), param


@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("name", ["timm_vit_jax", "titan_llama3"])
def test_replayed_policy_resolves_to_the_peers_distributions(name, size):
    model = ZOO[name][size]()
    expected = R.timm_vit_jax(model) if name == "timm_vit_jax" else R.titan_llama3(model)
    ours = R.planned(model, policy(name))
    for param, dist in expected.items():
        assert param in ours, f"{param}: the policy does not write it"
        assert R.same(ours[param][0], dist), f"{param}: {ours[param][0]} vs {dist}"
    written = {p for p in ours if not isinstance(ours[p][0], type(None))}
    kept = {n for n, _ in model.named_parameters()} - set(expected)
    assert written - set(expected) <= kept


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_policy_lints_clean(name):
    from initdsl.tools.lint import lint

    for build in ZOO[name]:
        found = [d for d in lint(policy(name), f"{name}.init", build()).diagnostics
                 if d.severity != "info"]
        assert found == [], [d.render(policy(name)) for d in found]


def test_titan_depth_scaling_and_output_cut_are_computed_from_the_model():
    model = zoo.titan_llama3(dim=64, n_layers=3)
    ours = R.planned(model, policy("titan_llama3"))
    stds = [ours[f"layers.{i}.attention.wo.weight"][0].std for i in range(3)]
    assert [round(s, 7) for s in stds] == [0.0141421, 0.01, 0.0081650]
    head = ours["lm_head.weight"][0]
    assert (head.std, head.a, head.b) == (0.125, -0.375, 0.375)


def test_timm_vit_policy_writes_all_152_parameters_of_vit_b16():
    with torch.device("meta"):
        model = zoo.vit_b16()
    ours = R.planned(model, policy("timm_vit"))
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == 152
    drawn = [n for n in names if n in ours]
    kept = [n for n in names if n not in ours]
    assert all("norm" in n or n.startswith("patch_embed") for n in kept)
    assert "head.weight" in drawn and "pos_embed" in drawn and "cls_token" in drawn
    assert isinstance(ours["head.bias"][0], Constant)


def test_exact_and_fast_agree_on_distributions_for_every_zoo_peer():
    for name, builds in ZOO.items():
        model = builds[0]()
        schedule = initdsl.plan(model, policy(name))
        fast = builds[0]()
        initdsl.apply(fast, policy(name), mode="fast", seed=3)
        for target in schedule.targets:
            if target.final_planned is None:
                continue
            tensor = dict(fast.named_parameters())[target.name]
            assert torch.isfinite(tensor).all(), (name, target.name)

