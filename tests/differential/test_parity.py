"""initdsl vs real mmengine on a broad table of models and cfgs: bytes, RNG state, last writers."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("mmengine")

from . import models as M  # noqa: E402
from .harness import compare, initialize_with  # noqa: E402

pytestmark = pytest.mark.mmengine


def _layer_cases():
    """(id, cfg) for every initializer with defaults and non-defaults, on the zoo."""
    conv_like = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "Linear", "Embedding",
                 "MyConv", "MyConv2", "Custom"]
    norms = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm2d", "PReLU"]
    cases = {
        # Constant
        "constant": dict(type="Constant", val=2.0, layer=conv_like + norms),
        "constant-int-bias": dict(type="Constant", val=1, bias=3, layer=norms),
        "constant-bool-bias": dict(type="Constant", val=0.5, bias=True, layer="Linear"),
        "constant-np-bias": dict(type="Constant", val=0.5, bias=np.float64(0.25), layer="Linear"),
        "constant-bias-prob": dict(type="Constant", val=1.0, bias_prob=0.01, layer="_ConvNd"),
        "constant-bias-prob-half": dict(type="Constant", val=1.0, bias_prob=0.5, layer="Linear"),
        "constant-bias-prob-ignores-bias": dict(type="Constant", val=1.0, bias=5, bias_prob=0.2,
                                                layer="Linear"),
        # Xavier
        "xavier": dict(type="Xavier", layer=conv_like),
        "xavier-uniform": dict(type="Xavier", gain=2, distribution="uniform", bias=0.1,
                               layer=conv_like),
        # Normal
        "normal": dict(type="Normal", layer=conv_like + norms),
        "normal-args": dict(type="Normal", mean=1.0, std=0.02, bias=-1, layer="Linear"),
        "normal-std0": dict(type="Normal", std=0, layer="Conv2d"),
        # TruncNormal
        "truncnormal": dict(type="TruncNormal", layer=conv_like + norms),
        "truncnormal-vit": dict(type="TruncNormal", std=0.02, layer="Linear"),
        "truncnormal-args": dict(type="TruncNormal", mean=0.2, std=0.5, a=-0.5, b=1.0, bias=2,
                                 layer=["Conv2d", "Embedding"]),
        # Uniform
        "uniform": dict(type="Uniform", layer=conv_like + norms),
        "uniform-args": dict(type="Uniform", a=-1, b=2, bias=0.5, layer="_ConvNd"),
        # Kaiming
        "kaiming": dict(type="Kaiming", layer=conv_like),
        "kaiming-fan-in-leaky": dict(type="Kaiming", a=0.1, mode="fan_in",
                                     nonlinearity="leaky_relu", layer=conv_like),
        "kaiming-uniform": dict(type="Kaiming", distribution="uniform", layer=conv_like),
        "kaiming-upper-mode": dict(type="Kaiming", mode="FAN_IN", layer="Conv2d"),
        "kaiming-a-ignored-with-relu": dict(type="Kaiming", a=100, layer="Conv2d"),
        "kaiming-tanh": dict(type="Kaiming", nonlinearity="tanh", layer="Linear"),
        "kaiming-selu": dict(type="Kaiming", nonlinearity="selu", layer="Linear"),
        "kaiming-sigmoid": dict(type="Kaiming", nonlinearity="sigmoid", layer="Linear"),
        "kaiming-conv-transpose2d": dict(type="Kaiming", nonlinearity="conv_transpose2d",
                                         layer="ConvTranspose2d"),
        "kaiming-leaky-default-a": dict(type="Kaiming", a=None, nonlinearity="leaky_relu",
                                        layer="Conv2d"),
        # Caffe2Xavier
        "caffe2xavier": dict(type="Caffe2Xavier", layer=conv_like),
        "caffe2xavier-bias-prob": dict(type="Caffe2Xavier", bias_prob=0.01, layer="_ConvNd"),
        # matching by names
        "base-convnd": dict(type="Normal", layer="_ConvNd"),
        "base-convtransposend": dict(type="Normal", layer="_ConvTransposeNd"),
        "base-batchnorm": dict(type="Constant", val=2.0, layer="_BatchNorm"),
        "base-instancenorm": dict(type="Constant", val=2.0, layer="_InstanceNorm"),
        "base-normbase": dict(type="Constant", val=2.0, layer="_NormBase"),
        "base-module": dict(type="Normal", std=0.1, layer="Module"),
        "linear-matches-mha-out-proj": dict(type="Constant", val=4.0, layer="Linear"),
        "conv2d-matches-direct-subclass-only": dict(type="Constant", val=4.0, layer="Conv2d"),
        "myconv": dict(type="Constant", val=4.0, layer="MyConv"),
        "mha-has-no-weight": dict(type="Constant", val=4.0, layer="MultiheadAttention"),
        "sequential-whole-class": dict(type="Constant", val=4.0, layer="Sequential"),
        "no-layer": dict(type="Normal"),
        "empty-layer": dict(type="Kaiming", layer=[]),
        "unknown-layer": dict(type="Normal", layer=["Conv4d"]),
        # list order: last writer wins; overwritten draws still consume RNG
        "list-normal-then-constant": [dict(type="Normal", layer="Linear"),
                                      dict(type="Constant", val=0.0, layer="Linear")],
        "list-mixed": [dict(type="Kaiming", layer="_ConvNd"),
                       dict(type="Constant", val=1.0, layer=["_BatchNorm", "GroupNorm"]),
                       dict(type="TruncNormal", std=0.02, layer="Linear"),
                       dict(type="Normal", std=0.01, layer="Embedding")],
        "dict-with-trunc-far-mean": dict(type="TruncNormal", mean=10.0, std=1.0,
                                         layer="Linear"),
    }
    return cases


LAYER_CASES = _layer_cases()


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_zoo_init_weights(case):
    cfg = LAYER_CASES[case]
    with _expected_warnings(case):
        compare(lambda kit: M.zoo(kit, cfg))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_zoo_initialize(case):
    """The same cfgs through initialize() on the (BaseModule) zoo: no deferral, no init_weights."""
    with _expected_warnings(case):
        compare(lambda kit: M.zoo(kit), initialize_with(LAYER_CASES[case]))


def _expected_warnings(case):
    if case == "dict-with-trunc-far-mean":  # both warn, once per written weight
        return pytest.warns(UserWarning, match="mean is more than 2 std")
    return contextlib.nullcontext()


OVERRIDE_CASES = {
    "dict-typed": dict(type="Constant", val=1.0, bias=2, layer="Conv2d",
                       override=dict(type="Constant", name="fc", val=3.0)),
    "typed-inherits-nothing": dict(type="Normal", std=0.5, bias=7, layer="Linear",
                                   override=dict(type="Normal", name="fc")),
    "name-only-inherits-args": dict(type="Normal", mean=2.0, std=0.1, bias=-3, layer="Conv2d",
                                    override=dict(name="fc")),
    "name-only-bias-prob": dict(type="Constant", val=0.0, bias_prob=0.5, layer="Linear",
                                override=dict(name="bn2")),
    "list": dict(type="Constant", val=1.0, layer="Linear",
                 override=[dict(type="Normal", name="fc", std=0.1),
                           dict(type="Uniform", name="emb"),
                           dict(name="head")]),
    "whole-module-writes-norms": dict(type="Constant", val=1.0, layer="Linear",
                                      override=[dict(type="Constant", name="bn2", val=5.0),
                                                dict(type="Normal", name="ln"),
                                                dict(type="Uniform", name="gn"),
                                                dict(type="Constant", name="prelu", val=0.3)]),
    "whole-module-container": dict(type="Normal", layer="Conv2d",
                                   override=dict(type="Kaiming", name="head")),
    "override-layer-ignored": dict(type="Constant", val=1.0, layer="Conv2d",
                                   override=dict(type="Constant", name="head", val=2.0,
                                                 layer="Conv3d")),
    "override-custom-and-attn": dict(type="Normal", layer="Conv1d",
                                     override=[dict(type="Normal", name="custom"),
                                               dict(type="Constant", name="attn", val=0.5)]),
    "override-without-layer-in-parent": dict(type="Xavier",
                                             override=dict(name="fc")),
    "override-redraws-parent-layer": dict(type="Normal", layer="Linear",
                                          override=dict(name="fc")),
    "caffe2xavier-name-only": dict(type="Caffe2Xavier", layer="Conv1d",
                                   override=dict(name="myconv")),
    "trunc-name-only": dict(type="TruncNormal", std=0.02, layer="Linear",
                            override=[dict(name="emb"), dict(name="custom")]),
}


@pytest.mark.parametrize("case", sorted(OVERRIDE_CASES))
@pytest.mark.parametrize("entry", ["init_weights", "initialize"])
def test_override(case, entry):
    cfg = OVERRIDE_CASES[case]
    if entry == "init_weights":
        compare(lambda kit: M.zoo(kit, cfg))
    else:
        compare(lambda kit: M.zoo(kit), initialize_with(cfg))


def test_override_sequential_index_names():
    cfg = dict(type="Constant", val=1.0, layer="Conv2d",
               override=[dict(type="Normal", name="0"), dict(type="Constant", name="2", val=2.0)])
    compare(lambda kit: __import__("torch").nn.Sequential(
        __import__("torch").nn.Linear(2, 2), __import__("torch").nn.ReLU(),
        __import__("torch").nn.Linear(2, 2)), initialize_with(cfg))


PLAIN_CASES = {
    "kaiming-all-convs": dict(type="Kaiming", layer=["_ConvNd", "_ConvTransposeNd"]),
    "mixed-list": [dict(type="Xavier", distribution="uniform", layer="Conv2d"),
                   dict(type="Constant", val=1.0, bias=0, layer=["BatchNorm2d", "LayerNorm"]),
                   dict(type="Normal", std=0.01, layer="Linear",
                        override=dict(type="Constant", name="head", val=0.0, bias_prob=0.01))],
    "override-moduledict": dict(type="Uniform", layer="ConvTranspose1d",
                                override=dict(name="head")),
    "module-base": dict(type="TruncNormal", std=0.2, layer="Module"),
}


@pytest.mark.parametrize("case", sorted(PLAIN_CASES))
def test_initialize_on_plain_modules(case):
    compare(M.plain_zoo, initialize_with(PLAIN_CASES[case]))


NESTED_CASES = {
    "all-levels": dict(
        net_cfg=[dict(type="Normal", layer=["Conv2d", "Linear"]),
                 dict(type="Constant", val=2.0, layer="BatchNorm2d")],
        backbone_cfg=dict(type="Kaiming", layer="Conv2d"),
        layers_cfg=dict(type="Xavier", layer="Conv2d", distribution="uniform"),
        block_cfg=[dict(type="Constant", val=0.5, layer="_BatchNorm"),
                   dict(type="Normal", std=0.01, layer="Conv2d")],
        head_cfg=dict(type="Normal", std=0.01, layer="Linear", override=dict(name="cls"))),
    "parent-only": dict(net_cfg=dict(type="Kaiming", layer="Conv2d", mode="fan_in")),
    "children-only": dict(block_cfg=dict(type="Constant", val=3.0, layer="BatchNorm2d"),
                          head_cfg=dict(type="Uniform", layer="Linear")),
    "parent-override-then-child": dict(
        net_cfg=dict(type="Constant", val=1.0, layer="Linear",
                     override=dict(type="Normal", name="backbone")),
        block_cfg=dict(type="Constant", val=0.0, layer="Conv2d")),
    "empty-cfgs-still-chain": dict(net_cfg={}, backbone_cfg=[],
                                   block_cfg=dict(type="Normal", layer="Conv2d")),
}


@pytest.mark.parametrize("case", sorted(NESTED_CASES))
def test_nested_basemodules(case):
    compare(lambda kit: M.nested(kit, **NESTED_CASES[case]))


@pytest.mark.parametrize("net_cfg", [None, dict(type="Normal", layer="Linear"),
                                     dict(type="Constant", val=1.0, layer="Conv2d")])
def test_user_init_weights_children(net_cfg):
    compare(lambda kit: M.user_children(kit, net_cfg))


@pytest.mark.parametrize("mark", [(), ("a",), ("a", "b")])
def test_is_init_children(mark):
    compare(lambda kit: M.is_init_children(
        kit, net_cfg=dict(type="Normal", layer=["Linear", "BatchNorm1d"]),
        child_cfg=dict(type="Constant", val=2.0, layer="Linear"), mark=mark))


def test_child_initialized_then_parent_clobbers():
    def action(kit, model):
        model.a.init_weights()
        model.init_weights()
    compare(lambda kit: M.child_initialized_first(
        kit, net_cfg=dict(type="Normal", layer="Linear"),
        child_cfg=dict(type="Constant", val=2.0, layer=["Linear", "BatchNorm1d"])), action)


def test_init_weights_twice_is_a_no_op():
    def action(kit, model):
        model.init_weights()
        model.init_weights()
    compare(lambda kit: M.nested(kit, net_cfg=dict(type="Normal", layer="Conv2d")), action)


@pytest.mark.parametrize("cfg, child_cfg", [
    (dict(type="Normal", layer="Linear"), None),
    (dict(type="Normal", layer="Linear"), dict(type="Constant", val=1.0, layer="Linear")),
    (None, dict(type="Uniform", layer="Linear")),
])
def test_shared_modules(cfg, child_cfg):
    compare(lambda kit: M.shared(kit, cfg, child_cfg))


@pytest.mark.parametrize("net_cfg", [None, dict(type="Normal", layer="Linear")])
def test_containers_chain_and_plain_sequential_blocks(net_cfg):
    inner = dict(type="Constant", val=7.0, layer="Linear")
    compare(lambda kit: M.containers(
        kit, seq_cfg=dict(type="Uniform", layer="Linear"), list_cfg=dict(type="Normal",
                                                                          layer="Conv1d"),
        dict_cfg=dict(type="Xavier", layer="Linear"), inner_cfg=inner, net_cfg=net_cfg))


TRANSFORMER_CFG = [dict(type="TruncNormal", std=0.02, layer="Linear"),
                   dict(type="Constant", val=1.0, bias=0.0, layer="LayerNorm"),
                   dict(type="Normal", std=0.02, layer="Embedding"),
                   dict(type="Kaiming", layer="Conv2d", mode="fan_in", nonlinearity="linear")]


@pytest.mark.parametrize("layer_cfg", [None, dict(type="Xavier", layer="Linear",
                                                  distribution="uniform")])
def test_transformer_like(layer_cfg):
    compare(lambda kit: M.transformer(kit, TRANSFORMER_CFG, layer_cfg))


RESNET_CFG = [dict(type="Kaiming", layer="Conv2d"),
              dict(type="Constant", val=1.0, layer=["_BatchNorm", "GroupNorm"]),
              dict(type="Normal", std=0.01, layer="Linear")]


@pytest.mark.parametrize("block_cfg", [None, dict(type="Constant", val=0.0,
                                                  override=dict(name="bn2"))])
def test_resnet_like(block_cfg):
    compare(lambda kit: M.resnet(kit, RESNET_CFG, block_cfg))


def test_root_overriding_init_weights():
    compare(M.user_root)


@pytest.mark.parametrize("name", ["Constant", "Xavier", "Normal", "TruncNormal", "Uniform",
                                  "Kaiming", "Caffe2Xavier"])
@pytest.mark.parametrize("entry", ["init_weights", "initialize"])
def test_type_given_as_class(name, entry):
    from mmengine.registry import WEIGHT_INITIALIZERS as MM_REGISTRY

    import initdsl

    def cfg(kit):
        registry = initdsl.WEIGHT_INITIALIZERS if kit.name == "initdsl" else MM_REGISTRY
        extra = {"val": 0.5} if name == "Constant" else {}
        return [dict(type=registry.get(name), layer=["Conv2d", "Linear"], bias=0.25, **extra),
                dict(type=registry.get(name), layer="Conv1d", override=dict(name="fc"), **extra)]

    if entry == "init_weights":
        compare(lambda kit: M.zoo(kit, cfg(kit)))
    else:
        compare(lambda kit: M.zoo(kit), lambda kit, model: kit.initialize(model, cfg(kit)))
