"""Distributions and block-keyed random streams: where fast mode's values come from.

Exact mode draws every tensor from torch's one global generator, so a value
depends on every draw made before it: on module order, on which tensors were
written, on what was loaded. Fast mode instead cuts each tensor, flattened
in row-major order, into fixed blocks of :data:`BLOCK_SIZE` elements and fills
block ``k`` of parameter ``name`` from its own generator, seeded with

.. math:: \\text{blake2b}_{64}(\\texttt{"initdsl-fast/1|"}\\,\\text{seed}\\,\\texttt{"|"}\\,k\\,\\texttt{"|"}\\,\\text{name})

so a value depends only on ``(seed, name, block index)`` — the distribution's
parameters aside — and blocks can be filled in any order, on any thread.

The distribution a rule asks for is resolved here once, from the *whole*
tensor's shape (fans, gains, bounds, with torch.nn.init's own formulas), into
a small value object (:class:`Normal`, :class:`Uniform`, :class:`TruncNormal`,
:class:`Constant`) that knows how to fill one block. Initializers that cannot
be cut into blocks (a user-registered one, e.g. orthogonal) become
:class:`Custom`: one generator per tensor, seeded from ``(seed, name)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import operator
import warnings
from collections.abc import Iterator
from typing import Any, Union

import attrs
import torch
from torch import Tensor, nn

from ..core.functional import _normal_cdf
from ..core.initializers import (
    ConstantInit,
    KaimingInit,
    NormalInit,
    TruncNormalInit,
    UniformInit,
    XavierInit,
)

__all__ = [
    "BLOCK_SIZE",
    "REJECTION_TAIL",
    "CHUNK_SIZE",
    "chunks",
    "Constant",
    "Normal",
    "Uniform",
    "TruncNormal",
    "Custom",
    "Distribution",
    "distribution_of",
    "stream_seed",
    "generator",
    "seeded",
    "resolve_seed",
    "blocks",
    "fill_block",
]

#: Elements per block. Part of the values' definition: changing it changes every
#: tensor larger than one block, so it is fixed (and versioned in the key).
BLOCK_SIZE = 1 << 20

#: Elements per piece a CPU block is filled in (256 KiB of float32: an L2 cache's
#: worth). Not part of the values' definition: see :func:`fill_block`.
CHUNK_SIZE = 1 << 16

#: Dtypes whose blocks are drawn in float32 and rounded once, so that a bf16
#: model holds the rounding of the float32 model's values (and the inverse CDF of
#: the truncated normal is not computed in 8 bits of mantissa).
_LOW_PRECISION = (torch.float16, torch.bfloat16)

_KEY_VERSION = "initdsl-fast/1"


def resolve_seed(seed: int | None) -> int:
    """``seed`` as a Python int; ``None`` draws one 63-bit seed from torch's global generator.

    So ``torch.manual_seed(s)`` followed by a fast run without a seed is
    reproducible, and two such runs in a row differ, as with exact mode.
    """
    if seed is None:
        return int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
    if isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return operator.index(seed)


def stream_seed(seed: int, name: str, block: int | None = None) -> int:
    """The 64-bit seed of block ``block`` of tensor ``name`` (``None``: the whole-tensor stream).

    A stable hash (blake2b), not Python's salted ``hash``: the same on every
    run, machine and Python version.
    """
    where = "tensor" if block is None else str(block)
    text = f"{_KEY_VERSION}|{seed}|{where}|{name}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def generator(seed: int, name: str, block: int | None, device: torch.device) -> torch.Generator:
    """A fresh generator on ``device`` for one block (or the whole tensor) of ``name``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, name, block))
    return gen


@contextlib.contextmanager
def seeded(seed: int, key: str, devices: list[int] | None = None) -> Iterator[None]:
    """Run code that draws from torch's *global* generator from a keyed state.

    The global CPU generator (and those of the CUDA ``devices`` listed) is
    saved, seeded with :func:`stream_seed` ``(seed, key)`` and restored after,
    so what the code draws depends only on ``(seed, key)`` and the caller's
    random state is left as it was. (The generators are seeded directly:
    ``torch.manual_seed`` would also queue lazy seeding of every accelerator,
    which records a stack trace per call.)
    """
    value = stream_seed(seed, key)
    generators = [torch.default_generator]
    if devices:
        generators += [torch.cuda.default_generators[index] for index in devices]
    saved = [gen.get_state() for gen in generators]
    try:
        for gen in generators:
            gen.manual_seed(value)
        yield
    finally:
        for gen, state in zip(generators, saved):
            gen.set_state(state)


