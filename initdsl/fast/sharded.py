"""Fast mode on a sharded model: each rank allocates and writes only its parts.

A model that ``torch.distributed`` has sharded — FSDP2's ``fully_shard``,
tensor parallelism (``parallelize_module``), any ``distribute_tensor``
placement, nested meshes — holds ``DTensor`` parameters whose global shape
is the model's and whose local tensor is the rank's part. Fast mode's
values do not depend on who computes them (:mod:`initdsl.fast.rng`), so each
rank computes exactly its part of what one process would write
(:mod:`initdsl.fast.shards`):

* draws and constants: only the blocks the part touches are drawn, with
  modifiers applied to the part (a ``zero_row`` only where the row lies);
* loads: the part is sliced out of the memory-mapped checkpoint tensor
  (``torch.load(mmap=True)``, ``.safetensors``), so a rank reads only what
  it holds; load reports are the same on every rank and logged by rank 0;
* whole-tensor initializers (a registered one, ``orthogonal``) and module
  defaults (``reset_parameters`` of a tensor no rule writes) run on a full
  scratch tensor, one tensor or module at a time, seeded as on one process,
  and the rank keeps its part;
* tensors that are not ``DTensor`` s (a module left out of the plan, a
  buffer) are written whole, as on one process.

:class:`ShardPlan` is what a rank computes before allocating anything: its
part of every tensor and what writes it. User code (a module's own
``init_weights``, a callable initializer) cannot be run on a part; it is
refused before anything is allocated, with the alternatives.
"""

from __future__ import annotations

import logging

import attrs
import torch
from torch import Tensor, nn

from ..core.distributions import Custom
from ..core.provenance import LEDGER, Record
from ..core.runner import active_run
from ..core.seed import policy_seed
from ..errors import InitValueError, warn_caller
from ..language.binding import PolicyLike
from .defaults import (
    call_default,
    current,
    default_record,
    defaults_needed,
    unwritten_warning,
)
from .executor import run_jobs
from .rng import resolve_seed, seeded
from .schedule import Copy, Draw, Schedule, Target, mismatch_warning, plan
from .shards import Selection, local_indices, selection_jobs, take

__all__ = ["ShardPlan", "Part", "is_sharded", "plan_shards", "write_shards", "apply_sharded"]

logger = logging.getLogger("initdsl")


