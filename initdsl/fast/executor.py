"""Fast mode: execute a :class:`~initdsl.fast.schedule.Schedule`, writing every tensor once.

Where exact mode replays mmengine's run draw by draw from torch's global
generator, fast mode takes the plan as data and writes only each tensor's
final value:

* writes that a later write overwrites are skipped, and tensors a checkpoint
  supplies are never drawn;
* random values come from block-keyed generators (:mod:`initdsl.fast.rng`): block
  ``k`` of tensor ``name`` depends only on ``(seed, name, k)``, so the
  result is the same whatever the module order, the number of threads, or
  which other tensors were loaded or written;
* blocks are filled in parallel by a pool of threads (torch kernels release
  the GIL), each kernel single-threaded so the pool does not oversubscribe
  the cores.

User code cannot be planned. It runs as in exact mode, at the point of the
run where exact mode runs it, after the planned writes that precede it
have been written (a :class:`~initdsl.fast.schedule.Barrier`); what it draws from
torch's global generator is seeded from ``(seed, its module's name)`` and the
caller's generator state is restored after. Loads through modules with
their own loading code run the same way.

Atomicity: the schedule is complete (and validated) before anything runs;
initializers that can fail (user-registered ones) are computed into scratch
tensors before the first write; what remains — fills, draws, copies into
tensors of known shape — does not fail. User code (barriers) can still
raise after earlier writes, as in exact mode.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..collector import no_gc
from ..core.distributions import Constant, Custom
from ..core.executor import execute
from ..core.provenance import LEDGER, Provenance, log_report, provenance
from ..core.runner import active_run
from ..core.seed import policy_seed
from ..core.walk import parameters
from ..language.binding import PolicyLike
from .rng import (
    BLOCK_SIZE,
    blocks,
    fill_block,
    generator,
    resolve_seed,
    seeded,
)
from .schedule import (
    Barrier,
    Copy,
    Draw,
    Schedule,
    Segment,
    Target,
    mismatch_warning,
    plan,
)

__all__ = ["apply", "run", "prepare", "Prepared", "run_jobs"]

logger = logging.getLogger("initdsl")

Job = Callable[[], None]
#: How the executor finds the tensor to write for a target (materialize reallocates).
Resolver = Callable[[Target], "Tensor | None"]


def apply(model: nn.Module, policy: PolicyLike = None, *, seed: int | None = None,
          threads: int | None = None, filename: str | None = None) -> Provenance:
    """Initialize ``model`` in place in fast mode and return its provenance.

    ``policy`` is anything :func:`initdsl.plan` takes (``None``: the
    model's own ``init_cfg`` s). ``seed=None`` takes the policy's ``seed N`` or draws one from torch's
    global generator; ``threads`` defaults to ``torch.get_num_threads()``.
    """
    schedule = plan(model, policy, filename=filename)
    run(schedule, seed=seed, threads=threads)
    return provenance(model)


class Prepared:
    """Values computed before the first write: whole-tensor (custom) initializers.

    Maps a write to a scratch tensor that already holds its values, so that
    an initializer that raises does so before the model is touched.
    """

    def __init__(self) -> None:
        self.scratch: dict[int, Tensor] = {}

    def __contains__(self, write: object) -> bool:
        return id(write) in self.scratch

    def __getitem__(self, write: object) -> Tensor:
        return self.scratch[id(write)]


def prepare(schedule: Schedule, seed: int, *, device: torch.device | None = None,
            dtype_of: Callable[[Target], torch.dtype] | None = None) -> Prepared:
    """Run every :class:`~initdsl.fast.rng.Custom` initializer of ``schedule`` into scratch.

    Each runs on a fresh tensor of the target's shape (on ``device`` and of
    ``dtype_of(target)``, default: the target's own) with torch's global
    generator seeded from ``(seed, target key)``.
    """
    prepared = Prepared()
    for phase in schedule.phases:
        if not isinstance(phase, Segment):
            continue
        for target, write in phase.writes:
            if isinstance(write, Draw) and isinstance(write.dist, Custom):
                where = device if device is not None else target.tensor.device
                dtype = dtype_of(target) if dtype_of is not None else target.dtype
                scratch = torch.empty(target.shape, dtype=dtype, device=where)
                cuda = [scratch.device.index or 0] if scratch.device.type == "cuda" else []
                with seeded(seed, target.key, cuda), torch.no_grad():
                    write.dist.initializer.init_weight(scratch)
                prepared.scratch[id(write)] = scratch
    return prepared


def run(schedule: Schedule, *, seed: int | None = None, threads: int | None = None,
        tensors: Resolver | None = None, prepared: Prepared | None = None) -> None:
    """Carry out ``schedule`` on its model: each segment's final writes, then each barrier.

    Args:
        schedule: from :func:`initdsl.plan`.
        seed: the run's seed (``None``: the policy's ``seed N``, else drawn from
            torch's global generator).
        threads: threads filling blocks (default ``torch.get_num_threads()``);
            the values do not depend on it.
        tensors: where to write a target (default: the tensor it was planned
            on); returning ``None`` skips the target.
        prepared: scratch values from :func:`prepare` (computed here if not given).

    Provenance is recorded as exact mode records it: the final writer of
    each tensor, the load reports, user code's writes.
    """
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)  # the policy's `seed N`, if it has one
    with no_gc():
        _run_schedule(schedule, resolve_seed(seed), threads, tensors, prepared)


def _run_schedule(schedule: Schedule, seed: int, threads: int | None, tensors: Resolver | None,
                  prepared: Prepared | None) -> None:
    threads = torch.get_num_threads() if threads is None else max(1, int(threads))
    model = schedule.model
    name = type(model).__name__
    if schedule.repeated:
        logger.warning("init_weights of %s has been called more than once.", name)
        return
    if prepared is None:
        prepared = prepare(schedule, seed)
    resolve = tensors or (lambda target: target.tensor)
    with active_run(model, schedule.planner):
        for phase in schedule.phases:
            if isinstance(phase, Segment):
                _segment(phase, seed, threads, resolve, prepared)
            else:
                _barrier(phase, seed, schedule)
    log_report(model, name)


def _segment(segment: Segment, seed: int, threads: int, resolve: Resolver,
             prepared: Prepared) -> None:
    jobs: list[tuple[int, Job]] = []
    written: list[tuple[Tensor, Draw | Copy]] = []
    for target, write in segment.writes:
        tensor = resolve(target)
        if tensor is None or tensor.device.type == "meta":
            continue
        written.append((tensor, write))
        if write in prepared:
            jobs.extend(_copy_jobs(tensor, prepared[write]))
        elif isinstance(write, Copy):
            jobs.extend(_copy_jobs(tensor, write.source))
        else:
            jobs.extend(_draw_jobs(tensor, write, seed, target.key))
    for _, _, initializer in segment.loads:
        if initializer.prefix is None:
            logger.info("load model from: %s", initializer.checkpoint)
        else:
            logger.info("load %s in model from: %s", initializer.prefix, initializer.checkpoint)
    run_jobs(jobs, threads)
    for tensor, write in written:
        if getattr(write, "then", ()):
            with torch.no_grad():
                for modifier in write.then:
                    modifier.apply_(tensor)
        LEDGER.record(tensor, write.record)
    for module, report, _ in segment.loads:
        text = mismatch_warning(report)
        if text:
            logger.warning(text)
        LEDGER.add_load(module, report)
    for module in segment.finished:
        module._is_init = True


def _barrier(barrier: Barrier, seed: int, schedule: Schedule) -> None:
    step = barrier.step
    devices = sorted({t.device.index or 0 for t in parameters(step.module)
                      if t.device.type == "cuda"})
    # What user code draws depends only on (seed, where it runs).
    with seeded(seed, f"user|{step.path}", devices):
        execute([step], schedule.planner)


# -- jobs -----------------------------------------------------------------------------------


def _draw_jobs(tensor: Tensor, write: Draw, seed: int, key: str) -> Iterator[tuple[int, Job]]:
    """One job per block of ``tensor`` (a fill or a keyed draw)."""
    numel = tensor.numel()
    if numel == 0:
        return
    dist = write.dist
    if not tensor.is_contiguous():
        # Blocks are defined on the row-major flattening; fill a contiguous
        # copy and write it back in one job (rare: e.g. channels_last weights).
        def whole() -> None:
            flat = torch.empty(numel, dtype=tensor.dtype, device=tensor.device)
            for block in blocks(numel):
                _fill(flat, block, dist, seed, key)
            with torch.no_grad():
                tensor.copy_(flat.view(tensor.shape))
        yield numel, whole
        return
    flat = tensor.detach().view(-1)
    for block in blocks(numel):
        size = min(BLOCK_SIZE, numel - block * BLOCK_SIZE)
        yield size, (lambda block=block: _fill(flat, block, dist, seed, key))


def _fill(flat: Tensor, block: int, dist: Any, seed: int, key: str) -> None:
    part = flat[block * BLOCK_SIZE:(block + 1) * BLOCK_SIZE]
    gen = None if isinstance(dist, Constant) else generator(seed, key, block, flat.device)
    fill_block(part, dist, gen)


def _copy_jobs(tensor: Tensor, source: Tensor) -> Iterator[tuple[int, Job]]:
    """Copy ``source`` into ``tensor``, in blocks when both are contiguous; nothing if
    ``tensor`` *is* ``source`` (materialize assigned the checkpoint's tensor)."""
    if _same(tensor, source):
        return
    numel = tensor.numel()
    target = tensor.detach()
    if target.is_contiguous() and source.is_contiguous() and numel > BLOCK_SIZE:
        dst, src = target.view(-1), source.reshape(-1)
        for start in range(0, numel, BLOCK_SIZE):
            stop = min(start + BLOCK_SIZE, numel)
            yield stop - start, (lambda a=start, b=stop: dst[a:b].copy_(src[a:b]))
    else:
        yield numel, (lambda: target.copy_(source))


def _same(a: Tensor, b: Tensor) -> bool:
    return (a.device == b.device and a.dtype == b.dtype and a.shape == b.shape
            and a.stride() == b.stride() and a.data_ptr() == b.data_ptr())


@contextlib.contextmanager
def _serial_kernels(active: bool) -> Iterator[None]:
    """One intra-op thread per kernel while the pool runs (the pool is the parallelism)."""
    if not active:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_jobs(jobs: list[tuple[int, Job]], threads: int) -> None:
    """Run ``jobs`` on ``threads`` threads (the caller's included), largest first."""
    if not jobs:
        return
    jobs.sort(key=lambda job: -job[0])
    threads = min(threads, len(jobs))
    counter = itertools.count()
    failures: list[BaseException] = []

    def work() -> None:
        with torch.no_grad():
            while not failures:
                index = next(counter)  # atomic under the GIL
                if index >= len(jobs):
                    return
                try:
                    jobs[index][1]()
                except BaseException as error:  # noqa: BLE001 - re-raised by the caller
                    failures.append(error)
                    return

    with _serial_kernels(threads > 1):
        helpers = [threading.Thread(target=work, name=f"initdsl-fast-{i}", daemon=True)
                   for i in range(threads - 1)]
        for helper in helpers:
            helper.start()
        try:
            work()
        finally:
            for helper in helpers:
                helper.join()
    if failures:
        raise failures[0]


def tensors_of(mapping: Mapping[int, Tensor]) -> Resolver:
    """A resolver from ``id(planned tensor)`` to the tensor to write."""
    return lambda target: mapping.get(id(target.tensor))
