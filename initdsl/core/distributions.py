"""Distributions: what an initializer draws for one tensor, resolved and checked.

An initializer's arguments say *how* to draw (``gain``, ``mode``, ``std``);
the numbers a draw uses also depend on the tensor it writes: its fans, and
its dtype. :func:`resolve` turns a built-in initializer and a tensor into
a small value object — :class:`Constant`, :class:`Normal`, :class:`Uniform`,
:class:`TruncNormal` — with torch.nn.init's own formulas
(``_calculate_fan_in_and_fan_out``, ``_calculate_correct_fan``,
``calculate_gain``), and checks that torch will take those numbers for the
tensor: representable in its dtype, uniform bounds finite and in order, a
scale that does not overflow. Only shapes and dtypes are read, so a tensor
on the meta device resolves like any other.

Both modes resolve through here before the first write: the planner checks
every write of a run (an :class:`~initdsl.InitValueError` with the argument
to blame, code ``E122``, instead of a torch error after earlier rules
wrote), and fast mode draws from the resolved objects, block by block
(:func:`initdsl.fast.rng.fill_block`). An initializer whose ``init_weight``
is not a built-in one is :class:`Custom`: it runs on the whole tensor and
is not checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Union

import attrs
import torch
from torch import Tensor, nn

from ..errors import InitValueError, shown
from .formulas import normal_cdf
from .initializers import (
    TRUNCATED_STD,
    ConstantInit,
    KaimingInit,
    NormalInit,
    TruncNormalInit,
    UniformInit,
    VarianceScalingInit,
    XavierInit,
)
from .registry import WEIGHT_INITIALIZERS

__all__ = [
    "Constant",
    "Normal",
    "Uniform",
    "TruncNormal",
    "Custom",
    "Distribution",
    "REJECTION_TAIL",
    "resolve",
    "resolve_fill",
    "distribution_of",
]

#: The integers torch turns into a fill value (int64 and uint64).
_SCALAR_INTS = (-(2**63), 2**64 - 1)



# -- what torch accepts ------------------------------------------------------------------------
#
# The checks below reject exactly what torch would reject while writing, so
# that no run fails half-way. They do not reject what torch writes without
# complaint and mmengine accepts (an infinite bias from bias_prob=1.0, a
# normal draw whose tails overflow): the core stays mmengine's. The policy
# language is stricter about the numbers it can spell (docs/language.md).


def _limit(dtype: torch.dtype) -> float | None:
    """The largest magnitude a ``dtype`` element holds (``None``: not a number type)."""
    if dtype.is_floating_point or dtype.is_complex:
        return torch.finfo(dtype).max
    if dtype == torch.bool:
        return None
    return float(torch.iinfo(dtype).max)


def _real(value: Any) -> float:
    """``value`` as a float (0-dim tensors included); ``OverflowError`` if it has no float."""
    if isinstance(value, Tensor):
        value = value.item()
    return float(value)


def _scalar_problem(value: Any) -> str | None:
    """Why torch cannot take ``value`` as a scalar argument at all, or ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = _SCALAR_INTS
        if not low <= value <= high:
            return f"{shown(value, 24)} is outside the integers torch takes (-2**63 to 2**64-1)"
    try:
        _real(value)
    except (OverflowError, TypeError, ValueError):
        return f"{shown(value, 24)} is not a number torch can take"
    return None


def _fill_problem(value: Any, dtype: torch.dtype) -> str | None:
    """Why torch cannot fill a ``dtype`` tensor with ``value`` (or clamp to it), or ``None``."""
    why = _scalar_problem(value)
    if why:
        return why
    number, limit = _real(value), _limit(dtype)
    if limit is not None and math.isfinite(number) and abs(number) > limit:
        return f"{shown(value, 24)} does not fit in {_dtype(dtype)} (largest {limit:.4g})"
    return None


def _bound_problem(value: Any, dtype: torch.dtype) -> str | None:
    """Why ``value`` cannot bound a ``uniform_`` draw into a ``dtype`` tensor, or ``None``."""
    why = _scalar_problem(value)
    if why:
        return why
    number, limit = _real(value), _limit(dtype)
    if not math.isfinite(number):
        return f"{shown(number)} is not finite"
    if limit is not None and abs(number) > limit:
        return f"{shown(value, 24)} does not fit in {_dtype(dtype)} (largest {limit:.4g})"
    return None


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _random_problem(dtype: torch.dtype) -> str | None:
    if not dtype.is_floating_point:
        return f"random values cannot be drawn into a {_dtype(dtype)} tensor"
    return None