def blocks(numel: int) -> range:
    """Indices of the blocks of a tensor of ``numel`` elements (none for an empty tensor)."""
    return range((numel + BLOCK_SIZE - 1) // BLOCK_SIZE)


# -- distributions ---------------------------------------------------------------------------


class _Blockwise:
    """A distribution :func:`fill_block` draws piece by piece, then finishes on the whole block."""

    random = True

    def fill_(self, part: Tensor, gen: torch.Generator | None) -> None:
        raise NotImplementedError

    def finish_(self, block: Tensor, gen: torch.Generator | None) -> None:
        """Work that needs the whole block, after all its pieces are drawn (none by default)."""


@attrs.frozen
class Constant(_Blockwise):
    """Every element is ``value``; draws nothing."""

    value: float
    random = False

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.fill_(self.value)

    def describe(self) -> str:
        return f"constant({self.value})"


@attrs.frozen
class Normal(_Blockwise):
    r""":math:`\mathcal{N}(\text{mean}, \text{std}^2)`, one ``normal_`` per block."""

    mean: float
    std: float

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.normal_(self.mean, self.std, generator=gen)

    def describe(self) -> str:
        return f"normal(mean={self.mean}, std={self.std:.6g})"


@attrs.frozen
class Uniform(_Blockwise):
    r""":math:`U(\text{low}, \text{high})`, one ``uniform_`` per block."""

    low: float
    high: float

    def fill_(self, block: Tensor, gen: torch.Generator | None) -> None:
        block.uniform_(self.low, self.high, generator=gen)

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
        low = _normal_cdf((self.a - self.mean) / self.std)
        high = _normal_cdf((self.b - self.mean) / self.std)
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

    def describe(self) -> str:
        return f"trunc_normal(mean={self.mean}, std={self.std}, a={self.a}, b={self.b})"


@attrs.frozen(eq=False)
class Custom:
    """An initializer fast mode cannot cut into blocks: it runs on the whole tensor.

    Its ``init_weight`` draws from torch's global generator, which is seeded
    for the call from ``(seed, name)`` (:func:`seeded`), so the values are
    still independent of order and of the other tensors, but the call is
    sequential.
    """

    initializer: Any
    random = True

    def describe(self) -> str:
        return f"{type(self.initializer).__name__} (whole tensor)"


Distribution = Union[Constant, Normal, Uniform, TruncNormal, Custom]


def chunks(numel: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the cache-sized pieces a block is filled in, in order.

    Pieces are :data:`CHUNK_SIZE` elements; the last one takes the remainder
    (so every piece but a short block's only one has at least 16 elements).
    """
    starts = list(range(0, numel, CHUNK_SIZE)) or [0]
    if len(starts) > 1 and numel - starts[-1] < CHUNK_SIZE:
        starts.pop()
    return list(zip(starts, starts[1:] + [numel]))


def fill_block(block: Tensor, dist: Distribution, gen: torch.Generator | None) -> None:
    """Fill one contiguous 1-D ``block`` from ``dist`` and the block's generator ``gen``.

    On the CPU a random block is filled piece by piece (:func:`chunks`), each
    piece drawn from ``gen`` in turn: the whole draw-and-transform pipeline
    (for the truncated normal by inverse CDF: uniform, erfinv, scale, shift,
    clamp) then runs
    on a piece that stays in the core's L2 cache, about 1.4x faster than
    whole-block passes. torch's CPU ``normal_``/``uniform_`` consume the
    generator element by element (``normal_`` in groups of 16 from the start),
    so the pieces hold exactly what one call on the whole block would draw
    (``tests/fast/test_distributions.py`` checks it). The distribution's
    ``finish_`` then runs on the whole block (the truncated normal's redraws),
    so no piece depends on how the block was cut. float16/bfloat16 blocks are
    drawn in float32 and rounded once.
    """
    if not dist.random:
        dist.fill_(block, gen)
        return
    low = block.dtype in _LOW_PRECISION
    pieces = chunks(block.numel()) if block.device.type == "cpu" else [(0, block.numel())]
    scratch = (torch.empty(min(block.numel(), 2 * CHUNK_SIZE), dtype=torch.float32,
                           device=block.device) if low else None)
    for start, stop in pieces:
        part = block[start:stop]
        if scratch is None:
            dist.fill_(part, gen)
        else:
            buffer = scratch[:stop - start] if block.device.type == "cpu" else \
                torch.empty(stop - start, dtype=torch.float32, device=block.device)
            dist.fill_(buffer, gen)
            part.copy_(buffer)
    dist.finish_(block, gen)


def distribution_of(initializer: Any, weight: Tensor) -> Distribution:
    """What ``initializer.init_weight(weight)`` draws, resolved for ``weight``'s full shape.

    The built-in initializers map to the exact distribution torch.nn.init
    uses (same formulas: ``_calculate_fan_in_and_fan_out``,
    ``_calculate_correct_fan``, ``calculate_gain``); only shapes are read,
    so ``weight`` may be on the meta device. An initializer whose
    ``init_weight`` is not a built-in one (a user subclass that overrides it,
    a registered custom initializer) is :class:`Custom`.
    """
    method = getattr(type(initializer), "init_weight", None)
    if method is ConstantInit.init_weight:
        return Constant(initializer.val)
    if method is NormalInit.init_weight:
        return Normal(initializer.mean, initializer.std)
    if method is UniformInit.init_weight:
        return Uniform(initializer.a, initializer.b)
    if method is TruncNormalInit.init_weight:
        mean, std, a, b = initializer.mean, initializer.std, initializer.a, initializer.b
        if mean < a - 2 * std or mean > b + 2 * std:
            # the same warning trunc_normal_ gives in exact mode
            warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                          "The distribution of values may be incorrect.", stacklevel=2)
        return TruncNormal(mean, std, a, b)
    if method is XavierInit.init_weight:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
        std = initializer.gain * math.sqrt(2.0 / float(fan_in + fan_out))
        if initializer.distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Uniform(-bound, bound)
        return Normal(0.0, std)
    if method is KaimingInit.init_weight:  # also Caffe2Xavier, a fixed Kaiming
        if 0 in weight.shape:
            # torch warns and writes nothing; there is nothing to write either way
            return Constant(0.0)
        fan = nn.init._calculate_correct_fan(weight, initializer.mode)
        gain = nn.init.calculate_gain(initializer.nonlinearity, initializer.a)
        std = gain / math.sqrt(fan)
        if initializer.distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Uniform(-bound, bound)
        return Normal(0.0, std)
    return Custom(initializer)
