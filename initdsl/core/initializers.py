"""The built-in initializers and their common base class.

An initializer decides *how* one module's own ``weight`` and ``bias`` are
written; *which* modules it writes is decided elsewhere, once for all
initializers (:mod:`initdsl.core.matcher`). Every argument is validated in the
constructor, so a configuration can be rejected before any tensor is touched.

Importing this module does not import torch (torch is imported when a
tensor is first written): the policy checker builds initializers to
validate a policy's arguments, and ``initdsl compile`` and ``lint`` should
start in a fraction of a second.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import (
    InitAssertionError,
    InitAttributeError,
    InitKeyError,
    InitRuntimeError,
    InitTypeError,
    InitValueError,
    InitZeroDivisionError,
    shown,
)
from .computed import Computed, computed_keys
from .formulas import DISTRIBUTIONS, bias_init_with_prob, normal_cdf
from .modifiers import build_modifier
from .patterns import parameter_pattern
from .registry import WEIGHT_INITIALIZERS, abstract, accepted_arguments

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "BaseInit",
    "SelectInit",
    "described",
    "ConstantInit",
    "XavierInit",
    "NormalInit",
    "TruncNormalInit",
    "UniformInit",
    "KaimingInit",
    "Caffe2XavierInit",
    "PretrainedInit",
    "NONLINEARITIES",
    "MODES",
]

def _no_grad() -> Any:
    import torch

    return torch.no_grad()


def _init() -> Any:
    """``torch.nn.init``, imported when a tensor is first written: checking a policy builds
    its initializers, and should not have to import torch to do it."""
    import torch.nn.init

    return torch.nn.init


MODES = ("fan_in", "fan_out")
NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
)


def _is_number(value: Any) -> bool:
    # torch's fill_/normal_/uniform_ also take 0-dim tensors, and mmengine passes them through.
    torch = sys.modules.get("torch")  # a value cannot be a tensor if torch was never imported
    return isinstance(value, Real) or (
        torch is not None and isinstance(value, torch.Tensor) and value.dim() == 0)


def _require_number(owner: str, key: str, value: Any) -> None:
    if not _is_number(value):
        raise InitTypeError(f"{owner} argument {shown(key)} must be a number, got {shown(value)}")


def described(initializer: Any) -> str:
    """``initializer.describe()``, or a stand-in when its arguments cannot be printed.

    The text is only for the log and provenance; a value ``str`` refuses (an
    integer over 4,300 digits) is reported where it is checked, as E122 or
    the initializer's own error, never as a ``ValueError`` from printing.
    """
    try:
        return initializer.describe()
    except Exception:  # noqa: BLE001 - a user initializer's describe may raise anything
        return f"{type(initializer).__name__}: (arguments too large to print)"


class BaseInit:
    """Base class of initializers that write a module's own ``weight`` and ``bias``.

    Subclasses implement :meth:`init_weight` (the one draw or fill of the
    weight) and take their own arguments as keyword arguments, forwarding the
    rest (``bias``, ``bias_prob``, ``layer``) here.

    Args:
        bias: value written into ``bias`` (an ``int`` or ``float``).
        bias_prob: if given (a ``float``), ``bias`` becomes
            :func:`~initdsl.bias_init_with_prob` of it and the ``bias``
            argument is ignored.
        layer: class name or list of class names this initializer matches
            (the module's class or one of its *direct* base classes).
    """

    #: Arguments whose value must be one of a fixed set (checked in the
    #: constructor; the policy checker uses it for its diagnostics).
    choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(self, *, bias: float = 0, bias_prob: float | None = None, layer=None) -> None:
        name = type(self).__name__
        if not isinstance(bias, (int, float)):
            raise InitTypeError(f"{name} argument 'bias' must be an int or float, got {shown(bias)}")
        if bias_prob is not None and not isinstance(bias_prob, float):
            raise InitTypeError(
                f"{name} argument 'bias_prob' must be a float, got {shown(bias_prob)} "
                f"(write {shown(bias_prob)}.0 if you meant a float)"
            )
        if layer is not None and not isinstance(layer, (str, list)):
            raise InitTypeError(
                f"{name} argument 'layer' must be a str or a list of str, got {shown(layer)}"
            )
        if bias_prob is not None:
            try:
                bias = bias_init_with_prob(bias_prob)
            except ZeroDivisionError:
                raise InitZeroDivisionError(
                    f"{name} argument 'bias_prob' must be in (0, 1], got {shown(bias_prob)}"
                ) from None
        self.bias = bias
        self.bias_prob = bias_prob
        self.layer: list = [] if layer is None else [layer] if isinstance(layer, str) else layer

    @abstract
    def init_weight(self, weight: Tensor) -> None:
        """Write ``weight`` in place (one draw for random initializers)."""
        raise NotImplementedError

    def check_weight(self, weight: Tensor) -> str | None:
        """Why ``weight`` cannot take this initializer, or ``None`` if it can."""
        return None

    @property
    def args(self) -> dict[str, Any]:
        """Resolved arguments under mmengine's names, ``bias`` after ``bias_prob``."""
        skip = {"bias", "bias_prob", "layer"}
        values = {k: getattr(self, k) for k in accepted_arguments(type(self)) if k not in skip}
        values["bias"] = self.bias
        return values

    def describe(self) -> str:
        """mmengine's one-line text for this initializer (its init-info log)."""
        body = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{type(self).__name__}: {body}"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={shown(v)}" for k, v in self.args.items())
        return f"{type(self).__name__}({args}, layer={shown(self.layer)})"