def is_sharded(tensor: Tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed`` ``DTensor`` (FSDP2, tensor parallel)."""
    cls = type(tensor)
    return any(base.__name__ == "DTensor" and base.__module__.startswith("torch.distributed")
               for base in cls.__mro__)


@attrs.frozen(eq=False)
class Part:
    """One tensor of the model as this rank holds it, and what writes it.

    ``selection`` is the rank's global indices per dimension (``None``: the
    rank holds the whole tensor); ``write`` the final planned write
    (``None``: a module default or zeros, see ``default``).
    """

    target: Target
    selection: Selection | None
    write: Draw | Copy | None
    default: str = ""  # the module method that covers an unwritten tensor ("": zeros)

    @property
    def local_shape(self) -> tuple[int, ...]:
        if self.selection is None:
            return self.target.shape
        return tuple(len(index) for index in self.selection)

    @property
    def local_numel(self) -> int:
        size = 1
        for n in self.local_shape:
            size *= n
        return size


@attrs.frozen(eq=False)
class ShardPlan:
    """What one rank writes: its :class:`Part` of every tensor, in the schedule's order.

    ``defaults`` are the modules whose default method runs (on whole scratch
    tensors) for tensors no rule writes, as ``(path, module, parts, method)``.
    """

    schedule: Schedule
    parts: tuple[Part, ...]
    defaults: tuple[tuple[str, nn.Module, tuple[Part, ...], str], ...]

    @property
    def local_numel(self) -> int:
        """Elements this rank holds (what it allocates)."""
        return sum(part.local_numel for part in self.parts)


def _refuse_user_code(schedule: Schedule) -> None:
    if not (schedule.user_root or schedule.barriers):
        return
    step = schedule.barriers[0].step
    raise InitValueError(
        f"sharded materialize: {step.record.writer or 'user code'} (at {step.path or 'the root'})"
        " is user code; run on one rank's shard its values would depend on the sharding. Turn "
        "it into a policy (`initdsl capture --model ...`), or initialize on one rank and "
        "scatter: initdsl.apply(model, policy, mode='exact', scatter=True)")


def plan_shards(schedule: Schedule) -> ShardPlan:
    """This rank's part of every tensor of ``schedule``'s model, and what writes it.

    Reads only shapes and placements (the model may be on meta); raises
    :class:`~initdsl.InitValueError` for what cannot be written per shard.
    Costs one ``distribute_tensor`` of an index vector per distinct
    (dimension size, placements) — no communication, and nothing that
    grows with the world size but the index vectors' own splitting.
    """
    _refuse_user_code(schedule)
    cache: dict = {}
    parts: dict[int, Part] = {}
    defaults_of: dict[int, str] = {}
    defaults, _ = defaults_needed(schedule)
    for _, module, targets, method in defaults:
        for target in targets:
            defaults_of[id(target)] = method
    for target in schedule.targets:
        if target.kind == "detached":
            raise InitValueError(f"sharded materialize: {target.name} is not a parameter or "
                                 "buffer of the model (a computed weight); it cannot be sharded")
        selection = local_indices(target.tensor, cache) if is_sharded(target.tensor) else None
        parts[id(target)] = Part(target, selection, target.final_planned,
                                 defaults_of.get(id(target), ""))
    return ShardPlan(
        schedule,
        tuple(parts[id(t)] for t in schedule.targets),
        tuple((path, module, tuple(parts[id(t)] for t in targets), method)
              for path, module, targets, method in defaults),
    )


def _local(tensor: Tensor) -> Tensor:
    return tensor._local_tensor if is_sharded(tensor) else tensor.data


def write_shards(plan: ShardPlan, seed: int, *, threads: int | None = None,
                 unwritten: str = "warn") -> None:
    """Write every part of ``plan`` into the model's (allocated) local tensors.

    Whole-tensor initializers run first, into scratch, so that one that
    raises does so before anything is written.
    """
    schedule = plan.schedule
    threads = torch.get_num_threads() if threads is None else max(1, int(threads))
    scratch = _whole_tensor_initializers(plan, seed)
    model = schedule.model
    with active_run(model, schedule.planner):
        zeroed = _run_defaults(plan, seed)
        jobs = []
        written: list[tuple[Part, Tensor, Tensor]] = []
        for part in plan.parts:
            write = part.write
            if write is None:
                continue
            tensor = current(part.target)
            local = _local(tensor)
            written.append((part, tensor, local))
            if id(write) in scratch:
                jobs.append((local.numel(), lambda local=local, value=scratch[id(write)]:
                             local.copy_(value)))
            elif isinstance(write, Copy):
                source = write.source if part.selection is None else take(write.source,
                                                                          part.selection)
                jobs.append((local.numel(), lambda local=local, source=source:
                             local.copy_(source)))
            else:
                selection = part.selection
                if selection is None:
                    selection = tuple(torch.arange(n) for n in part.target.shape)
                jobs.extend(selection_jobs(local, part.target.shape, selection, write.dist,
                                           seed, part.target.key))
        run_jobs(jobs, threads)
        with torch.no_grad():
            for part, tensor, local in written:
                rows = None if part.selection is None or not part.selection else part.selection[0]
                for modifier in getattr(part.write, "then", ()):
                    if rows is None:
                        modifier.apply_(local)
                    else:
                        modifier.apply_part_(local, rows, part.target.shape)
                LEDGER.record(tensor, part.write.record)
        for phase in schedule.phases:
            for module, report, initializer in getattr(phase, "loads", ()):
                if _reporting():
                    logger.info("load model from: %s", initializer.checkpoint)
                    text = mismatch_warning(report)
                    if text:
                        logger.warning(text)
                LEDGER.add_load(module, report)
            for module in getattr(phase, "finished", ()):
                module._is_init = True
    names = [part.target.name for part in zeroed]
    if names and unwritten == "warn" and _reporting():
        warn_caller(unwritten_warning(model, names))


def _reporting() -> bool:
    """Whether this process reports (rank 0, or not distributed): messages once, not per rank."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _whole_tensor_initializers(plan: ShardPlan, seed: int) -> dict[int, Tensor]:
    """Each whole-tensor initializer's values for this rank's part, computed on a full
    scratch tensor one at a time (as :func:`initdsl.fast.executor.prepare` does)."""
    out: dict[int, Tensor] = {}
    for part in plan.parts:
        write = part.write
        if not (isinstance(write, Draw) and isinstance(write.dist, Custom)):
            continue
        target = part.target
        device = _local_device(target)
        full = torch.empty(target.shape, dtype=target.dtype, device=device)
        cuda = [full.device.index or 0] if full.device.type == "cuda" else []
        with seeded(seed, target.key, cuda), torch.no_grad():
            write.dist.initializer.init_weight(full)
        out[id(write)] = full if part.selection is None else take(full, part.selection).clone()
    return out


