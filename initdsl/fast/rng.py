"""Block-keyed random streams: where fast mode's values come from.

Exact mode draws every tensor from torch's one global generator, so a value
depends on every draw made before it: on module order, on which tensors were
written, on what was loaded. Fast mode instead cuts each tensor, flattened
in row-major order, into fixed blocks of :data:`BLOCK_SIZE` elements and fills
block ``k`` of parameter ``name`` from its own generator, seeded with

.. math:: \\text{blake2b}_{64}(\\texttt{"initdsl-fast/1|"}\\,\\text{seed}\\,\\texttt{"|"}\\,k\\,\\texttt{"|"}\\,\\text{name})

so a value depends only on ``(seed, name, block index)`` — the distribution's
parameters aside — and blocks can be filled in any order, on any thread.

The distribution a rule asks for is resolved once, from the *whole*
tensor's shape, by the core (:mod:`initdsl.core.distributions`, the same
resolution that checks every write before a run), into a small value object
that knows how to fill one block; :func:`fill_block` fills a block from it.
Initializers that cannot be cut into blocks (a user-registered one, e.g.
orthogonal) are :class:`~initdsl.core.distributions.Custom`: one generator per
tensor, seeded from ``(seed, name)``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor

from ..core.distributions import Distribution
from ..core.seed import check_seed

__all__ = [
    "BLOCK_SIZE",
    "CHUNK_SIZE",
    "chunks",
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
    return check_seed(seed)


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
