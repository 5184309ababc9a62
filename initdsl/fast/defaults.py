"""Module defaults: what a materialized tensor gets when no rule writes it.

:func:`initdsl.materialize` allocates every tensor with uninitialized
memory, so a tensor no planned step writes gets its module's default —
``reset_running_stats()`` when only buffers are left (batch norms), else
``reset_parameters()`` — with torch's global generator seeded from
``(seed, module name)``; what no default covers is filled with zeros and
listed in a warning. Shared by single-process and sharded materialize
(:mod:`initdsl.fast.sharded` runs the default on whole scratch tensors).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core.provenance import LEDGER, Origin, Record
from ..errors import warn_caller
from .rng import seeded
from .schedule import Opaque, Schedule, Target

__all__ = ["Default", "defaults_needed", "apply_defaults", "call_default", "default_record",
           "unwritten_warning", "current"]

#: ``(module path, module, its tensors no planned step writes, method or "")``.
Default = tuple[str, nn.Module, list[Target], str]


def _planned(target: Target) -> bool:
    return any(not isinstance(w, Opaque) for w in target.writes)


def defaults_needed(schedule: Schedule) -> tuple[list[Default], list[Target]]:
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
    defaults: list[Default] = []
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


def call_default(module: nn.Module, path: str, method: str, seed: int,
                 tensors: list[Tensor]) -> None:
    """Run ``module``'s default ``method`` as materialize does: ``reset_running_stats``
    (fills only), or ``reset_parameters`` with torch's global generator seeded from
    ``(seed, path)``."""
    if method == "reset_running_stats":  # fills only: nothing to seed
        with torch.no_grad():
            module.reset_running_stats()
        return
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    with seeded(seed, f"default|{path}", devices), torch.no_grad():
        getattr(module, method)()


def default_record(module: nn.Module, path: str, method: str) -> Record:
    """The provenance a module default leaves on the tensors it writes."""
    return Record(writer=f"{type(module).__name__}.{method}",
                  origin=Origin(path, via="default"),
                  text=f"Initialized by `{method}` of {type(module).__name__} "
                       "(materialize: no rule writes it)")


def unwritten_warning(model: nn.Module, names: list[str]) -> str:
    """The warning for tensors no rule and no module default writes (filled with zeros)."""
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return (f"materialize: no rule writes {len(names)} tensors of {type(model).__name__} and "
            f"their modules have no reset_parameters()/reset_running_stats() that does; they "
            f"were filled with zeros: {shown}")


def apply_defaults(model: nn.Module, defaults: list[Default],
                   zeroed: list[Target], seed: int, unwritten: str) -> None:
    silent: list[str] = []
    for path, module, targets, method in defaults:
        tensors = [current(t) for t in targets]
        versions = [t._version for t in tensors]
        if method:
            call_default(module, path, method, seed, tensors)
            record = default_record(module, path, method)
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
        warn_caller(unwritten_warning(model, names))


def current(target: Target) -> Tensor:
    module, attr = target.slots[0]
    return module._parameters[attr] if target.kind == "parameter" else module._buffers[attr]


def _tensors(targets: list[Target]) -> list[Tensor]:
    return [current(t) for t in targets]