# -- distributions ---------------------------------------------------------------------------


class _Blockwise:
    """A distribution :func:`~initdsl.fast.rng.fill_block` draws piece by piece, then
    finishes on the whole block."""

    random = True

    def fill_(self, part: Tensor, gen: torch.Generator | None) -> None:
        raise NotImplementedError

    def finish_(self, block: Tensor, gen: torch.Generator | None) -> None:
        """Work that needs the whole block, after all its pieces are drawn (none by default)."""

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        """``(field, why)`` if these values cannot be written into a ``dtype`` tensor."""
        raise NotImplementedError


@attrs.frozen
class Constant(_Blockwise):
    """Every element is ``value``; draws nothing."""

    value: float
    random = False

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.fill_(self.value)

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        why = _fill_problem(self.value, dtype)
        return None if why is None else ("value", why)

    def describe(self) -> str:
        return f"constant({self.value})"


@attrs.frozen
class Normal(_Blockwise):
    r""":math:`\mathcal{N}(\text{mean}, \text{std}^2)`, one ``normal_`` per block."""

    mean: float
    std: float

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.normal_(self.mean, self.std, generator=gen)

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        why = _random_problem(dtype)
        if why:
            return None, why
        for field in ("mean", "std"):
            why = _scalar_problem(getattr(self, field))
            if why:
                return field, why
        std = _real(self.std)
        if not std >= 0:  # NaN too
            return "std", f"the standard deviation {std:.6g} is not >= 0"
        return None

    def describe(self) -> str:
        return f"normal(mean={self.mean}, std={self.std:.6g})"


@attrs.frozen
class Uniform(_Blockwise):
    r""":math:`U(\text{low}, \text{high})`, one ``uniform_`` per block."""

    low: float
    high: float

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.uniform_(self.low, self.high, generator=gen)

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        why = _random_problem(dtype)
        if why:
            return None, why
        for field in ("low", "high"):
            why = _bound_problem(getattr(self, field), dtype)
            if why:
                return field, why
        low, high = _real(self.low), _real(self.high)
        if not low <= high:
            return "low", f"the bounds are out of order ({low:.6g} > {high:.6g})"
        limit = _limit(dtype)
        if high - low > limit:
            return "high", (f"the width of the interval, {high - low:.4g}, overflows "
                            f"{_dtype(dtype)} (largest {limit:.4g})")
        return None

    def describe(self) -> str:
        return f"uniform({self.low:.6g}, {self.high:.6g})"


#: The truncated normal keeps plain normal draws (and redraws the rare ones
#: outside ``[a, b]``) when at most this fraction of them falls outside: under one
#: element per block. Otherwise it uses the inverse CDF.
REJECTION_TAIL = 2.0**-20


