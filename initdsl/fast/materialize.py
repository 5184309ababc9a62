"""Materialize a model built on the meta device: allocate every tensor once, write it once.

``torch.device("meta")`` builds a model's structure without memory;
``to_empty`` then allocates uninitialized memory and the model's
initialization writes it, often several times (constructor defaults, then
``init_weights``, then a checkpoint). :func:`materialize` plans the run
first (:func:`initdsl.plan`) and then, for each tensor:

* a tensor whose final writer is a checkpoint load, whose checkpoint tensor
  already has the target device and dtype, is *assigned* the checkpoint's
  tensor (memory-mapped for ``torch.save`` files and ``.safetensors``): no
  allocation, no copy (``assign=False`` copies instead);
* every other tensor is allocated once on ``device`` (floating-point ones in
  ``dtype``) and written once by fast mode (:mod:`initdsl.fast.executor`);
* tensors no rule writes get their module's defaults — the module's
  ``reset_running_stats()`` when only buffers are left (batch norms),
  else its ``reset_parameters()`` (called before the planned writes, which
  then overwrite what it wrote), with torch's global generator seeded from
  ``(seed, module name)``. What no default covers — a parameter or buffer of
  a module without such a method (``cls_token``, ``pos_embed``, a computed
  non-persistent buffer) — is filled with zeros and listed in a warning
  (``unwritten="warn"``; ``"zeros"`` fills silently, ``"error"`` refuses
  before anything is allocated). A materialized model never holds
  uninitialized memory.

Everything is validated before the first allocation: a failure leaves the
model on the meta device, as it was.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..collector import no_gc
from ..core.seed import policy_seed
from ..errors import InitValueError
from ..language.binding import PolicyLike
from .defaults import apply_defaults, defaults_needed
from .executor import prepare, run, tensors_of
from .rng import resolve_seed
from .schedule import Copy, Schedule, Target, plan
from .sharded import is_sharded, plan_shards, write_shards

__all__ = ["materialize", "UNWRITTEN_CHOICES"]

UNWRITTEN_CHOICES = ("warn", "zeros", "error")


def materialize(model: nn.Module, policy: PolicyLike = None, *,
                device: torch.device | str | int | None = None, dtype: torch.dtype | None = None,
                seed: int | None = None, threads: int | None = None,
                filename: str | None = None, assign: bool = True,
                unwritten: str = "warn") -> nn.Module:
    """Allocate ``model`` (built on meta) on ``device`` and initialize it in fast mode.

    Args:
        model: a module whose parameters and buffers are all on the meta device.
        policy: anything :func:`initdsl.plan` takes; ``None`` runs the
            modules' own ``init_cfg`` s.
        device: where to allocate (default: the CPU; for a sharded model, the
            device type of its mesh).
        dtype: the dtype of floating-point parameters and buffers (default:
            as built); other tensors keep theirs.
        seed: the fast-mode seed (``None``: the policy's ``seed N``, else drawn
            from torch's global generator).
        threads: threads filling blocks (default ``torch.get_num_threads()``).
        filename: the file policy text came from.
        assign: use checkpoint tensors as the model's tensors where device
            and dtype already match (zero-copy; a ``torch.save`` checkpoint is
            memory-mapped copy-on-write, so the file is never modified).
        unwritten: what to do with tensors that neither a rule nor a module
            default writes: ``"warn"`` (zeros and a warning), ``"zeros"``,
            ``"error"``.

    Returns:
        ``model``, materialized in place.

    The values equal those of ``initdsl.apply(model, policy, mode="fast",
    seed=seed)`` on the same model built on ``device``, for every tensor
    that a rule writes or a checkpoint supplies.
    """
    if unwritten not in UNWRITTEN_CHOICES:
        raise ValueError(f"unwritten must be one of {', '.join(UNWRITTEN_CHOICES)}, "
                         f"got {unwritten!r}")
    with no_gc():
        return _materialize(model, policy, device, dtype, seed, threads, filename, assign,
                            unwritten)


def _materialize(model: nn.Module, policy: PolicyLike, device: torch.device | str | int | None,
                 dtype: torch.dtype | None, seed: int | None, threads: int | None,
                 filename: str | None, assign: bool, unwritten: str) -> nn.Module:
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    schedule = plan(model, policy, filename=filename)
    if any(is_sharded(t.tensor) for t in schedule.targets):
        return _materialize_sharded(model, schedule, device, dtype, seed, threads, unwritten)
    if device is None:
        device = torch.device("cpu")
    real = [t.name for t in schedule.targets if not t.tensor.is_meta]
    if real:
        raise ValueError(
            f"materialize() takes a model built on the meta device; {real[0]!r} (and "
            f"{len(real) - 1} more) already holds data. Use initdsl.apply(model, policy, "
            "mode='fast') to initialize a built model")
    def dtype_of(target):
        return _dtype(target.tensor, dtype)

    defaults, zeroed = defaults_needed(schedule)
    if unwritten == "error" and zeroed:
        raise InitValueError(_unwritten_error(zeroed))
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)  # the policy's `seed N`, if it has one
    seed = resolve_seed(seed)  # after validation: a refused run consumes no randomness
    # Everything that can fail runs before the first allocation.
    prepared = prepare(schedule, seed, device=device, dtype_of=dtype_of)

    fresh = _allocate(schedule, device, dtype, assign)
    _install(schedule, fresh)
    apply_defaults(model, defaults, zeroed, seed, unwritten)
    run(schedule, seed=seed, threads=threads, tensors=tensors_of(fresh), prepared=prepared)
    return model


def _materialize_sharded(model: nn.Module, schedule: Schedule, device: torch.device | None,
                         dtype: torch.dtype | None, seed: int | None, threads: int | None,
                         unwritten: str) -> nn.Module:
    """Each rank allocates and writes only its shards, with the single-process values
    (:mod:`initdsl.fast.sharded`); validated before anything is allocated."""
    if dtype is not None:
        raise InitValueError("materialize of a sharded model keeps each tensor's dtype; cast "
                             "the model on meta before sharding it (model.to(dtype))")
    real = [t.name for t in schedule.targets if not _local_is_meta(t.tensor)]
    if real:
        raise ValueError(
            f"materialize() takes a model built on the meta device; {real[0]!r} (and "
            f"{len(real) - 1} more) already holds data. Use initdsl.apply(model, policy, "
            "mode='fast') to initialize a sharded model that is already allocated")
    shards = plan_shards(schedule)
    zeroed = [part.target for part in shards.parts
              if part.write is None and not part.default and not part.target.writes]
    if unwritten == "error" and zeroed:
        raise InitValueError(_unwritten_error(zeroed))
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)
    seed = resolve_seed(seed)
    if device is None:
        device = _mesh_device(schedule)
    model.to_empty(device=device)  # each rank's local shards: what FSDP2 and DTensor expect
    write_shards(shards, seed, threads=threads, unwritten=unwritten)
    return model


def _local_is_meta(tensor: Tensor) -> bool:
    local = tensor._local_tensor if is_sharded(tensor) else tensor
    return local.is_meta


def _mesh_device(schedule: Schedule) -> torch.device:
    """The device the model's meshes are on (the current one of its type)."""
    for target in schedule.targets:
        if is_sharded(target.tensor):
            kind = target.tensor.device_mesh.device_type
            if kind == "cuda":
                return torch.device("cuda", torch.cuda.current_device())
            return torch.device(kind)
    return torch.device("cpu")


def _unwritten_error(zeroed: list[Target]) -> str:
    return (f"{len(zeroed)} tensors are written by no rule and no module default: "
            f"{', '.join(t.name for t in zeroed[:10])}{' …' if len(zeroed) > 10 else ''}")


def _dtype(tensor: Tensor, dtype: torch.dtype | None) -> torch.dtype:
    # As Module.to(dtype): only floating-point tensors change dtype.
    if dtype is not None and tensor.is_floating_point():
        return dtype
    return tensor.dtype


def _allocate(schedule: Schedule, device: torch.device, dtype: torch.dtype | None,
              assign: bool) -> dict[int, Tensor]:
    """``id(meta tensor) → new tensor``: the checkpoint's tensor where it can be assigned,
    else uninitialized memory (every byte of which is written later)."""
    fresh: dict[int, Tensor] = {}
    used: set[tuple[int, int]] = set()  # checkpoint storage regions already assigned
    assignable = assign and not schedule.barriers
    for target in schedule.targets:
        meta = target.tensor
        want = _dtype(meta, dtype)
        final = target.final
        if assignable and isinstance(final, Copy):
            source = final.source
            region = (source.untyped_storage().data_ptr(), source.storage_offset())
            if (source.device == device and source.dtype == want and region not in used
                    and not source.requires_grad):
                # Two tensors must not share one checkpoint tensor's memory: the
                # second one gets a copy.
                used.add(region)
                fresh[id(meta)] = source
                continue
        fresh[id(meta)] = torch.empty(meta.shape, dtype=want, device=device)
    return fresh


def _install(schedule: Schedule, fresh: dict[int, Tensor]) -> None:
    """Put the new tensors in every slot that held the meta ones (tied tensors stay tied)."""
    for target in schedule.targets:
        data = fresh[id(target.tensor)]
        old = target.tensor
        if target.kind == "parameter":
            cls = type(old) if isinstance(old, nn.Parameter) else nn.Parameter
            value: Tensor = cls(data, requires_grad=old.requires_grad)
        else:
            value = data
        for module, attr in target.slots:
            if target.kind == "parameter":
                module._parameters[attr] = value
            else:
                module._buffers[attr] = value
        # The run writes through the resolver: point it at the installed tensor.
        fresh[id(target.tensor)] = value