def _check_choice(owner: str, key: str, value: Any, allowed: tuple[str, ...], error: type) -> None:
    if value not in allowed:
        raise error(f"{owner} argument {shown(key)} must be one of {', '.join(allowed)}; got {shown(value)}")


@WEIGHT_INITIALIZERS.register_module(name="Constant")
class ConstantInit(BaseInit):
    """``weight ← val``, ``bias ← bias``. ``val`` is required."""

    def __init__(self, val: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("Constant", "val", val)
        self.val = val

    def init_weight(self, weight: Tensor) -> None:
        _init().constant_(weight, self.val)

    def describe(self) -> str:
        return f"ConstantInit: val={self.val}, bias={self.bias}"


class _FanBased(BaseInit):
    """Initializers whose scale comes from fan-in/fan-out need a 2-D or larger weight."""

    def check_weight(self, weight: Tensor) -> str | None:
        if weight.dim() < 2:
            return (
                f"{type(self).__name__} needs a weight with at least 2 dimensions to compute "
                f"fan-in and fan-out, got shape {tuple(weight.shape)}"
            )
        return None


@WEIGHT_INITIALIZERS.register_module(name="Xavier")
class XavierInit(_FanBased):
    r"""Glorot: :math:`\sigma = \text{gain}\sqrt{2/(\text{fan\_in}+\text{fan\_out})}`.

    ``distribution='normal'`` draws :math:`\mathcal{N}(0,\sigma^2)`,
    ``'uniform'`` draws :math:`U(-\sqrt3\sigma, \sqrt3\sigma)`.
    """

    choices = {"distribution": DISTRIBUTIONS}

    def __init__(self, gain: float = 1, distribution: str = "normal", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("Xavier", "gain", gain)
        _check_choice("Xavier", "distribution", distribution, DISTRIBUTIONS, InitAssertionError)
        self.gain = gain
        self.distribution = distribution

    def init_weight(self, weight: Tensor) -> None:
        if self.distribution == "uniform":
            _init().xavier_uniform_(weight, gain=self.gain)
        else:
            _init().xavier_normal_(weight, gain=self.gain)

    def describe(self) -> str:
        return (
            f"XavierInit: gain={self.gain}, distribution={self.distribution}, bias={self.bias}"
        )


@WEIGHT_INITIALIZERS.register_module(name="Normal")
class NormalInit(BaseInit):
    r"""``weight`` :math:`\sim \mathcal{N}(\text{mean}, \text{std}^2)`; note ``std`` defaults to 1."""

    def __init__(self, mean: float = 0, std: float = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("Normal", "mean", mean)
        _require_number("Normal", "std", std)
        if not std >= 0:  # also NaN, which torch rejects the same way
            raise InitRuntimeError(f"Normal argument 'std' must be >= 0, got {shown(std)}")
        self.mean = mean
        self.std = std

    def init_weight(self, weight: Tensor) -> None:
        _init().normal_(weight, self.mean, self.std)

    def describe(self) -> str:
        return f"NormalInit: mean={self.mean}, std={self.std}, bias={self.bias}"


#: How a truncated normal is drawn: mmengine's and timm's inverse CDF (one
#: uniform draw), or ``torch.nn.init.trunc_normal_`` (HF, torchtitan).
TRUNC_SAMPLERS = ("inverse_cdf", "torch")
#: What ``a`` and ``b`` of a truncated normal are: values, or multiples of ``std``
#: around ``mean`` (timm's ``trunc_normal_tf_``).
TRUNC_BOUNDS = ("absolute", "std")


@WEIGHT_INITIALIZERS.register_module(name="TruncNormal")
class TruncNormalInit(BaseInit):
    r"""``weight`` :math:`\sim \mathcal{N}(\text{mean}, \text{std}^2)` truncated to ``[a, b]``.

    ``a`` and ``b`` are absolute bounds by default (mmengine's meaning); with
    ``bounds='std'`` they are multiples of ``std`` around ``mean``, drawn as
    timm's ``trunc_normal_tf_`` draws them: :math:`\mathcal{N}(0, 1)` truncated
    to ``[a, b]``, then :math:`\times\,\text{std} + \text{mean}`. ``sampler``
    chooses the algorithm, which changes the bytes but not the distribution:
    ``'inverse_cdf'`` (:func:`initdsl.trunc_normal_`, mmengine's and timm's,
    the default) or ``'torch'`` (``torch.nn.init.trunc_normal_``).
    """

    choices = {"sampler": TRUNC_SAMPLERS, "bounds": TRUNC_BOUNDS}

    def __init__(
        self, mean: float = 0, std: float = 1, a: float = -2, b: float = 2,
        sampler: str = "inverse_cdf", bounds: str = "absolute", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for key, value in (("mean", mean), ("std", std), ("a", a), ("b", b)):
            _require_number("TruncNormal", key, value)
        _check_choice("TruncNormal", "sampler", sampler, TRUNC_SAMPLERS, InitValueError)
        _check_choice("TruncNormal", "bounds", bounds, TRUNC_BOUNDS, InitValueError)
        if std == 0:
            raise InitZeroDivisionError("TruncNormal argument 'std' must be > 0, got 0")
        # Exactly the condition under which trunc_normal_'s one draw,
        # uniform_(2*lo - 1, 2*hi - 1), fails (a negative std swaps lo and hi).
        center, scale = (0, 1) if bounds == "std" else (mean, std)
        low = 2 * normal_cdf((a - center) / scale) - 1
        high = 2 * normal_cdf((b - center) / scale) - 1
        if not low <= high or (bounds == "std" and not std > 0):
            raise InitRuntimeError(
                f"TruncNormal needs std > 0 and a <= b, got std={shown(std)}, a={shown(a)}, b={shown(b)}"
            )
        self.mean = mean
        self.std = std
        self.a = a
        self.b = b
        self.sampler = sampler
        self.bounds = bounds

    @property
    def absolute_bounds(self) -> tuple[float, float]:
        """``(a, b)`` as values of the weight."""
        if self.bounds == "std":
            return self.mean + self.a * self.std, self.mean + self.b * self.std
        return self.a, self.b

    def init_weight(self, weight: Tensor) -> None:
        from .functional import trunc_normal_

        draw = _init().trunc_normal_ if self.sampler == "torch" else trunc_normal_
        if self.bounds == "std":
            draw(weight, 0.0, 1.0, self.a, self.b)
            with _no_grad():
                weight.mul_(self.std).add_(self.mean)
        else:
            draw(weight, self.mean, self.std, self.a, self.b)

    @property
    def args(self) -> dict[str, Any]:
        # The defaults are mmengine's TruncNormal, whose arguments these stay.
        values = super().args
        for key, default in (("sampler", "inverse_cdf"), ("bounds", "absolute")):
            if values.get(key) == default:
                del values[key]
        return values

    def describe(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)}" for k in ("sampler", "bounds")
                        if k in self.args)
        return (
            f"TruncNormalInit: a={self.a}, b={self.b}, mean={self.mean}, "
            f"std={self.std}{extra}, bias={self.bias}"
        )


@WEIGHT_INITIALIZERS.register_module(name="Uniform")
class UniformInit(BaseInit):
    r"""``weight`` :math:`\sim U(a, b)`."""

    def __init__(self, a: float = 0, b: float = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("Uniform", "a", a)
        _require_number("Uniform", "b", b)
        if not a <= b:  # also NaN, which torch rejects the same way
            raise InitRuntimeError(f"Uniform needs a <= b, got a={shown(a)}, b={shown(b)}")
        self.a = a
        self.b = b

    def init_weight(self, weight: Tensor) -> None:
        _init().uniform_(weight, self.a, self.b)

    def describe(self) -> str:
        return f"UniformInit: a={self.a}, b={self.b}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Kaiming")
class KaimingInit(_FanBased):
    r"""He: with :math:`g` = ``calculate_gain(nonlinearity, a)`` and ``fan`` by ``mode``.

    ``distribution='normal'`` draws :math:`\mathcal{N}(0, (g/\sqrt{\text{fan}})^2)`,
    ``'uniform'`` draws :math:`U(\pm\sqrt3\,g/\sqrt{\text{fan}})`. Defaults are
    mmengine's (``fan_out``, ``relu``), not torch's (``fan_in``, ``leaky_relu``).
    ``a`` only matters for ``leaky_relu``.
    """

    choices = {"mode": MODES, "nonlinearity": NONLINEARITIES, "distribution": DISTRIBUTIONS}

    def __init__(
        self,
        a: float = 0,
        mode: str = "fan_out",
        nonlinearity: str = "relu",
        distribution: str = "normal",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._validate(a, mode, nonlinearity, distribution)
        self.a = a
        self.mode = mode
        self.nonlinearity = nonlinearity
        self.distribution = distribution

    def _validate(self, a: Any, mode: Any, nonlinearity: Any, distribution: Any) -> None:
        owner = WEIGHT_INITIALIZERS.name_of(type(self))
        _check_choice(owner, "distribution", distribution, DISTRIBUTIONS, InitAssertionError)
        # torch lower-cases the mode, so 'FAN_IN' is accepted (and a non-str
        # mode fails there with AttributeError).
        if not isinstance(mode, str):
            raise InitAttributeError(
                f"{owner} argument 'mode' must be a str, one of {', '.join(MODES)}; got {shown(mode)}"
            )
        if mode.lower() not in MODES:
            raise InitValueError(
                f"{owner} argument 'mode' must be one of {', '.join(MODES)}; got {shown(mode)}"
            )
        _check_choice(owner, "nonlinearity", nonlinearity, NONLINEARITIES, InitValueError)
        if nonlinearity == "leaky_relu" and a is not None:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise InitValueError(
                    f"{owner} argument 'a' (the leaky_relu negative slope) must be an int "
                    f"or float, got {shown(a)}"
                )

    def check_weight(self, weight: Tensor) -> str | None:
        # torch's kaiming_* return before computing fans for zero-element tensors
        if 0 in weight.shape:
            return None
        return super().check_weight(weight)

    def init_weight(self, weight: Tensor) -> None:
        if self.distribution == "uniform":
            _init().kaiming_uniform_(weight, a=self.a, mode=self.mode, nonlinearity=self.nonlinearity)
        else:
            _init().kaiming_normal_(weight, a=self.a, mode=self.mode, nonlinearity=self.nonlinearity)

    @property
    def args(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
            "distribution": self.distribution,
            "bias": self.bias,
        }

    def describe(self) -> str:
        return (
            f"{type(self).__name__}: a={self.a}, mode={self.mode}, "
            f"nonlinearity={self.nonlinearity}, distribution ={self.distribution}, "
            f"bias={self.bias}"
        )


@WEIGHT_INITIALIZERS.register_module(name="Caffe2Xavier")
class Caffe2XavierInit(KaimingInit):
    r"""Caffe2's XavierFill: ``weight`` :math:`\sim U(\pm\sqrt{3/\text{fan\_in}})`.

    A :class:`KaimingInit` fixed to ``a=1, mode='fan_in',
    nonlinearity='leaky_relu', distribution='uniform'``; only ``bias``,
    ``bias_prob`` and ``layer`` can be set.
    """

    choices = {}

    def __init__(self, *, bias: float = 0, bias_prob: float | None = None, layer=None) -> None:
        super().__init__(
            a=1,
            mode="fan_in",
            nonlinearity="leaky_relu",
            distribution="uniform",
            bias=bias,
            bias_prob=bias_prob,
            layer=layer,
        )


_DEVICE = re.compile(r"[a-z][a-z0-9_]*(:[0-9]+)?\Z")


def _check_map_location(value: Any) -> None:
    """What ``torch.load`` takes as ``map_location``, as far as it can be told without torch:
    whether the device exists here is checked when the checkpoint is read."""
    if value is None or callable(value) or type(value).__name__ == "device":
        return
    if isinstance(value, dict):
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return
    elif isinstance(value, str) and _DEVICE.match(value):
        return
    raise InitTypeError(
        "Pretrained argument 'map_location' must be a device such as 'cpu' or 'cuda:0', a "
        f"dict of device names or a function, as torch.load takes it; got {shown(value)}")


@WEIGHT_INITIALIZERS.register_module(name="Pretrained")
class PretrainedInit:
    """Load a checkpoint's state dict into the module (``strict=False``).

    Args:
        checkpoint: a local path (``~`` is expanded), ``file://`` or
            ``http(s)://`` URL (downloaded once into torch's hub cache).
            ``.safetensors`` files are read with the ``safetensors`` package.
        prefix: load only the keys under this prefix (e.g. ``'backbone.'``),
            with the prefix removed. Without a prefix, one leading ``module.``
            is stripped from every key instead.
        map_location: passed to ``torch.load`` (``'cpu'`` by default).
        weights_only: ``True`` (the default) refuses to unpickle arbitrary
            Python objects. Pass ``False`` only for checkpoints you trust.

    Pretrained entries at the top level of a ``BaseModule``'s ``init_cfg`` run
    last, after the children's ``init_weights``.
    """

    def __init__(
        self,
        checkpoint: str,
        prefix: str | None = None,
        map_location: Any = "cpu",
        weights_only: bool = True,
    ) -> None:
        if not isinstance(checkpoint, str) and not hasattr(checkpoint, "__fspath__"):
            raise InitTypeError(
                f"Pretrained argument 'checkpoint' must be a path or URL string, got {shown(checkpoint)}"
            )
        if prefix is not None and not isinstance(prefix, str):
            raise InitTypeError(f"Pretrained argument 'prefix' must be a str, got {shown(prefix)}")
        if not isinstance(weights_only, bool):
            raise InitTypeError(
                f"Pretrained argument 'weights_only' must be True or False, got {shown(weights_only)}"
            )
        _check_map_location(map_location)
        self.checkpoint = str(checkpoint) if hasattr(checkpoint, "__fspath__") else checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.weights_only = weights_only

    @property
    def args(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "prefix": self.prefix,
            "map_location": self.map_location,
        }

    def describe(self) -> str:
        return f"PretrainedInit: load from {self.checkpoint}"

    def __repr__(self) -> str:
        return f"PretrainedInit(checkpoint={shown(self.checkpoint)}, prefix={shown(self.prefix)})"


@WEIGHT_INITIALIZERS.register_module(name="Zeros")
class ZerosInit(BaseInit):
    """``weight ← 0``, ``bias ← bias`` (``constant(0)``, as HF and torchtitan spell it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.val = 0

    # The same write as constant(0) (and resolved as one for fast mode).
    init_weight = ConstantInit.init_weight

    def describe(self) -> str:
        return f"ZerosInit: bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Ones")
class OnesInit(BaseInit):
    """``weight ← 1``, ``bias ← bias``: the norms' scale (``nn.init.ones_``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.val = 1

    # The same write as constant(1) (and resolved as one for fast mode).
    init_weight = ConstantInit.init_weight

    def describe(self) -> str:
        return f"OnesInit: bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Keep")
class KeepInit(BaseInit):
    """Write nothing: the values the constructor wrote stay, and the policy says so.

    A rule ``LayerNorm -> keep`` documents that a library leaves those
    modules at torch's defaults; it matches like any rule (lint's W-codes
    apply) and plans no write.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def init_weight(self, weight: Tensor) -> None:
        """Nothing: the planner plans no write for ``keep``."""

    @property
    def args(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return "KeepInit: the constructor's values are kept"


#: The fan a variance-scaling initializer divides by.
VARIANCE_MODES = ("fan_in", "fan_out", "fan_avg")
VARIANCE_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")

#: The standard deviation of N(0, 1) truncated to [-2, 2] (Keras, JAX and timm
#: divide by it so that the truncated draw has the variance asked for).
TRUNCATED_STD = 0.87962566103423978


@WEIGHT_INITIALIZERS.register_module(name="VarianceScaling")
class VarianceScalingInit(_FanBased):
    r"""Keras/JAX variance scaling: :math:`\sigma^2 = \text{scale} / n`.

    :math:`n` is ``fan_in``, ``fan_out`` or their mean (``fan_avg``).
    ``truncated_normal`` draws :math:`\mathcal{N}(0, 1)` truncated to
    :math:`[-2, 2]` by the inverse CDF, times :math:`\sigma / 0.8796\ldots`
    (timm's ``variance_scaling_``; ``lecun_normal`` is ``scale=1,
    mode=fan_in``); ``normal`` draws :math:`\mathcal{N}(0, \sigma^2)`;
    ``uniform`` draws :math:`U(\pm\sqrt{3}\sigma)`.
    """

    choices = {"mode": VARIANCE_MODES, "distribution": VARIANCE_DISTRIBUTIONS}

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("VarianceScaling", "scale", scale)
        if not scale > 0:
            raise InitValueError(f"VarianceScaling argument 'scale' must be > 0, got {shown(scale)}")
        _check_choice("VarianceScaling", "mode", mode, VARIANCE_MODES, InitValueError)
        _check_choice("VarianceScaling", "distribution", distribution, VARIANCE_DISTRIBUTIONS,
                      InitValueError)
        self.scale = scale
        self.mode = mode
        self.distribution = distribution

    def std_for(self, weight: Tensor) -> float:
        r""":math:`\sigma` for ``weight`` (before the truncation correction)."""
        fan_in, fan_out = _init()._calculate_fan_in_and_fan_out(weight)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return math.sqrt(self.scale / fan)

    def init_weight(self, weight: Tensor) -> None:
        from .functional import trunc_normal_

        std = self.std_for(weight)
        with _no_grad():
            if self.distribution == "truncated_normal":
                trunc_normal_(weight, 0.0, 1.0, -2.0, 2.0)
                weight.mul_(std / TRUNCATED_STD)
            elif self.distribution == "normal":
                weight.normal_(0.0, std)
            else:
                bound = math.sqrt(3.0) * std
                weight.uniform_(-bound, bound)

    def describe(self) -> str:
        return (f"VarianceScalingInit: scale={self.scale}, mode={self.mode}, "
                f"distribution={self.distribution}, bias={self.bias}")


@WEIGHT_INITIALIZERS.register_module(name="Orthogonal")
class OrthogonalInit(_FanBased):
    """``torch.nn.init.orthogonal_(weight, gain)``: a (semi-)orthogonal matrix, times ``gain``."""

    def __init__(self, gain: float = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _require_number("Orthogonal", "gain", gain)
        self.gain = gain

    def check_weight(self, weight: Tensor) -> str | None:
        problem = super().check_weight(weight)
        if problem is None and str(weight.dtype) not in ("torch.float32", "torch.float64"):
            # orthogonal_ factors the draw with torch.linalg.qr, which takes neither
            # half precision nor integers, on any device.
            return (f"Orthogonal needs a float32 or float64 weight (torch.linalg.qr takes no "
                    f"{str(weight.dtype).removeprefix('torch.')}), got one of shape "
                    f"{tuple(weight.shape)}")
        return problem

    def init_weight(self, weight: Tensor) -> None:
        _init().orthogonal_(weight, gain=self.gain)

    def describe(self) -> str:
        return f"OrthogonalInit: gain={self.gain}, bias={self.bias}"


@WEIGHT_INITIALIZERS.register_module(name="Seed")
class SeedInit:
    """A policy's ``seed N``: the seed of fast mode's keyed generators (writes nothing).

    ``dict(type='Seed', seed=N)`` among the root's cfgs; a fast run without
    an explicit ``seed=`` uses it (:func:`~initdsl.core.seed.policy_seed`),
    exact mode ignores it: it replays torch's one global generator.
    """

    def __init__(self, seed: int) -> None:
        from .seed import check_seed

        self.seed = check_seed(seed)

    @property
    def args(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def describe(self) -> str:
        return f"Seed: {self.seed}"

    def __repr__(self) -> str:
        return f"SeedInit(seed={self.seed})"


@WEIGHT_INITIALIZERS.register_module(name="Select")
class SelectInit:
    """Write the parameters a qualified-name pattern names, each with ``init``'s weight rule.

    The IR of a policy's ``param`` rule (docs/language.md): ``dict(type='Select',
    params='blocks.*.attn.proj.weight', init=dict(type='Normal', std=0.02))``.
    ``params`` is matched against each parameter's name relative to the
    module whose ``init_cfg`` holds the entry (:func:`~initdsl.core.patterns.
    parameter_pattern`); every match, raw ``nn.Parameter`` s included, is
    written as ``init`` writes a weight, and no bias is written. mmengine does
    not know this type: it runs in initdsl.

    Args:
        params: the pattern: dotted segments, ``*`` within a segment for any
            characters but ``.``, a segment ``**`` for any number of segments.
        init: the cfg (or built initializer) of a weight initializer; its
            ``bias``, ``bias_prob`` and ``layer`` have no meaning here and are
            refused.
        layer: a class name: the pattern is then relative to every module it
            matches (the one matcher's rule), not to the cfg's module. One
            class, as the policy writes it (``Linear.bias``).
    """

    def __init__(self, init: Any, params: str | None = None, layer: str | list | None = None,
                 then: list | None = None) -> None:
        if params is not None and not isinstance(params, str):
            raise InitTypeError(f"Select argument 'params' must be a str, got {shown(params)}")
        names = [layer] if isinstance(layer, str) else layer
        if names is not None and (not isinstance(names, list) or not names or not all(
                isinstance(name, str) for name in names)):
            raise InitTypeError(f"Select argument 'layer' must be a class name or a list of "
                                f"them, got {shown(layer)}")
        if params is None and names is None:
            raise InitTypeError("a Select needs 'params' (a parameter pattern), 'layer' (class "
                                "names or patterns) or both")
        if then is not None and (not isinstance(then, list) or not all(
                isinstance(entry, Mapping) for entry in then)):
            raise InitTypeError(f"Select argument 'then' must be a list of modifiers "
                                f"(dict(op=...)), got {shown(then)}")
        #: The modifiers, as IR entries (their values may be computed).
        self.then = [dict(entry) for entry in then or ()]
        #: Each modifier: built, or a :class:`Computed` the planner evaluates per write.
        self.modifiers: list[Any] = [
            Computed.of(entry) if computed_keys(entry) else build_modifier(entry)
            for entry in self.then]  # a bad modifier fails here, before any write
        self.layer = names
        self.params = params
        self.pattern = None if params is None else parameter_pattern(params)
        #: With computed arguments (``dict(expr=...)``), ``init`` is ``None`` and
        #: the planner builds the initializer for each tensor from ``computed``.
        self.computed: Computed | None = None
        if isinstance(init, Mapping):
            refused = {"layer", "override"} | ({"bias", "bias_prob"} if params else set())
            extra = sorted(set(init) & refused)
            if extra:
                raise InitTypeError(f"Select writes only the parameters it names: its init "
                                    f"cannot take {', '.join(extra)}")
            if computed_keys(init):
                if "type" not in init:
                    raise InitKeyError(f"the init of a Select has no 'type': {shown(dict(init))}")
                if isinstance(init["type"], str):
                    WEIGHT_INITIALIZERS.lookup(init["type"])  # an unknown type fails here
                self.computed = Computed.of(init)
                self.init = None
                return
            init = WEIGHT_INITIALIZERS.build(dict(init))
        if not isinstance(init, BaseInit) or callable(init):
            raise InitTypeError(f"Select argument 'init' must be a weight initializer (a cfg "
                                f"such as dict(type='Normal', std=0.02)), got {shown(init)}")
        self.init = init

    @property
    def args(self) -> dict[str, Any]:
        """The inner initializer's arguments (no ``bias``), after ``params``."""
        return self.args_with(self.init)

    def args_with(self, init: BaseInit | None) -> dict[str, Any]:
        """:attr:`args` with ``init`` as the inner initializer (built for one tensor)."""
        if init is None:
            assert self.computed is not None
            inner = {k: v for k, v in self.computed.cfg.items() if k != "type"}
        else:
            inner = {k: v for k, v in init.args.items() if k != "bias" or self.params is None}
        layer = {} if self.layer is None else {
            "layer": self.layer[0] if len(self.layer) == 1 else list(self.layer)}
        params = {} if self.params is None else {"params": self.params}
        return {**layer, **params, **inner}

    def describe(self, init: BaseInit | None = None) -> str:
        init = init or self.init
        if init is None:
            assert self.computed is not None
            name = str(self.computed.cfg["type"])
        else:
            name = WEIGHT_INITIALIZERS.name_of(type(init)) or type(init).__name__
        body = ", ".join(f"{k}={v}" for k, v in self.args_with(init).items()
                         if k not in ("layer", "params"))
        head = ", ".join(f"{k}={v}" for k, v in self.args_with(init).items()
                         if k in ("layer", "params"))
        then = "".join(f" then {entry.get('op')}" for entry in self.then)
        return f"Select: {head}, {name}" + (f": {body}" if body else "") + then

    def __repr__(self) -> str:
        return f"SelectInit(params={shown(self.params)}, init={self.init!r})"