@attrs.frozen
class TruncNormal(_Blockwise):
    r""":math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to ``[a, b]``.

    With :math:`l = \Phi((a-\text{mean})/\text{std})` and
    :math:`h = \Phi((b-\text{mean})/\text{std})`, a normal draw lands in
    ``[a, b]`` with probability :math:`h - l`.

    * When :math:`1 - (h - l) \le` :data:`REJECTION_TAIL` (``std=0.02`` inside
      the default ``[-2, 2]``: every draw, in practice), a block is drawn with
      ``normal_`` and each element outside ``[a, b]`` is redrawn from the same
      generator until it is inside: rejection sampling, which yields exactly
      the truncated distribution, at a third less work than the inverse CDF.
    * Otherwise, the inverse CDF of :func:`initdsl.trunc_normal_` (mmengine's):
      :math:`u \sim U(2l-1, 2h-1)`,
      :math:`w = \operatorname{clamp}(\text{mean} + \text{std}\sqrt2\operatorname{erfinv}(u), a, b)`.
    """

    mean: float
    std: float
    a: float
    b: float

    @property
    def bounds(self) -> tuple[float, float]:
        """The inverse CDF's uniform bounds :math:`(2l-1, 2h-1)`."""
        low = normal_cdf((self.a - self.mean) / self.std)
        high = normal_cdf((self.b - self.mean) / self.std)
        return 2 * low - 1, 2 * high - 1

    @property
    def by_rejection(self) -> bool:
        """Whether blocks are normal draws with the outliers redrawn (else inverse CDF)."""
        low, high = self.bounds
        return 1 - (high - low) / 2 <= REJECTION_TAIL

    def fill_(self, part: Tensor, gen: torch.Generator | None) -> None:
        if self.by_rejection:
            part.normal_(self.mean, self.std, generator=gen)
            return
        low, high = self.bounds
        part.uniform_(low, high, generator=gen)
        # The elementwise tail runs on a piece that is still in cache.
        part.erfinv_()
        part.mul_(self.std * math.sqrt(2.0))
        part.add_(self.mean)
        part.clamp_(min=self.a, max=self.b)

    def finish_(self, block: Tensor, gen: torch.Generator | None) -> None:
        """Redraw, in row-major order, the elements outside ``[a, b]`` until none is."""
        if not self.by_rejection:
            return
        low, high = torch.aminmax(block)
        if low.item() >= self.a and high.item() <= self.b:
            return
        index = ((block < self.a) | (block > self.b)).nonzero().flatten()
        while index.numel():
            values = torch.empty(index.numel(), dtype=torch.float32, device=block.device)
            values = values.normal_(self.mean, self.std, generator=gen).to(block.dtype)
            inside = (values >= self.a) & (values <= self.b)
            block[index[inside]] = values[inside]
            index = index[~inside]

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        why = _random_problem(dtype)
        if why:
            return None, why
        for field in ("mean", "std"):
            why = _scalar_problem(getattr(self, field))
            if why:
                return field, why
        for field in ("a", "b"):  # the draw is clamped to them
            why = _fill_problem(getattr(self, field), dtype)
            if why:
                return field, why
        return None

    def describe(self) -> str:
        return f"trunc_normal(mean={self.mean}, std={self.std}, a={self.a}, b={self.b})"


@attrs.frozen(eq=False)
class Custom:
    """An initializer fast mode cannot cut into blocks: it runs on the whole tensor.

    Its ``init_weight`` draws from torch's global generator, which is seeded
    for the call from ``(seed, name)`` (:func:`~initdsl.fast.rng.seeded`), so
    the values are still independent of order and of the other tensors, but
    the call is sequential. What it draws is not known, so it is not checked.
    """

    initializer: Any
    random = True

    def problem(self, dtype: torch.dtype) -> tuple[str | None, str] | None:
        return None

    def describe(self) -> str:
        return f"{type(self.initializer).__name__} (whole tensor)"


Distribution = Union[Constant, Normal, Uniform, TruncNormal, Custom]


# -- resolving an initializer for a tensor ----------------------------------------------------

#: Which argument each resolved number comes from, by initializer (where not the same name).
_FROM_GAIN = {"mean": "gain", "std": "gain", "low": "gain", "high": "gain"}
_FROM_SLOPE = {"mean": "a", "std": "a", "low": "a", "high": "a"}
_SAME = {"value": "val", "low": "a", "high": "b"}
_FROM_STD_BOUNDS = {"a": "a", "b": "b", "mean": "mean", "std": "std"}
_FROM_SCALE = {"mean": "scale", "std": "scale", "low": "scale", "high": "scale", "a": "scale",
               "b": "scale"}


def _resolved(initializer: Any, weight: Tensor) -> tuple[Distribution, Mapping[str, str]]:
    """The distribution and, for each of its numbers, the argument it comes from."""
    method = getattr(type(initializer), "init_weight", None)
    if method is ConstantInit.init_weight:
        return Constant(initializer.val), _SAME
    if method is NormalInit.init_weight:
        return Normal(initializer.mean, initializer.std), _SAME
    if method is UniformInit.init_weight:
        return Uniform(initializer.a, initializer.b), _SAME
    if method is TruncNormalInit.init_weight:
        if initializer.bounds == "std":
            low, high = initializer.absolute_bounds
            return TruncNormal(initializer.mean, initializer.std, low, high), _FROM_STD_BOUNDS
        return TruncNormal(initializer.mean, initializer.std, initializer.a, initializer.b), _SAME
    if method is VarianceScalingInit.init_weight:
        std = _arithmetic(lambda: initializer.std_for(weight), initializer, "scale")
        if initializer.distribution == "normal":
            return Normal(0.0, std), _FROM_SCALE
        if initializer.distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Uniform(-bound, bound), _FROM_SCALE
        std /= TRUNCATED_STD
        return TruncNormal(0.0, std, -2.0 * std, 2.0 * std), _FROM_SCALE
    if method is XavierInit.init_weight:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
        if fan_in + fan_out == 0:
            raise InitValueError(f"Xavier cannot scale a weight with no elements (shape "
                                 f"{tuple(weight.shape)}): fan_in + fan_out is 0", code="E122")
        std = _arithmetic(lambda: initializer.gain * math.sqrt(2.0 / float(fan_in + fan_out)),
                          initializer, "gain")
        if initializer.distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Uniform(-bound, bound), _FROM_GAIN
        return Normal(0.0, std), _FROM_GAIN
    if method is KaimingInit.init_weight:  # also Caffe2Xavier, a fixed Kaiming
        if 0 in weight.shape:
            # torch warns and writes nothing; there is nothing to write either way
            return Constant(0.0), _FROM_SLOPE
        fan = nn.init._calculate_correct_fan(weight, initializer.mode)
        gain = _arithmetic(lambda: nn.init.calculate_gain(initializer.nonlinearity, initializer.a),
                           initializer, "a")
        std = gain / math.sqrt(fan)
        if initializer.distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Uniform(-bound, bound), _FROM_SLOPE
        return Normal(0.0, std), _FROM_SLOPE
    return Custom(initializer), {}


