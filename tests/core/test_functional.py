"""Functional helpers: exact draws against torch.nn.init, mmengine's trunc_normal_, bias_init_with_prob."""

from __future__ import annotations

import math
import struct
import warnings

import pytest
import torch
from torch import nn

import initdsl
from initdsl.core import functional as F

from .helpers import sign_bit, tensor_bytes


def _conv():
    return nn.Conv2d(3, 8, 3)


def _linear():
    return nn.Linear(20, 30)


def _ref_trunc_normal(t, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """The spec's §3.3 algorithm, written out independently."""
    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with torch.no_grad():
        lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
        t.uniform_(2 * lo - 1, 2 * hi - 1)
        t.erfinv_()
        t.mul_(std * math.sqrt(2.0))
        t.add_(mean)
        t.clamp_(min=a, max=b)
    return t


def _ref(weight_fn, bias):
    def apply(m):
        weight_fn(m.weight)
        if m.bias is not None:
            nn.init.constant_(m.bias, bias)
    return apply


# helper call, reference (same draws through torch.nn.init), module factory
HELPER_CASES = {
    "constant": (lambda m: F.constant_init(m, 2.5, bias=1),
                 _ref(lambda w: nn.init.constant_(w, 2.5), 1), _conv),
    "constant-default-bias": (lambda m: F.constant_init(m, -1),
                              _ref(lambda w: nn.init.constant_(w, -1), 0), _linear),
    "xavier-default": (lambda m: F.xavier_init(m),
                       _ref(lambda w: nn.init.xavier_normal_(w, gain=1), 0), _conv),
    "xavier-uniform": (lambda m: F.xavier_init(m, gain=2, bias=0.5, distribution="uniform"),
                       _ref(lambda w: nn.init.xavier_uniform_(w, gain=2), 0.5), _linear),
    "normal-default": (lambda m: F.normal_init(m),
                       _ref(lambda w: nn.init.normal_(w, 0, 1), 0), _conv),
    "normal": (lambda m: F.normal_init(m, mean=1, std=0.01, bias=-2),
               _ref(lambda w: nn.init.normal_(w, 1, 0.01), -2), _linear),
    "trunc-normal-default": (lambda m: F.trunc_normal_init(m),
                             _ref(lambda w: _ref_trunc_normal(w), 0), _conv),
    "trunc-normal": (lambda m: F.trunc_normal_init(m, mean=0.1, std=0.3, a=-0.2, b=0.5, bias=3),
                     _ref(lambda w: _ref_trunc_normal(w, 0.1, 0.3, -0.2, 0.5), 3), _linear),
    "uniform-default": (lambda m: F.uniform_init(m),
                        _ref(lambda w: nn.init.uniform_(w, 0, 1), 0), _conv),
    "uniform": (lambda m: F.uniform_init(m, a=-3, b=-1, bias=0.25),
                _ref(lambda w: nn.init.uniform_(w, -3, -1), 0.25), _linear),
    "kaiming-default": (lambda m: F.kaiming_init(m),
                        _ref(lambda w: nn.init.kaiming_normal_(
                            w, a=0, mode="fan_out", nonlinearity="relu"), 0), _conv),
    "kaiming-uniform": (lambda m: F.kaiming_init(m, a=0.2, mode="fan_in",
                                                 nonlinearity="leaky_relu", bias=1,
                                                 distribution="uniform"),
                        _ref(lambda w: nn.init.kaiming_uniform_(
                            w, a=0.2, mode="fan_in", nonlinearity="leaky_relu"), 1), _linear),
    # bias comes before distribution positionally
    "kaiming-positional": (lambda m: F.kaiming_init(m, 0, "fan_in", "tanh", 7, "uniform"),
                           _ref(lambda w: nn.init.kaiming_uniform_(
                               w, a=0, mode="fan_in", nonlinearity="tanh"), 7), _conv),
    "caffe2-xavier": (lambda m: F.caffe2_xavier_init(m, bias=0.1),
                      _ref(lambda w: nn.init.kaiming_uniform_(
                          w, a=1, mode="fan_in", nonlinearity="leaky_relu"), 0.1), _conv),
}


@pytest.mark.parametrize("case", sorted(HELPER_CASES))
def test_helper_draws_exactly_like_torch(case):
    helper, reference, factory = HELPER_CASES[case]
    torch.manual_seed(0)
    ours, ref = factory(), factory()
    torch.manual_seed(1)
    helper(ours)
    state_ours = torch.get_rng_state()
    torch.manual_seed(1)
    reference(ref)
    assert tensor_bytes(ours.weight) == tensor_bytes(ref.weight)
    assert tensor_bytes(ours.bias) == tensor_bytes(ref.bias)
    assert torch.equal(state_ours, torch.get_rng_state())


@pytest.mark.parametrize("helper", [F.constant_init, F.xavier_init, F.normal_init,
                                    F.trunc_normal_init, F.uniform_init, F.kaiming_init,
                                    F.caffe2_xavier_init])
def test_helpers_skip_missing_weight_and_none_bias(helper):
    args = (1.0,) if helper is F.constant_init else ()
    state = torch.get_rng_state()
    helper(nn.ReLU(), *args)  # no weight, no bias: nothing happens, nothing is drawn
    assert torch.equal(state, torch.get_rng_state())
    lin = nn.Linear(4, 4, bias=False)
    helper(lin, *args)  # bias is None: skipped, no error
    assert lin.bias is None


def test_helpers_do_not_recurse():
    seq = nn.Sequential(nn.Linear(2, 2))
    before = tensor_bytes(seq[0].weight)
    F.constant_init(seq, 3.0)
    assert tensor_bytes(seq[0].weight) == before


@pytest.mark.parametrize("helper", [F.xavier_init, F.kaiming_init])
def test_distribution_asserted_before_looking_at_module(helper):
    with pytest.raises(AssertionError):
        helper(nn.ReLU(), distribution="gaussian")


def test_caffe2_xavier_formula():
    torch.manual_seed(0)
    m = nn.Conv2d(16, 32, 3)
    F.caffe2_xavier_init(m)
    bound = math.sqrt(3 / (16 * 9))
    assert m.weight.abs().max() <= bound
    assert m.weight.abs().max() > 0.95 * bound


@pytest.mark.parametrize(
    "helper, expected_std",
    [
        (lambda w: F.kaiming_init(w), math.sqrt(2 / (64 * 9))),  # fan_out, relu
        (lambda w: F.kaiming_init(w, mode="fan_in"), math.sqrt(2 / (32 * 9))),
        (lambda w: F.xavier_init(w, gain=3), 3 * math.sqrt(2 / (32 * 9 + 64 * 9))),
        (lambda w: F.normal_init(w, std=0.05), 0.05),
    ],
)
def test_scale_statistics(helper, expected_std):
    torch.manual_seed(0)
    m = nn.Conv2d(32, 64, 3)
    helper(m)
    assert m.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert m.weight.mean().item() == pytest.approx(0, abs=0.05 * expected_std + 1e-3)


# -- trunc_normal_ ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), (0.0, 0.02), (1.0, 2.0, 0.5, 1.5), (0.0, 1.0, -0.1, 0.1)])
def test_trunc_normal_is_mmengines_inverse_cdf_algorithm(args):
    torch.manual_seed(3)
    ours = initdsl.trunc_normal_(torch.empty(50, 50), *args)
    state = torch.get_rng_state()
    torch.manual_seed(3)
    ref = _ref_trunc_normal(torch.empty(50, 50), *args)
    assert tensor_bytes(ours) == tensor_bytes(ref)
    assert torch.equal(state, torch.get_rng_state())
    a, b = (args + (0.0, 1.0, -2.0, 2.0)[len(args):])[2:4]
    assert ours.min() >= a and ours.max() <= b


def test_trunc_normal_draws_once_with_uniform():
    torch.manual_seed(5)
    initdsl.trunc_normal_(torch.empty(7, 9), 0.0, 1.0)
    after = torch.get_rng_state()
    torch.manual_seed(5)
    torch.empty(7, 9).uniform_()
    assert torch.equal(after, torch.get_rng_state())


def test_trunc_normal_differs_from_torchs():
    torch.manual_seed(0)
    ours = initdsl.trunc_normal_(torch.empty(100), 0.0, 1.0)
    torch.manual_seed(0)
    theirs = nn.init.trunc_normal_(torch.empty(100), 0.0, 1.0)
    assert tensor_bytes(ours) != tensor_bytes(theirs)


def test_trunc_normal_bounds_are_absolute_and_statistics():
    torch.manual_seed(0)
    t = initdsl.trunc_normal_(torch.empty(200_000), mean=0.0, std=0.02)  # a, b = ±2 absolute
    assert t.std().item() == pytest.approx(0.02, rel=0.02)
    t = initdsl.trunc_normal_(torch.empty(200_000), mean=0.0, std=1.0, a=-1.0, b=1.0)
    assert t.min() >= -1 and t.max() <= 1
    # variance of a standard normal truncated to [-1, 1]
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    z = math.erf(1 / math.sqrt(2))
    assert t.var().item() == pytest.approx(1 - 2 * phi / z, rel=0.02)


def test_trunc_normal_far_mean_warns_and_clamps_to_bound():
    with pytest.warns(UserWarning, match="mean is more than 2 std"):
        t = initdsl.trunc_normal_(torch.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)
    # both CDF values round to 0: uniform_(-1, -1), erfinv(-1) = -inf, clamped to a
    assert torch.all(t == -2.0)


def test_trunc_normal_a_greater_than_b_is_runtime_error():
    with pytest.raises(RuntimeError):
        initdsl.trunc_normal_(torch.empty(3), a=1.0, b=-1.0)


# -- bias_init_with_prob ------------------------------------------------------------------------


def _bits(x: float) -> str:
    return struct.pack(">d", x).hex()


@pytest.mark.parametrize("p", [0.01, 0.1, 0.3, 0.5, 0.7, 0.99, 1e-6, 0.123456789])
def test_bias_init_with_prob_matches_numpy_formula_bitwise(p):
    np = pytest.importorskip("numpy")
    assert _bits(initdsl.bias_init_with_prob(p)) == _bits(float(-np.log((1 - p) / p)))


def test_bias_init_with_prob_known_value():
    assert initdsl.bias_init_with_prob(0.01) == -4.59511985013459


def test_bias_init_with_prob_half_is_negative_zero():
    value = initdsl.bias_init_with_prob(0.5)
    assert value == 0 and sign_bit(value)
    # and the sign bit reaches a tensor written with it
    lin = nn.Linear(2, 3)
    F.constant_init(lin, 1.0, bias=value)
    assert all(sign_bit(v) for v in lin.bias.tolist())
    assert tensor_bytes(lin.bias) == tensor_bytes(torch.full((3,), -0.0))
    assert tensor_bytes(lin.bias) != tensor_bytes(torch.zeros(3))


def test_bias_init_with_prob_one_is_inf_with_runtime_warning():
    with pytest.warns(RuntimeWarning):
        value = initdsl.bias_init_with_prob(1.0)
    assert value == math.inf


def test_bias_init_with_prob_zero_raises():
    with pytest.raises(ZeroDivisionError):
        initdsl.bias_init_with_prob(0.0)


@pytest.mark.parametrize("p", [2.0, 1.5, -0.5, -3.0])
def test_bias_init_with_prob_outside_unit_interval_is_nan_like_numpy(p):
    """No validation: numpy's log of a negative ratio is NaN with a RuntimeWarning."""
    np = pytest.importorskip("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = float(-np.log((1 - p) / p))
    with pytest.warns(RuntimeWarning):
        value = initdsl.bias_init_with_prob(p)
    assert math.isnan(value) and _bits(value) == _bits(expected)
