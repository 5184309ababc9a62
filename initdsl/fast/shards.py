"""One shard of a tensor, with the values a single-process fill gives it.

Fast mode draws every tensor in blocks of :data:`~initdsl.fast.rng.BLOCK_SIZE`
elements of its row-major flattening, each block from its own generator
keyed by ``(seed, name, block)``. So any part of a tensor can be computed
alone: a rank that owns the box ``[offset, offset + local_shape)`` of a
global tensor draws only the blocks that box touches, one at a time, and
keeps the elements inside it. The values are those of the whole tensor
filled on one process, bit for bit, whatever the box (rows, columns, a 2-D
tile), so a sharded model equals the model initialized on one process and
then sharded.

This is the building block of sharded initialization (issue 14): a box is
what ``torch.distributed.tensor``'s ``compute_local_shape_and_global_offset``
gives each rank for a ``DTensor`` placement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..core.distributions import Constant, Distribution
from .rng import BLOCK_SIZE, fill_block, generator

__all__ = ["box_blocks", "fill_box"]


def _strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def box_blocks(shape: Sequence[int], offset: Sequence[int], local_shape: Sequence[int]
               ) -> range:
    """The blocks of the row-major flattening of ``shape`` that the box touches."""
    if math.prod(local_shape) == 0:
        return range(0)
    strides = _strides(shape)
    first = sum(o * s for o, s in zip(offset, strides))
    last = sum((o + n - 1) * s for o, n, s in zip(offset, local_shape, strides))
    return range(first // BLOCK_SIZE, last // BLOCK_SIZE + 1)


def fill_box(out: Tensor, shape: Sequence[int], offset: Sequence[int], dist: Distribution,
             seed: int, key: str) -> None:
    """Write into ``out`` (the box's local tensor, contiguous, of shape ``out.shape``) the
    values the box ``[offset, offset + out.shape)`` of a ``shape`` tensor gets from a
    single-process fast fill of ``dist`` keyed by ``(seed, key)``.

    Costs the blocks the box touches: for a box of whole rows (``Shard(0)``), about
    the box itself; for columns, every block of the rows it spans, one at a time.
    """
    local_shape = tuple(out.shape)
    if len(local_shape) != len(shape):
        raise ValueError(f"the box has {len(local_shape)} dimensions, the tensor {len(shape)}")
    if not out.is_contiguous():
        raise ValueError("the box's tensor must be contiguous")
    numel = math.prod(shape)
    if isinstance(dist, Constant):
        dist.fill_(out, None)
        return
    strides = _strides(shape)
    # The global flat index of every element of the box, in the box's own order.
    index = torch.zeros(local_shape, dtype=torch.int64, device=out.device)
    for dim, (start, size, stride) in enumerate(zip(offset, local_shape, strides)):
        view = [1] * len(shape)
        view[dim] = size
        index += (torch.arange(start, start + size, device=out.device) * stride).view(view)
    # Row-major order of the box is increasing global order: each block's elements
    # are one contiguous run of the box's own flattening.
    flat_index = index.reshape(-1)
    target = out.view(-1)
    block = torch.empty(BLOCK_SIZE, dtype=out.dtype, device=out.device)
    for number in box_blocks(shape, offset, local_shape):
        begin = number * BLOCK_SIZE
        size = min(BLOCK_SIZE, numel - begin)
        bounds = torch.tensor([begin, begin + size], device=out.device)
        low, high = torch.searchsorted(flat_index, bounds).tolist()
        if low == high:
            continue
        part = block[:size]
        fill_block(part, dist, generator(seed, key, number, out.device))
        target[low:high] = part[flat_index[low:high] - begin]
