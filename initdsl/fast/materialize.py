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

import warnings

import torch
from torch import Tensor, nn

from ..collector import no_gc
from ..core.provenance import LEDGER, Origin, Record
from ..core.seed import policy_seed
from ..errors import InitValueError
from ..language.binding import PolicyLike
from .executor import prepare, run, tensors_of
from .rng import resolve_seed, seeded
from .schedule import Copy, Opaque, Schedule, Target, plan

__all__ = ["materialize", "UNWRITTEN_CHOICES"]

UNWRITTEN_CHOICES = ("warn", "zeros", "error")


def materialize(model: nn.Module, policy: PolicyLike = None, *,
                device: torch.device | str | int = "cpu", dtype: torch.dtype | None = None,
                seed: int | None = None, threads: int | None = None,
                filename: str | None = None, assign: bool = True,
                unwritten: str = "warn") -> nn.Module:
    """Allocate ``model`` (built on meta) on ``device`` and initialize it in fast mode.

    Args:
        model: a module whose parameters and buffers are all on the meta device.
        policy: anything :func:`initdsl.plan` takes; ``None`` runs the
            modules' own ``init_cfg`` s.
        device: where to allocate.
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


def _materialize(model: nn.Module, policy: PolicyLike, device: torch.device | str | int,
                 dtype: torch.dtype | None, seed: int | None, threads: int | None,
                 filename: str | None, assign: bool, unwritten: str) -> nn.Module:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    schedule = plan(model, policy, filename=filename)
    if any(_is_sharded(t.tensor) for t in schedule.targets):
        return _materialize_sharded(model, schedule, device, dtype, seed)
    real = [t.name for t in schedule.targets if not t.tensor.is_meta]
    if real:
        raise ValueError(
            f"materialize() takes a model built on the meta device; {real[0]!r} (and "
            f"{len(real) - 1} more) already holds data. Use initdsl.apply(model, policy, "
            "mode='fast') to initialize a built model")
    def dtype_of(target):
        return _dtype(target.tensor, dtype)

    defaults, zeroed = _defaults_needed(schedule)
    if unwritten == "error" and zeroed:
        raise InitValueError(
            f"{len(zeroed)} tensors are written by no rule and no module default: "
            f"{', '.join(t.name for t in zeroed[:10])}{' …' if len(zeroed) > 10 else ''}")
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)  # the policy's `seed N`, if it has one
    seed = resolve_seed(seed)  # after validation: a refused run consumes no randomness
    # Everything that can fail runs before the first allocation.
    prepared = prepare(schedule, seed, device=device, dtype_of=dtype_of)

    fresh = _allocate(schedule, device, dtype, assign)
    _install(schedule, fresh)
    _apply_defaults(model, defaults, zeroed, seed, unwritten)
    run(schedule, seed=seed, threads=threads, tensors=tensors_of(fresh), prepared=prepared)
    return model


def _is_sharded(tensor: Tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed`` DTensor (FSDP2, tensor parallel)."""
    cls = type(tensor)
    return any(base.__name__ == "DTensor" and base.__module__.startswith("torch.distributed")
               for base in cls.__mro__)


def _materialize_sharded(model: nn.Module, schedule: Schedule, device: torch.device,
                         dtype: torch.dtype | None, seed: int | None) -> nn.Module:
    """Each rank allocates and writes only its shards, with the single-process values.

    ``model.to_empty`` allocates every rank's local shards (as FSDP2 and
    DTensor expect); each tensor's box then gets exactly what a
    single-process fast fill of the whole tensor puts there
    (:func:`initdsl.fast.shards.fill_box`), its modifiers applied to the
    part the rank holds. Supported: rules whose writes are draws or
    constants; loads, user code and initializers fast mode runs whole are
    not yet (a clear error, before anything is allocated).
    """
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    from ..core.distributions import Custom
    from ..core.modifiers import Scale, ZeroRow
    from .schedule import Draw
    from .shards import fill_box

    if dtype is not None:
        raise InitValueError("materialize of a sharded model keeps each tensor's dtype; cast "
                             "the model before sharding it")
    finals: dict[str, Draw] = {}
    for target in schedule.targets:
        final = target.final
        if final is None:
            raise InitValueError(f"sharded materialize: {target.name} is written by no rule "
                                 "(module defaults are not run on shards yet); give it one")
        if not isinstance(final, Draw) or isinstance(final.dist, Custom):
            raise InitValueError(f"sharded materialize: {target.name} is written by "
                                 f"{final.describe() if hasattr(final, 'describe') else final}, "
                                 "which is not built for sharded models yet (only draws and "
                                 "constants)")
        for alias in target.aliases:
            finals[alias] = final
    if seed is None:
        seed = policy_seed(schedule.planner.scopes)
    seed = resolve_seed(seed)
    model.to_empty(device=device)
    keys = {alias: target.key for target in schedule.targets for alias in target.aliases}
    current = dict(model.named_parameters(remove_duplicate=False))
    current.update(model.named_buffers(remove_duplicate=False))
    done: set[int] = set()
    with torch.no_grad():
        for name, tensor in current.items():
            if id(tensor) in done or name not in finals:
                continue
            done.add(id(tensor))
            write = finals[name]
            if _is_sharded(tensor):
                local = tensor._local_tensor
                _, offset = compute_local_shape_and_global_offset(
                    tensor.shape, tensor.device_mesh, tensor.placements)
            else:
                local, offset = tensor.data, (0,) * tensor.dim()
            fill_box(local, tuple(tensor.shape), tuple(offset), write.dist, seed, keys[name])
            for modifier in write.then:
                if isinstance(modifier, Scale):
                    local.mul_(modifier.factor)
                elif isinstance(modifier, ZeroRow) and modifier.row is not None:
                    row = modifier.row % tensor.shape[0] - offset[0]
                    if 0 <= row < local.shape[0]:
                        local[row].zero_()
            LEDGER.record(tensor, write.record)
    return model


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


