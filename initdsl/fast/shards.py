"""One rank's part of a tensor, with the values a single-process fill gives it.

Fast mode draws every tensor in blocks of :data:`~initdsl.fast.rng.BLOCK_SIZE`
elements of its row-major flattening, each block from its own generator
keyed by ``(seed, name, block)``. So any part of a tensor can be computed
alone: a rank draws only the blocks its part touches, one at a time, and
keeps the elements inside it. The values are those of the whole tensor
filled on one process, bit for bit, whatever the part, so a sharded model
equals the model initialized on one process and then sharded.

A rank's part of a ``DTensor`` is a *selection*: for each dimension, the
increasing global indices the rank holds (:func:`local_indices`). Every
``torch.distributed.tensor`` placement gives one — ``Shard(d)`` a range of
dimension ``d``, nested meshes a range of a range, FSDP2 over tensor
parallelism (``_StridedShard``) interleaved indices — and the local tensor
is the selection's Cartesian product in row-major order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..core.distributions import Distribution
from .rng import BLOCK_SIZE, fill_block, generator

__all__ = ["Selection", "local_indices", "box", "selection_blocks", "fill_selection",
           "selection_jobs", "fill_box", "take"]

#: The global indices a part holds, one increasing 1-D int64 tensor per dimension.
Selection = tuple[Tensor, ...]

#: Elements of the part handled at a time: bounds the scratch index memory
#: (8 bytes per element) whatever the size of the part.
_PIECE = BLOCK_SIZE


def box(offset: Sequence[int], local_shape: Sequence[int]) -> Selection:
    """The selection of the box ``[offset, offset + local_shape)``."""
    return tuple(torch.arange(start, start + size) for start, size in zip(offset, local_shape))


def local_indices(tensor: Tensor, cache: dict | None = None) -> Selection:
    """The selection this rank holds of ``tensor``, a ``DTensor``.

    Each dimension's indices are what ``distribute_tensor`` gives this rank
    of ``arange(size)`` under the tensor's placements restricted to that
    dimension (the shard placements of other dimensions act as
    replication): DTensor's own splitting rules, uneven shards and FSDP2's
    strided shards included, with no communication (``src_data_rank=None``).
    ``cache`` (a dict) shares the work between the tensors of one model.
    """
    mesh, placements = tensor.device_mesh, tuple(tensor.placements)
    cache = {} if cache is None else cache  # one per plan: no mesh outlives its group
    out = []
    for dim, size in enumerate(tensor.shape):
        key = (mesh, placements, tensor.dim(), dim, size)
        if key not in cache:
            cache[key] = _dim_indices(mesh, placements, tensor.dim(), dim, size)
        out.append(cache[key])
    return tuple(out)


def _dim_indices(mesh, placements: tuple, ndim: int, dim: int, size: int) -> Tensor:
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    along: list = []
    for placement in placements:
        shard_dim = getattr(placement, "dim", None)
        if shard_dim is not None and shard_dim % ndim == dim:
            split = getattr(placement, "split_factor", None)
            along.append(Shard(0) if split is None else type(placement)(0, split_factor=split))
        else:
            along.append(Replicate())  # Replicate, or a shard of another dimension
    indices = torch.arange(size, device=mesh.device_type)
    local = distribute_tensor(indices, mesh, along, src_data_rank=None).to_local()
    return local.to("cpu", copy=True)


def _strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def _pieces(shape: Sequence[int], selection: Selection):
    """``(start, flat_index)`` for consecutive pieces of the part, in its row-major order:
    ``flat_index`` holds the global flat index of each element from local element ``start``."""
    sizes = [len(index) for index in selection]
    numel = math.prod(sizes)
    if numel == 0:
        return
    strides = _strides(shape)
    if not sizes:  # a 0-dim tensor
        yield 0, torch.zeros(1, dtype=torch.int64)
        return
    last = selection[-1] * strides[-1]
    width = sizes[-1]
    rows = numel // width
    lead = [index * stride for index, stride in zip(selection[:-1], strides[:-1])]
    step = max(1, _PIECE // width)
    for first in range(0, rows, step):
        row = torch.arange(first, min(first + step, rows))
        base = torch.zeros(len(row), dtype=torch.int64)
        for dim in range(len(lead) - 1, -1, -1):  # unravel the local row number
            base += lead[dim][row % sizes[dim]]
            row = row // sizes[dim]
        yield first * width, (base[:, None] + last[None, :]).reshape(-1)


def selection_blocks(shape: Sequence[int], selection: Selection) -> list[int]:
    """The blocks of the row-major flattening of ``shape`` the selection touches, in order."""
    touched: list[int] = []
    for _, flat in _pieces(shape, selection):
        for number in torch.unique_consecutive(flat // BLOCK_SIZE).tolist():
            if not touched or touched[-1] != number:
                touched.append(number)
    return touched


def fill_selection(out: Tensor, shape: Sequence[int], selection: Selection,
                   dist: Distribution, seed: int, key: str) -> None:
    """Write into ``out`` (contiguous, of the selection's shape) the values its elements get
    from a single-process fast fill of a ``shape`` tensor with ``dist`` keyed by
    ``(seed, key)``.

    Each block the selection touches is drawn once (the global flat indices
    of a row-major selection increase, so blocks come in order): a part of
    whole rows (``Shard(0)``) costs about its own size, and blocks wholly
    inside it are drawn in place; a part of columns costs every block of the
    rows it spans. Scratch memory is one block plus one piece of indices,
    whatever the part's size.
    """
    for _, job in selection_jobs(out, shape, selection, dist, seed, key):
        job()


def selection_jobs(out: Tensor, shape: Sequence[int], selection: Selection,
                   dist: Distribution, seed: int, key: str
                   ) -> list[tuple[int, Callable[[], None]]]:
    """:func:`fill_selection` as ``(elements, job)`` pairs that may run in any order, on any
    thread: one per block of a contiguous part, one for any other part."""
    if tuple(out.shape) != tuple(len(index) for index in selection):
        raise ValueError(f"the part's tensor has shape {tuple(out.shape)}, the selection "
                         f"{tuple(len(index) for index in selection)}")
    if len(selection) != len(shape):
        raise ValueError(f"the selection has {len(selection)} dimensions, the tensor "
                         f"{len(shape)}")
    if not out.is_contiguous():
        raise ValueError("the part's tensor must be contiguous")
    numel, local = math.prod(shape), out.numel()
    if local == 0:
        return []
    if not dist.random:  # a constant: the same value everywhere
        return [(local, lambda: dist.fill_(out, None))]
    target = out.view(-1)
    start = _contiguous_start(shape, selection)
    if start is None:
        return [(local, lambda: _fill_gathered(target, shape, selection, dist, seed, key))]
    stop = start + local
    jobs = []
    for number in range(start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE + 1):
        begin = number * BLOCK_SIZE
        end = min(begin + BLOCK_SIZE, numel)
        low, high = max(start, begin), min(stop, end)
        jobs.append((high - low, functools.partial(
            _fill_span, target, start, begin, end, low, high, dist, seed, key, number)))
    return jobs


def _contiguous_start(shape: Sequence[int], selection: Selection) -> int | None:
    """The global flat index the part starts at if it is one contiguous run, else ``None``."""
    dims = list(range(len(shape)))
    while dims and len(selection[dims[0]]) == 1:
        dims.pop(0)
    if dims:
        first, rest = dims[0], dims[1:]
        index = selection[first]
        if int(index[-1]) - int(index[0]) + 1 != len(index):
            return None
        if any(len(selection[dim]) != shape[dim] for dim in rest):
            return None
    strides = _strides(shape)
    return sum(int(index[0]) * stride for index, stride in zip(selection, strides))


def _fill_span(target: Tensor, start: int, begin: int, end: int, low: int, high: int,
               dist: Distribution, seed: int, key: str, number: int) -> None:
    gen = generator(seed, key, number, target.device)
    if (low, high) == (begin, end):  # the whole block lies in the part: draw it in place
        fill_block(target[begin - start:end - start], dist, gen)
        return
    block = torch.empty(end - begin, dtype=target.dtype, device=target.device)
    fill_block(block, dist, gen)
    target[low - start:high - start] = block[low - begin:high - begin]


def _fill_gathered(target: Tensor, shape: Sequence[int], selection: Selection,
                   dist: Distribution, seed: int, key: str) -> None:
    numel = math.prod(shape)
    block = torch.empty(BLOCK_SIZE, dtype=target.dtype, device=target.device)
    drawn = -1
    for start, flat in _pieces(shape, selection):
        values, counts = torch.unique_consecutive(flat // BLOCK_SIZE, return_counts=True)
        low = 0
        for number, count in zip(values.tolist(), counts.tolist()):
            begin = number * BLOCK_SIZE
            if number != drawn:
                fill_block(block[:min(BLOCK_SIZE, numel - begin)], dist,
                           generator(seed, key, number, target.device))
                drawn = number
            where = (flat[low:low + count] - begin).to(target.device)
            target[start + low:start + low + count] = block[where]
            low += count


def fill_box(out: Tensor, shape: Sequence[int], offset: Sequence[int], dist: Distribution,
             seed: int, key: str) -> None:
    """:func:`fill_selection` of the box ``[offset, offset + out.shape)``."""
    if len(offset) != len(shape) or out.dim() != len(shape):
        raise ValueError(f"the box has {out.dim()} dimensions, the tensor {len(shape)}")
    fill_selection(out, shape, box(offset, out.shape), dist, seed, key)


def take(whole: Tensor, selection: Selection) -> Tensor:
    """The selection of ``whole`` (a tensor of the global shape), reading nothing else.

    Ranges are sliced (a view: a memory-mapped checkpoint tensor is read
    only where the part lies); other index lists are gathered one dimension
    at a time, most selective first.
    """
    part = whole
    for dim, index in enumerate(selection):
        if len(index) == part.shape[dim]:
            continue
        if len(index) and int(index[-1]) - int(index[0]) + 1 == len(index):
            part = part.narrow(dim, int(index[0]), len(index))
        else:
            part = part.index_select(dim, index.to(part.device))
    return part