def _local_device(target: Target) -> torch.device:
    tensor = current(target)
    return _local(tensor).device


def _run_defaults(plan: ShardPlan, seed: int) -> list[Part]:
    """Run each module default on whole scratch tensors swapped into the module, keep this
    rank's parts of the tensors no rule writes; zero what no default wrote. Returns the
    parts zeroed that no default could cover (for the warning)."""
    zeroed: list[Part] = []
    for path, module, parts, method in plan.defaults:
        own = [(table, attr, value) for table in (module._parameters, module._buffers)
               for attr, value in table.items() if value is not None]
        whole = {attr: torch.empty(value.shape, dtype=value.dtype, device=_local(value).device)
                 for _, attr, value in own}
        versions = {attr: tensor._version for attr, tensor in whole.items()}
        if method:
            try:
                for table, attr, value in own:
                    if table is module._parameters:
                        table[attr] = nn.Parameter(whole[attr], requires_grad=value.requires_grad)
                    else:
                        table[attr] = whole[attr]
                call_default(module, path, method, seed, list(whole.values()))
            finally:
                for table, attr, value in own:
                    table[attr] = value
        record = default_record(module, path, method) if method else Record(writer=None)
        with torch.no_grad():
            for part in parts:
                if part.write is not None:
                    continue  # a planned write overwrites what the default wrote
                attr = part.target.slots[0][1]
                tensor = current(part.target)
                local = _local(tensor)
                value = whole[attr]
                if value._version == versions[attr]:
                    local.zero_()  # nothing covered it: never leave uninitialized memory
                    if part.target.kind == "parameter":
                        LEDGER.record(tensor, Record(writer=None))
                    if not part.target.writes:
                        zeroed.append(part)
                    continue
                local.copy_(value if part.selection is None else take(value, part.selection))
                if part.target.kind == "parameter":
                    LEDGER.record(tensor, record)
    return zeroed


def apply_sharded(model: nn.Module, policy: PolicyLike, *, seed: int | None = None,
                  threads: int | None = None, filename: str | None = None) -> None:
    """Fast mode on a sharded model that is already allocated: each rank rewrites its parts
    with the single-process values (``initdsl.apply(model, policy, mode="fast")``)."""
    schedule = plan(model, policy, filename=filename)
    shards = plan_shards(schedule)
    meta = [part.target.name for part in shards.parts
            if _local(part.target.tensor).is_meta]
    if meta:
        raise InitValueError(f"{meta[0]} is on the meta device (not allocated); use "
                             "initdsl.materialize(model, policy, seed=S), which allocates each "
                             "rank's shards and writes them")
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)
    write_shards(shards, resolve_seed(seed), threads=threads)