def _planned(target: Target) -> bool:
    return any(not isinstance(w, Opaque) for w in target.writes)


def _defaults_needed(schedule: Schedule) -> tuple[list[tuple[str, nn.Module, list[Target], str]],
                                                   list[Target]]:
    """Which modules' defaults to run, and which tensors no default covers.

    A module is reset only if one of its *own* tensors is written by no
    planned step; which method covers it is decided from the module's
    methods, and checked again after the call (version counters).
    """
    owned: dict[int, tuple[str, nn.Module, list[Target]]] = {}
    for target in schedule.targets:
        if _planned(target):
            continue
        module, _ = target.slots[0]
        entry = owned.setdefault(id(module), (target.owner, module, []))
        entry[2].append(target)
    defaults: list[tuple[str, nn.Module, list[Target], str]] = []
    zeroed: list[Target] = []
    for path, module, targets in owned.values():
        only_buffers = all(t.kind == "buffer" for t in targets)
        if only_buffers and callable(getattr(module, "reset_running_stats", None)):
            defaults.append((path, module, targets, "reset_running_stats"))
        elif callable(getattr(module, "reset_parameters", None)):
            defaults.append((path, module, targets, "reset_parameters"))
        else:
            zeroed.extend(t for t in targets if not t.writes)
            defaults.append((path, module, targets, ""))
    return defaults, zeroed


def _apply_defaults(model: nn.Module, defaults: list[tuple[str, nn.Module, list[Target], str]],
                    zeroed: list[Target], seed: int, unwritten: str) -> None:
    silent: list[str] = []
    for path, module, targets, method in defaults:
        tensors = [_current(t) for t in targets]
        versions = [t._version for t in tensors]
        if method == "reset_running_stats":  # fills only: nothing to seed
            with torch.no_grad():
                module.reset_running_stats()
        elif method:
            devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
            with seeded(seed, f"default|{path}", devices), torch.no_grad():
                getattr(module, method)()
        if method:
            record = Record(writer=f"{type(module).__name__}.{method}",
                            origin=Origin(path, via="default"),
                            text=f"Initialized by `{method}` of {type(module).__name__} "
                                 "(materialize: no rule writes it)")
            for target, tensor in zip(targets, tensors):
                if target.kind == "parameter":
                    LEDGER.record(tensor, record)
        for target, tensor, version in zip(targets, _tensors(targets), versions):
            if tensor._version == version:
                # Nothing covered it: never leave uninitialized memory behind.
                with torch.no_grad():
                    tensor.zero_()
                if target not in zeroed and not target.writes:
                    silent.append(target.name)
                if target.kind == "parameter":
                    LEDGER.record(tensor, Record(writer=None))
    names = [t.name for t in zeroed] + silent
    if names and unwritten == "warn":
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        warnings.warn(
            f"materialize: no rule writes {len(names)} tensors of {type(model).__name__} and "
            f"their modules have no reset_parameters()/reset_running_stats() that does; they "
            f"were filled with zeros: {shown}", stacklevel=3)


def _current(target: Target) -> Tensor:
    module, attr = target.slots[0]
    return module._parameters[attr] if target.kind == "parameter" else module._buffers[attr]


def _tensors(targets: list[Target]) -> list[Tensor]:
    return [_current(t) for t in targets]
