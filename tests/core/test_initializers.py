"""Initializer classes: exact draws through initialize(), defaults, constructor checks, texts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import initdsl
from initdsl.core import functional as F

from .helpers import sign_bit, tensor_bytes


def _pair(factory=lambda: nn.Conv2d(3, 8, 3)):
    torch.manual_seed(0)
    a = factory()
    torch.manual_seed(0)
    b = factory()
    return a, b


# cfg (applied through initialize), the equivalent functional helper call
EQUIVALENT = {
    "Constant": (dict(type="Constant", val=0.3, bias=2), lambda m: F.constant_init(m, 0.3, 2)),
    "Xavier": (dict(type="Xavier"), lambda m: F.xavier_init(m)),
    "Xavier-args": (dict(type="Xavier", gain=0.5, distribution="uniform", bias=1),
                    lambda m: F.xavier_init(m, 0.5, 1, "uniform")),
    "Normal": (dict(type="Normal"), lambda m: F.normal_init(m)),
    "Normal-args": (dict(type="Normal", mean=-1, std=0.02, bias=0.5),
                    lambda m: F.normal_init(m, -1, 0.02, 0.5)),
    "TruncNormal": (dict(type="TruncNormal"), lambda m: F.trunc_normal_init(m)),
    "TruncNormal-args": (dict(type="TruncNormal", mean=0.1, std=0.2, a=-0.1, b=0.3, bias=-1),
                         lambda m: F.trunc_normal_init(m, 0.1, 0.2, -0.1, 0.3, -1)),
    "Uniform": (dict(type="Uniform"), lambda m: F.uniform_init(m)),
    "Uniform-args": (dict(type="Uniform", a=-5, b=5, bias=3),
                     lambda m: F.uniform_init(m, -5, 5, 3)),
    "Kaiming": (dict(type="Kaiming"), lambda m: F.kaiming_init(m)),
    "Kaiming-args": (dict(type="Kaiming", a=0.3, mode="fan_in", nonlinearity="leaky_relu",
                          distribution="uniform", bias=0.1),
                     lambda m: F.kaiming_init(m, 0.3, "fan_in", "leaky_relu", 0.1, "uniform")),
    "Caffe2Xavier": (dict(type="Caffe2Xavier", bias=4), lambda m: F.caffe2_xavier_init(m, 4)),
}


@pytest.mark.parametrize("case", sorted(EQUIVALENT))
def test_initializer_equals_functional_helper(case):
    cfg, helper = EQUIVALENT[case]
    ours, ref = _pair()
    torch.manual_seed(7)
    initdsl.initialize(ours, dict(cfg, layer="Conv2d"))
    state = torch.get_rng_state()
    torch.manual_seed(7)
    helper(ref)
    assert tensor_bytes(ours.weight) == tensor_bytes(ref.weight)
    assert tensor_bytes(ours.bias) == tensor_bytes(ref.bias)
    assert torch.equal(state, torch.get_rng_state())


def test_kaiming_defaults_are_mmengines_not_torchs():
    k = initdsl.KaimingInit()
    assert (k.a, k.mode, k.nonlinearity, k.distribution, k.bias) == (0, "fan_out", "relu",
                                                                      "normal", 0)
    ours, ref = _pair()
    torch.manual_seed(1)
    initdsl.initialize(ours, dict(type="Kaiming", layer="Conv2d"))
    torch.manual_seed(1)
    nn.init.kaiming_normal_(ref.weight)  # torch's defaults: fan_in, leaky_relu
    assert tensor_bytes(ours.weight) != tensor_bytes(ref.weight)


def test_defaults():
    assert initdsl.NormalInit().std == 1 and initdsl.NormalInit().mean == 0
    t = initdsl.TruncNormalInit()
    assert (t.mean, t.std, t.a, t.b) == (0, 1, -2, 2)
    u = initdsl.UniformInit()
    assert (u.a, u.b) == (0, 1)
    x = initdsl.XavierInit()
    assert (x.gain, x.distribution) == (1, "normal")
    c = initdsl.Caffe2XavierInit()
    assert (c.a, c.mode, c.nonlinearity, c.distribution) == (1, "fan_in", "leaky_relu",
                                                             "uniform")
    p = initdsl.PretrainedInit("x.pth")
    assert (p.prefix, p.map_location, p.weights_only) == (None, "cpu", True)


def test_kaiming_a_is_ignored_with_relu_and_mode_is_lowercased():
    outs = []
    for cfg in (dict(a=0), dict(a=100), dict(a=0, mode="FAN_OUT")):
        torch.manual_seed(0)
        conv = nn.Conv2d(3, 4, 3)
        initdsl.initialize(conv, dict(type="Kaiming", layer="Conv2d", **cfg))
        outs.append(tensor_bytes(conv.weight))
    assert outs[0] == outs[1] == outs[2]


def test_kaiming_on_zero_element_weight_is_a_no_op_like_torch():
    """torch's kaiming_* return before computing fans: even a 1-D empty weight is fine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nn.Sequential(nn.BatchNorm1d(0), nn.Linear(0, 3))
    state = torch.get_rng_state()
    with pytest.warns(UserWarning, match="zero-element"):
        initdsl.initialize(model, dict(type="Kaiming", layer=["BatchNorm1d", "Linear"], bias=2))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.all(model[1].bias == 2)


