"""Exact mode on a sharded model: initialize on rank 0, then scatter the shards.

Exact mode replays torch's one global generator, draw after draw, so a
value depends on every draw before it: it cannot be computed for one
rank's shard alone (fast mode can: :func:`initdsl.materialize`). For a
policy that needs exact mode's own bytes — user code, mmengine parity —
``initdsl.apply(model, policy, mode="exact", scatter=True)`` does what a
single process would and then shards the result:

1. every rank allocates its shards (``to_empty``, for a model on meta);
2. rank 0 puts whole tensors of the global shapes into the model, gives
   the tensors no rule writes their module defaults (as
   :func:`~initdsl.materialize` does), and runs exact mode on the whole model;
3. PyTorch's ``set_model_state_dict(..., full_state_dict=True,
   broadcast_from_rank0=True)`` sends each tensor to every rank, which keeps
   its shard; non-persistent buffers are broadcast;
4. rank 0's provenance is broadcast, so every rank explains every parameter.

It costs the whole model's memory on rank 0, and one whole tensor at a
time on every rank while it is sent: the honest price of exact mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .core.provenance import LEDGER, Provenance, provenance
from .core.runner import run_scoped
from .core.walk import named_modules
from .errors import InitValueError
from .fast.defaults import apply_defaults, defaults_needed
from .fast.rng import resolve_seed
from .fast.schedule import plan
from .fast.sharded import is_sharded
from .language.binding import Compiled, reported_at

__all__ = ["apply_exact_and_scatter"]


def apply_exact_and_scatter(model: nn.Module, compiled: Compiled, seed: int | None) -> Provenance:
    """Run ``compiled`` in exact mode on rank 0 on whole tensors, then scatter every shard."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
    )

    if not dist.is_initialized():
        raise InitValueError("scatter=True needs an initialized torch.distributed process group")
    if any(_local(t).is_meta for t in _tensors(model)):
        model.to_empty(device=_mesh_device(model))
    payload: list = [None]
    full: dict[str, Tensor] = {}
    if dist.get_rank() == 0:
        with _whole_tensors(model):
            # What no rule writes gets its module's default, not uninitialized memory.
            schedule = plan(model, compiled)
            defaults, zeroed = defaults_needed(schedule)
            apply_defaults(model, defaults, zeroed, resolve_seed(seed), "warn")
            if seed is not None:
                torch.manual_seed(seed)
            with reported_at(compiled):
                run_scoped(model, compiled.scopes, compiled.source_of)
            full = _state_dict(model)
            prov = provenance(model)
            payload = [({name: prov[name] for name in prov},
                        [(report.module, report) for report in prov.loads])]
    set_model_state_dict(model, full, options=StateDictOptions(
        full_state_dict=True, broadcast_from_rank0=True))
    for buffer in _non_persistent_buffers(model):
        dist.broadcast(buffer, src=0)
    dist.broadcast_object_list(payload, src=0)
    records, loads = payload[0]
    params = dict(model.named_parameters())
    for name, record in records.items():
        LEDGER.record(params[name], record)
    modules = dict(model.named_modules())
    for path, report in loads:
        LEDGER.add_load(modules[path], report)
    return provenance(model)


def _local(tensor: Tensor) -> Tensor:
    return tensor._local_tensor if is_sharded(tensor) else tensor


def _tensors(model: nn.Module) -> Iterator[Tensor]:
    for _, module in named_modules(model):
        yield from (t for t in module._parameters.values() if t is not None)
        yield from (t for t in module._buffers.values() if t is not None)


def _mesh_device(model: nn.Module) -> torch.device:
    for tensor in _tensors(model):
        if is_sharded(tensor):
            kind = tensor.device_mesh.device_type
            return torch.device(kind, torch.cuda.current_device()) if kind == "cuda" else \
                torch.device(kind)
    return torch.device("cpu")


@contextlib.contextmanager
def _whole_tensors(model: nn.Module) -> Iterator[None]:
    """Put a whole tensor of the global shape in place of every ``DTensor`` (tied ones stay
    tied); put the ``DTensor`` s back after."""
    swapped: list[tuple[dict, str, Tensor]] = []
    wholes: dict[int, Tensor] = {}
    for _, module in named_modules(model, remove_duplicate=False):
        for table in (module._parameters, module._buffers):
            for attr, tensor in table.items():
                if tensor is None or not is_sharded(tensor):
                    continue
                if id(tensor) not in wholes:
                    data = torch.empty(tensor.shape, dtype=tensor.dtype,
                                       device=_local(tensor).device)
                    wholes[id(tensor)] = (nn.Parameter(data, requires_grad=tensor.requires_grad)
                                          if table is module._parameters else data)
                swapped.append((table, attr, tensor))
                table[attr] = wholes[id(tensor)]
    try:
        yield
    finally:
        for table, attr, tensor in swapped:
            table[attr] = tensor


def _state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Every persistent tensor by its state-dict name (tied ones under each name)."""
    out: dict[str, Tensor] = {}
    for path, module in named_modules(model, remove_duplicate=False):
        prefix = f"{path}." if path else ""
        for attr, tensor in module._parameters.items():
            if tensor is not None:
                out[prefix + attr] = tensor.detach()
        for attr, tensor in module._buffers.items():
            if tensor is not None and attr not in module._non_persistent_buffers_set:
                out[prefix + attr] = tensor.detach()
    return out


def _non_persistent_buffers(model: nn.Module) -> list[Tensor]:
    found: dict[int, Tensor] = {}
    for _, module in named_modules(model):
        for attr, tensor in module._buffers.items():
            if tensor is None or attr not in module._non_persistent_buffers_set:
                continue
            if is_sharded(tensor):
                raise InitValueError(f"scatter=True: the non-persistent buffer {attr} is a "
                                     "DTensor, which set_model_state_dict does not send")
            found[id(tensor)] = tensor
    return list(found.values())