def _arithmetic(compute: Any, initializer: Any, argument: str) -> float:
    """``compute()``, with an overflow blamed on ``argument`` (``E122``)."""
    try:
        value = float(compute())
    except (OverflowError, ValueError, ZeroDivisionError) as error:
        value, why = math.nan, f"{type(error).__name__}: {error}"
    else:
        why = None if math.isfinite(value) else f"it gives {shown(value)}"
    if why is not None:
        name = WEIGHT_INITIALIZERS.name_of(type(initializer))
        raise InitValueError(
            f"{name} cannot compute its scale from {argument}="
            f"{shown(getattr(initializer, argument, None), 24)} ({why})",
            argument=argument, code="E122")
    return value


def distribution_of(initializer: Any, weight: Tensor) -> Distribution:
    """What ``initializer.init_weight(weight)`` draws, resolved for ``weight``'s full shape.

    Not checked against the dtype (see :func:`resolve`). An initializer whose
    ``init_weight`` is not a built-in one (a user subclass that overrides it,
    a registered custom initializer) is :class:`Custom`.
    """
    return _resolved(initializer, weight)[0]


def resolve(initializer: Any, weight: Tensor) -> Distribution:
    """:func:`distribution_of`, checked: torch will accept its numbers for ``weight``.

    Raises :class:`~initdsl.InitValueError` with ``argument`` (the argument
    to blame, when one is) and ``code="E122"`` where torch would raise while
    writing: a constant that does not fit the weight's dtype
    (``constant(1e308)`` into float32), an integer torch cannot take
    (``constant(10**20)``), uniform bounds that are not finite, do not fit
    or are out of order once the gain and fan are applied
    (``xavier(gain=-0.5, distribution=uniform)``), a negative standard
    deviation, truncation bounds that do not fit, or a scale that overflows
    (``kaiming(a=1e200, nonlinearity=leaky_relu)``).
    """
    dist, blame = _resolved(initializer, weight)
    found = dist.problem(weight.dtype)
    if found is None:
        return dist
    field, why = found
    argument = blame.get(field, field) if field is not None else None
    name = WEIGHT_INITIALIZERS.name_of(type(initializer))
    if argument is not None and argument in _args(initializer):
        given = f"{argument}={shown(_args(initializer)[argument], 24)}"
        if blame is _SAME:  # the number is the argument itself
            text = f"{name} cannot write {given}: {why}"
        else:
            text = f"{name} with {given} draws {dist.describe()} for this weight: {why}"
    else:
        argument = None
        text = f"{name} draws {dist.describe()} for this weight: {why}"
    raise InitValueError(text, argument=argument, code="E122")


def resolve_fill(value: Any, tensor: Tensor, owner: str, argument: str) -> None:
    """Check that the constant ``value`` (``owner``'s ``argument``) can fill ``tensor``."""
    why = _fill_problem(value, tensor.dtype)
    if why is not None:
        raise InitValueError(f"{owner} cannot write {argument}={shown(value, 24)}: {why}",
                             argument=argument, code="E122")


def _args(initializer: Any) -> Mapping[str, Any]:
    args = getattr(initializer, "args", None)
    return args if isinstance(args, Mapping) else {}