def test_normal_std_zero_fills_mean():
    lin = nn.Linear(3, 3)
    initdsl.initialize(lin, dict(type="Normal", mean=0.5, std=0, layer="Linear"))
    assert torch.all(lin.weight == 0.5)


def test_zero_dim_tensor_arguments_are_accepted_like_torch():
    lin = nn.Linear(3, 3)
    initdsl.initialize(lin, dict(type="Constant", val=torch.tensor(2.0), layer="Linear"))
    assert torch.all(lin.weight == 2)


@pytest.mark.parametrize("kw", [dict(std=-1.0, a=2.0, b=-2.0),  # negative std swaps the bounds
                                dict(a=10.0, b=9.0)])  # both CDFs round to 1: uniform_(1, 1)
def test_trunc_normal_accepts_what_its_draw_accepts(kw):
    lin = nn.Linear(3, 3)
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        initdsl.initialize(lin, dict(type="TruncNormal", layer="Linear", **kw))
    assert torch.all(lin.weight == kw["b"])  # every value clamps onto the upper bound


# -- constructor checks (§2.3) ------------------------------------------------------------------


@pytest.mark.parametrize("bias", [0, 1, -2.5, True, np.float64(0.5), math.inf])
def test_bias_accepts_int_and_float(bias):
    assert initdsl.ConstantInit(val=1, bias=bias).bias == bias


@pytest.mark.parametrize("bias", ["0", None, [0], np.float32(0.5), torch.tensor(0.0)])
def test_bias_rejects_non_int_float(bias):
    with pytest.raises(initdsl.InitTypeError, match="bias"):
        initdsl.ConstantInit(val=1, bias=bias)


@pytest.mark.parametrize("bias_prob", [0, 1, "0.1", np.float32(0.1)])
def test_bias_prob_must_be_float(bias_prob):
    with pytest.raises(TypeError, match="bias_prob"):
        initdsl.NormalInit(bias_prob=bias_prob)


def test_bias_prob_replaces_bias():
    init = initdsl.NormalInit(bias=5, bias_prob=0.01)
    assert init.bias == -4.59511985013459 and init.bias_prob == 0.01


def test_bias_prob_half_writes_negative_zero():
    lin = nn.Linear(3, 3)
    initdsl.initialize(lin, dict(type="Constant", val=1.0, bias_prob=0.5, layer="Linear"))
    assert all(sign_bit(v) and v == 0 for v in lin.bias.tolist())


def test_bias_prob_one_writes_inf_with_warning():
    lin = nn.Linear(3, 3)
    with pytest.warns(RuntimeWarning):
        initdsl.initialize(lin, dict(type="Normal", bias_prob=1.0, layer="Linear"))
    assert torch.all(lin.bias == math.inf)


def test_bias_prob_zero_is_zero_division():
    with pytest.raises(ZeroDivisionError):
        initdsl.ConstantInit(val=1, bias_prob=0.0)


@pytest.mark.parametrize("layer, expected", [(None, []), ("Conv2d", ["Conv2d"]),
                                             (["A", "B"], ["A", "B"]), ([], [])])
def test_layer_normalisation(layer, expected):
    assert initdsl.UniformInit(layer=layer).layer == expected


@pytest.mark.parametrize("layer", [("Conv2d",), {"Conv2d"}, 3])
def test_layer_rejects_tuple_and_others(layer):
    with pytest.raises(TypeError, match="layer"):
        initdsl.UniformInit(layer=layer)


@pytest.mark.parametrize("key", ["a", "mode", "nonlinearity", "distribution", "gain"])
def test_caffe2xavier_accepts_only_bias_bias_prob_layer(key):
    with pytest.raises(TypeError):
        initdsl.initialize(nn.Linear(2, 2), dict(type="Caffe2Xavier", **{key: 1}))
    initdsl.initialize(nn.Linear(2, 2), dict(type="Caffe2Xavier", bias=1, bias_prob=0.1,
                                             layer="Linear"))


