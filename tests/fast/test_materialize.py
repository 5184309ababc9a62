"""``initdsl.materialize``: a meta model allocated once and written once."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo

from .models import POLICY, Net, by_name, fast, meta
from .test_plan import RESNET_BLOCK_CFG, RESNET_CFG, tiny_resnet


def test_materialize_equals_fast_apply_on_a_built_model():
    built = fast(Net(), seed=9)
    done = initdsl.materialize(meta(Net), POLICY, seed=9)
    # every parameter is written by the policy; the BatchNorm's running
    # statistics get their defaults, as a freshly built BatchNorm has them
    assert by_name(done) == by_name(built)
    assert {name for name, _ in done.named_parameters()} == \
        {name for name, _ in built.named_parameters()}


def test_materialize_equals_fast_apply_for_a_models_own_init_cfg():
    kwargs = dict(base="initdsl", init_cfg=RESNET_CFG, block_init_cfg=RESNET_BLOCK_CFG)
    built = tiny_resnet(**kwargs)
    initdsl.fast.executor.apply(built, seed=1)
    done = initdsl.materialize(meta(tiny_resnet, **kwargs), seed=1)
    assert by_name(done) == by_name(built)
    assert all(m.is_init for m in done.modules() if isinstance(m, initdsl.BaseModule))
    assert initdsl.provenance(done)["layer1.0.bn3.weight"].writer == "Constant"


def test_buffers_get_their_defaults_and_nothing_is_left_uninitialized():
    model = initdsl.materialize(meta(Net), "Linear -> normal(std=0.02)", seed=0)
    assert torch.equal(model.bn.running_mean, torch.zeros(16))
    assert torch.equal(model.bn.running_var, torch.ones(16))
    assert model.bn.num_batches_tracked.item() == 0
    # unmatched modules get torch's defaults from their reset_parameters()
    assert torch.equal(model.bn.weight, torch.ones(16))
    assert torch.equal(model.norm.weight, torch.ones(1024))
    assert torch.equal(model.norm.bias, torch.zeros(1024))
    bound = 1 / (3 * 3 * 3) ** 0.5  # Conv2d's default: kaiming_uniform_(a=sqrt(5))
    assert model.conv.weight.abs().max() <= bound and model.conv.weight.std() > bound / 4
    prov = initdsl.provenance(model)
    assert prov["conv.weight"].writer == "Conv2d.reset_parameters"
    assert prov["fc.weight"].writer == "Normal"


def test_defaults_are_keyed_by_seed_and_module():
    a = initdsl.materialize(meta(Net), "Linear -> normal(std=0.02)", seed=0)
    b = initdsl.materialize(meta(Net, order=("head", "norm", "fc", "bn", "conv")),
                            "Linear -> normal(std=0.02)", seed=0)
    assert by_name(a) == by_name(b)


def test_tensors_without_any_default_are_zeroed_and_listed():
    model = meta(zoo.vit, img_size=32, depth=1, dim=32, heads=2, num_classes=10)
    policy = "Linear -> trunc_normal(std=0.02)\nLayerNorm -> constant(1)\nConv2d -> kaiming"
    with pytest.warns(UserWarning, match=r"filled with zeros: cls_token, pos_embed"):
        initdsl.materialize(model, policy, seed=0)
    assert torch.count_nonzero(model.cls_token) == 0 and torch.count_nonzero(model.pos_embed) == 0
    quiet = meta(zoo.vit, img_size=32, depth=1, dim=32, heads=2, num_classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initdsl.materialize(quiet, policy, seed=0, unwritten="zeros")


def test_dtype_device_and_parameter_attributes():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 50, bias=False)
            self.head.weight = self.emb.weight  # tied
            self.emb.weight.requires_grad_(False)

    model = initdsl.materialize(meta(Frozen), "Embedding -> normal(std=0.02)", seed=0,
                                dtype=torch.float64)
    assert model.head.weight is model.emb.weight
    assert isinstance(model.emb.weight, nn.Parameter) and not model.emb.weight.requires_grad
    assert model.emb.weight.dtype == torch.float64 and model.emb.weight.device.type == "cpu"


def test_materialized_model_trains():
    model = initdsl.materialize(meta(zoo.gpt, vocab=64, dim=16, depth=1, heads=2, mlp=32,
                                     max_len=8),
                                "Linear, Embedding -> normal(std=0.02)\nLayerNorm -> constant(1)",
                                seed=0)
    loss = model(torch.randint(0, 64, (2, 8))).logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
