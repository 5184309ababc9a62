"""Functional initializers: the tensor and module level building blocks.

Each function fills a tensor (or a module's own ``weight`` then ``bias``) in
place, drawing from torch's global generator exactly as mmengine's helpers of
the same name do, so that results are bit-identical under the same seed.
Module helpers look only at the module's *own* ``weight`` and ``bias``
attributes and skip those that are missing or ``None``; they do not recurse.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from ..errors import InitAssertionError, shown
from .formulas import DISTRIBUTIONS, bias_init_with_prob, normal_cdf

__all__ = [
    "bias_init_with_prob",
    "trunc_normal_",
    "constant_init",
    "xavier_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "kaiming_init",
    "caffe2_xavier_init",
]

def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    r"""Fill ``tensor`` with :math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to ``[a, b]``.

    Inverse-CDF sampling from a single uniform draw (mmengine's algorithm, not
    ``torch.nn.init.trunc_normal_``, which draws differently):

    .. math::
        l = \Phi\!\left(\tfrac{a-\text{mean}}{\text{std}}\right),\;
        h = \Phi\!\left(\tfrac{b-\text{mean}}{\text{std}}\right),\;
        u \sim U(2l-1,\, 2h-1),\;
        w = \operatorname{clamp}\!\left(\text{mean} + \text{std}\sqrt{2}\,
            \operatorname{erfinv}(u),\; a,\; b\right)

    ``a`` and ``b`` are absolute bounds, not multiples of ``std``. A ``mean``
    more than two ``std`` outside ``[a, b]`` only warns.
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    with torch.no_grad():
        low = normal_cdf((a - mean) / std)
        high = normal_cdf((b - mean) / std)
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
    return tensor


def _own(module: nn.Module, name: str) -> Tensor | None:
    return getattr(module, name, None)


def _fill_bias(module: nn.Module, bias: float) -> None:
    if _own(module, "bias") is not None:
        nn.init.constant_(module.bias, bias)


def _check_distribution(distribution: str) -> None:
    if distribution not in DISTRIBUTIONS:
        raise InitAssertionError(
            f"distribution must be one of {DISTRIBUTIONS}, got {shown(distribution)}"
        )


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """``weight ← val``; ``bias ← bias``."""
    if _own(module, "weight") is not None:
        nn.init.constant_(module.weight, val)
    _fill_bias(module, bias)


def xavier_init(
    module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal"
) -> None:
    r"""Glorot initialization of ``weight``; ``bias ← bias``.

    ``normal``: :math:`\mathcal{N}(0, \sigma^2)` with
    :math:`\sigma = \text{gain}\sqrt{2/(\text{fan\_in}+\text{fan\_out})}`;
    ``uniform``: :math:`U(-\sqrt3\,\sigma, \sqrt3\,\sigma)`.
    ``distribution`` is checked before the module is looked at.
    """
    _check_distribution(distribution)
    if _own(module, "weight") is not None:
        if distribution == "uniform":
            nn.init.xavier_uniform_(module.weight, gain=gain)
        else:
            nn.init.xavier_normal_(module.weight, gain=gain)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    r"""``weight`` :math:`\sim \mathcal{N}(\text{mean}, \text{std}^2)`; ``bias ← bias``."""
    if _own(module, "weight") is not None:
        nn.init.normal_(module.weight, mean, std)
    _fill_bias(module, bias)


def trunc_normal_init(
    module: nn.Module,
    mean: float = 0,
    std: float = 1,
    a: float = -2,
    b: float = 2,
    bias: float = 0,
) -> None:
    """``weight`` by :func:`trunc_normal_` (absolute bounds ``[a, b]``); ``bias ← bias``."""
    if _own(module, "weight") is not None:
        trunc_normal_(module.weight, mean, std, a, b)
    _fill_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    r"""``weight`` :math:`\sim U(a, b)`; ``bias ← bias``."""
    if _own(module, "weight") is not None:
        nn.init.uniform_(module.weight, a, b)
    _fill_bias(module, bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0,
    mode: str = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0,
    distribution: str = "normal",
) -> None:
    r"""He initialization of ``weight``; ``bias ← bias``.

    With :math:`g` = ``calculate_gain(nonlinearity, a)`` and ``fan`` chosen by
    ``mode``: ``normal`` draws :math:`\mathcal{N}(0, (g/\sqrt{\text{fan}})^2)`,
    ``uniform`` draws :math:`U(-\sqrt3\,g/\sqrt{\text{fan}}, +\sqrt3\,g/\sqrt{\text{fan}})`.
    The defaults (``fan_out``, ``relu``) are mmengine's, not torch's.
    Note that ``bias`` comes before ``distribution`` positionally.
    """
    _check_distribution(distribution)
    if _own(module, "weight") is not None:
        if distribution == "uniform":
            nn.init.kaiming_uniform_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
        else:
            nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    r"""Caffe2's "XavierFill": ``weight`` :math:`\sim U(-\sqrt{3/\text{fan\_in}}, +\sqrt{3/\text{fan\_in}})`.

    Equal to ``kaiming_init(module, a=1, mode='fan_in',
    nonlinearity='leaky_relu', bias=bias, distribution='uniform')``.
    """
    kaiming_init(
        module, a=1, mode="fan_in", nonlinearity="leaky_relu", bias=bias, distribution="uniform"
    )