@pytest.mark.parametrize("key", ["layer", "bias", "bias_prob", "val"])
def test_pretrained_has_its_own_arguments(key, tmp_path):
    with pytest.raises(TypeError, match=key):
        initdsl.initialize(nn.Linear(2, 2), dict(type="Pretrained", checkpoint="x.pth",
                                                 **{key: 1}))


@pytest.mark.parametrize("cls", ["Constant", "Pretrained"])
def test_required_argument(cls):
    with pytest.raises(TypeError, match="val" if cls == "Constant" else "checkpoint"):
        initdsl.initialize(nn.Linear(2, 2), dict(type=cls, layer="Linear")
                           if cls == "Constant" else dict(type=cls))


# -- texts and resolved arguments (§9) ----------------------------------------------------------

TEXTS = [
    (dict(type="Constant", val=1), "ConstantInit: val=1, bias=0"),
    (dict(type="Constant", val=2.5, bias_prob=0.01),
     "ConstantInit: val=2.5, bias=-4.59511985013459"),
    (dict(type="Xavier", gain=2, distribution="uniform"),
     "XavierInit: gain=2, distribution=uniform, bias=0"),
    (dict(type="Normal", std=0.01), "NormalInit: mean=0, std=0.01, bias=0"),
    (dict(type="TruncNormal", std=0.02), "TruncNormalInit: a=-2, b=2, mean=0, std=0.02, bias=0"),
    (dict(type="Uniform", a=-1), "UniformInit: a=-1, b=1, bias=0"),
    (dict(type="Kaiming"),
     "KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0"),
    (dict(type="Caffe2Xavier", bias=1),
     "Caffe2XavierInit: a=1, mode=fan_in, nonlinearity=leaky_relu, distribution =uniform, "
     "bias=1"),
    (dict(type="Pretrained", checkpoint="a/b.pth"), "PretrainedInit: load from a/b.pth"),
    (dict(type="Constant", val=0, bias_prob=0.5), "ConstantInit: val=0, bias=-0.0"),
]


@pytest.mark.parametrize("cfg, text", TEXTS, ids=[t for _, t in TEXTS])
def test_describe_matches_mmengine_text(cfg, text):
    assert initdsl.WEIGHT_INITIALIZERS.build(cfg).describe() == text


def test_args_resolved_under_mmengine_names():
    assert initdsl.KaimingInit(bias_prob=0.5).args == {
        "a": 0, "mode": "fan_out", "nonlinearity": "relu", "distribution": "normal",
        "bias": -0.0}
    assert initdsl.TruncNormalInit(std=0.1).args == {"mean": 0, "std": 0.1, "a": -2, "b": 2,
                                                     "bias": 0}
    assert initdsl.ConstantInit(val=3, bias=1).args == {"val": 3, "bias": 1}
    assert initdsl.PretrainedInit("c.pth", prefix="x").args == {
        "checkpoint": "c.pth", "prefix": "x", "map_location": "cpu"}


def test_write_order_weight_then_bias_and_bias_never_draws():
    lin = nn.Linear(4, 4)
    torch.manual_seed(0)
    initdsl.initialize(lin, dict(type="Normal", layer="Linear", bias=0.25))
    after = torch.get_rng_state()
    torch.manual_seed(0)
    torch.empty(4, 4).normal_()
    assert torch.equal(after, torch.get_rng_state())
    assert torch.all(lin.bias == 0.25)


def test_custom_weight_of_any_shape_is_written():
    class Leaf(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(2, 3, 4, 5, 6))

    leaf = Leaf()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initdsl.initialize(leaf, dict(type="Uniform", a=1, b=2, layer="Leaf"))
    assert leaf.weight.min() >= 1


def test_parametrized_weight_writes_only_bias():
    lin = nn.utils.parametrizations.weight_norm(nn.Linear(3, 3))
    before = {n: tensor_bytes(p) for n, p in lin.named_parameters()}
    initdsl.initialize(lin, dict(type="Constant", val=5.0, bias=1.0, layer="Linear"))
    after = {n: tensor_bytes(p) for n, p in lin.named_parameters()}
    assert [n for n in before if before[n] != after[n]] == ["bias"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_orthogonal_refuses_half_precision_before_writing(dtype):
    # torch.linalg.qr, which orthogonal_ uses, takes neither: the run is refused at planning.
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3).to(dtype))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(initdsl.InitValueError, match="Orthogonal needs a float32 or float64 "
                       "weight") as info:
        initdsl.initialize(model, dict(type="Orthogonal", layer="Linear"))
    assert info.value.code == "E240"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
