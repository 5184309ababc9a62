"""Fast mode draws exactly the distribution each rule asks for.

Each tensor has 2**21 elements (two blocks), so the sample statistics are
decisive (the standard error of a mean is ~7e-4 standard deviations) and
block seams are covered. Tolerances are 6 standard errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit

from .models import fast

OUT, IN = 2048, 1024  # Linear(IN, OUT): weight 2048 x 1024 = 2**21 elements
N = OUT * IN


def linear(policy: str, seed: int = 0) -> nn.Linear:
    model = nn.Module()
    model.fc = nn.Linear(IN, OUT)
    fast(model, policy, seed=seed)
    return model.fc


def check_normal(w: torch.Tensor, mean: float, std: float) -> None:
    w = w.detach().double()
    assert abs(w.mean().item() - mean) < 6 * std / math.sqrt(N)
    assert abs(w.std().item() / std - 1) < 6 / math.sqrt(2 * N)
    # the fourth moment of a normal: kurtosis 3
    z = (w - mean) / std
    assert abs((z**4).mean().item() - 3) < 0.03


def check_uniform(w: torch.Tensor, low: float, high: float) -> None:
    w = w.detach().double()
    assert low <= w.min().item() and w.max().item() <= high
    width = high - low
    assert abs(w.mean().item() - (low + high) / 2) < 6 * width / math.sqrt(12 * N)
    assert abs(w.std().item() / (width / math.sqrt(12)) - 1) < 6 / math.sqrt(N)
    # and it fills the interval
    assert w.min().item() < low + width * 1e-4 and w.max().item() > high - width * 1e-4


@pytest.mark.parametrize("mean,std", [(0, 0.02), (1.5, 3.0)])
def test_normal(mean, std):
    check_normal(linear(f"Linear -> normal({mean}, {std})").weight, mean, std)


def test_uniform():
    check_uniform(linear("Linear -> uniform(-0.3, 0.7)").weight, -0.3, 0.7)


@pytest.mark.parametrize("mode,nonlinearity,a", [("fan_out", "relu", 0), ("fan_in", "leaky_relu", 0.2),
                                                 ("fan_in", "linear", 0)])
def test_kaiming_normal(mode, nonlinearity, a):
    fan = IN if mode == "fan_in" else OUT
    std = nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    w = linear(f"Linear -> kaiming(a={a}, mode={mode}, nonlinearity={nonlinearity})").weight
    check_normal(w, 0, std)


def test_kaiming_uniform_and_caffe2_xavier():
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(OUT)
    check_uniform(linear("Linear -> kaiming(distribution=uniform)").weight, -bound, bound)
    bound = math.sqrt(3 / IN)  # gain(leaky_relu, 1) = 1
    check_uniform(linear("Linear -> caffe2_xavier").weight, -bound, bound)


def test_kaiming_on_a_convolution_uses_the_receptive_field():
    model = nn.Module()
    model.conv = nn.Conv2d(256, 512, 4)  # 2**21 elements; fan_out = 512 * 16
    fast(model, "Conv2d -> kaiming")
    check_normal(model.conv.weight.reshape(-1), 0, math.sqrt(2 / (512 * 16)))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_xavier(distribution):
    std = 2.0 * math.sqrt(2 / (IN + OUT))
    w = linear(f"Linear -> xavier(gain=2.0, distribution={distribution})").weight
    if distribution == "normal":
        check_normal(w, 0, std)
    else:
        check_uniform(w, -math.sqrt(3) * std, math.sqrt(3) * std)


def truncated_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    alpha, beta = (a - mean) / std, (b - mean) / std
    z = cdf(beta) - cdf(alpha)
    mu = mean + std * (phi(alpha) - phi(beta)) / z
    var = std**2 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / z
                    - ((phi(alpha) - phi(beta)) / z) ** 2)
    return mu, math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0, 0.02, -0.03, 0.03), (0.01, 0.02, -0.02, 0.05),
                                          (0, 1, -2, 2),
                                          # drawn by rejection: normal draws, outliers redrawn
                                          (0, 0.02, -2, 2), (0.5, 1, -4.6, 5.6)])
def test_trunc_normal(mean, std, a, b):
    w = linear(f"Linear -> trunc_normal({mean}, {std}, {a}, {b})").weight.detach().double()
    mu, sigma = truncated_moments(mean, std, a, b)
    assert a <= w.min().item() and w.max().item() <= b
    assert abs(w.mean().item() - mu) < 6 * sigma / math.sqrt(N)
    assert abs(w.std().item() / sigma - 1) < 6 / math.sqrt(N)


def test_trunc_normal_by_rejection_redraws_only_the_outliers():
    from initdsl.core.distributions import Normal, TruncNormal
    from initdsl.fast.rng import fill_block

    dist = TruncNormal(0, 1, -5, 5)
    assert dist.by_rejection and not TruncNormal(0, 1, -4, 4).by_rejection
    # a block whose plain normal draw has values beyond 5 standard deviations
    for seed in range(100):
        normal = torch.empty(1 << 20)
        fill_block(normal, Normal(0, 1), torch.Generator().manual_seed(seed))
        outside = (normal.abs() > 5)
        if outside.any():
            break
    truncated = torch.empty(1 << 20)
    fill_block(truncated, dist, torch.Generator().manual_seed(seed))
    assert torch.equal(truncated[~outside], normal[~outside])
    redrawn = truncated[outside]
    assert torch.all(redrawn.abs() < 5)  # redrawn inside, not clamped onto a bound


def test_constant_and_biases():
    fc = linear("Linear -> constant(0.25, bias=-1)")
    assert torch.all(fc.weight == 0.25) and torch.all(fc.bias == -1)
    fc = linear("Linear -> normal(std=0.1, bias_prob=0.01)")
    assert torch.all(fc.bias == initdsl.bias_init_with_prob(0.01))


def test_same_distribution_as_exact_mode():
    """Two-sample Kolmogorov-Smirnov distance between fast and exact draws."""
    for policy in ("Linear -> trunc_normal(0, 0.02, -0.03, 0.03)", "Linear -> kaiming",
                   "Linear -> xavier(distribution=uniform)"):
        model = nn.Module()
        model.fc = nn.Linear(IN, OUT)
        torch.manual_seed(0)
        initdsl.apply(model, policy)
        exact = model.fc.weight.detach().reshape(-1).sort().values
        ours = linear(policy).weight.detach().reshape(-1).sort().values
        grid = torch.linspace(exact[0].item(), exact[-1].item(), 2001)
        cdf_exact = torch.searchsorted(exact, grid).double() / N
        cdf_ours = torch.searchsorted(ours, grid).double() / N
        assert (cdf_exact - cdf_ours).abs().max().item() < 1.95 * math.sqrt(2 / N), policy


def test_blocks_are_independent_streams():
    w = linear("Linear -> normal(std=1)").weight.detach().reshape(-1)
    first, second = w[: 1 << 20], w[1 << 20:]
    assert not torch.equal(first, second)
    corr = torch.corrcoef(torch.stack([first, second]))[0, 1].item()
    assert abs(corr) < 6 / math.sqrt(1 << 20)


@pytest.fixture
def orthogonal():
    name = "FastTestOrthogonal"

    @WEIGHT_INITIALIZERS.register_module(name=name)
    class Orthogonal(BaseInit):
        def __init__(self, gain=1.0, **kwargs):
            super().__init__(**kwargs)
            self.gain = gain

        def init_weight(self, weight):
            nn.init.orthogonal_(weight, gain=self.gain)

    yield name
    WEIGHT_INITIALIZERS._classes.pop(name)


def test_a_custom_initializer_runs_whole_tensor_from_a_keyed_generator(orthogonal):
    cfg = [dict(type=orthogonal, layer="Linear", gain=2.0)]
    a = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 32))
    b = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 32))
    fast(a, cfg, seed=4)
    fast(b, cfg, seed=4, threads=1)
    w = a[0].weight.detach()
    assert torch.allclose(w @ w.T, 4 * torch.eye(32), atol=1e-4)  # orthogonal rows, gain 2
    assert torch.equal(a[0].weight, b[0].weight) and torch.equal(a[1].weight, b[1].weight)
    assert not torch.equal(a[1].weight, fast(b, cfg, seed=5)[1].weight)
    schedule = initdsl.plan(a, cfg)
    assert type(schedule["0.weight"].final.dist).__name__ == "Custom"


@pytest.mark.parametrize("numel", [1 << 20, (1 << 20) - 5, 3 * (1 << 16) + 17, 100, 17])
def test_filling_a_block_in_cache_sized_pieces_draws_what_one_call_would(numel):
    from initdsl.core.distributions import Normal, TruncNormal, Uniform
    from initdsl.fast.rng import fill_block

    for dist in (Normal(0.5, 2.0), Uniform(-1.0, 3.0), TruncNormal(0, 1, -1.5, 2),
                 TruncNormal(0, 1, -5, 5), TruncNormal(0.1, 0.02, -2, 2)):
        pieces, whole = torch.empty(numel), torch.empty(numel)
        fill_block(pieces, dist, torch.Generator().manual_seed(3))
        gen = torch.Generator().manual_seed(3)
        dist.fill_(whole, gen)
        dist.finish_(whole, gen)
        assert torch.equal(pieces, whole), (numel, dist)
