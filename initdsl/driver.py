"""The driver: a policy applied to a model, in exact or fast mode.

:func:`apply` checks a policy against the model and compiles it
(:mod:`initdsl.language.binding`), then hands the compiled scopes to exact
mode's runner (:func:`initdsl.core.runner.run_scoped`, the same engine as
``init_cfg``) or to fast mode's executor (:mod:`initdsl.fast.executor`).
There is no second execution path. The policy is the root's ``init_cfg``
(and each scope the ``init_cfg`` of its submodule), so a run follows
``BaseModule.init_weights``: a module's rules, then its children, then its
loads. Every parameter's provenance names the rule that last wrote it by
``file:line:col``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .core.provenance import Provenance, provenance
from .core.runner import run_scoped
from .core.seed import check_seed
from .errors import InitValueError
from .fast.executor import apply as apply_fast
from .language.ast import Policy
from .language.binding import compile_for, reported_at

__all__ = ["apply"]


def _sharded(model: nn.Module) -> bool:
    from .core.walk import parameters  # iterative: any depth
    from .fast.sharded import is_sharded

    return any(is_sharded(tensor) for tensor in parameters(model))


def apply(model: nn.Module, policy_or_text: Policy | str | os.PathLike[str], *,
          filename: str | None = None, mode: str = "exact", seed: int | None = None,
          scatter: bool = False) -> Provenance:
    """Initialize ``model`` with a policy (text, a file's path, or parsed); return its provenance.

    Everything is checked first — syntax, initializer names and arguments,
    that every scope and name rule names a module that exists, that every
    number a rule resolves for a tensor can be written into it — and a
    :class:`~initdsl.PolicyError` lists all problems before any tensor is
    written. The run is bit-identical to running the compiled ``init_cfg``
    through the core under the same seed.

    ``mode="fast"`` runs the same plan in fast mode instead
    (:mod:`initdsl.fast.executor`, docs/fast.md): every tensor written once, random
    values from generators keyed by ``(seed, parameter name, block)``, blocks
    filled in parallel. ``seed=None`` draws the seed from torch's global
    generator. In exact mode a ``seed`` is ``torch.manual_seed(seed)`` first.

    On a model torch.distributed has sharded (``DTensor`` parameters: FSDP2,
    tensor parallel), fast mode writes each rank's shards with the values of
    one process (docs/distributed.md). Exact mode cannot be computed per
    shard; ``scatter=True`` runs it on rank 0 on whole tensors and scatters
    the shards (:mod:`initdsl.scatter`), and without it exact mode on a
    sharded model is an :class:`~initdsl.InitValueError`.

    Example:
        >>> prov = apply(model, "Conv2d -> kaiming(mode=fan_out)\\nLinear -> normal(std=0.01)")
        >>> str(prov["conv1.weight"].origin)
        '<string>:1:1'
    """
    if mode not in ("exact", "fast"):
        raise InitValueError(f"mode must be 'exact' or 'fast', got {mode!r:.40}")
    if seed is not None:
        seed = check_seed(seed)
    compiled = compile_for(model, policy_or_text, filename)
    sharded = _sharded(model)
    if scatter and not (sharded and mode == "exact"):
        raise InitValueError("scatter=True is for exact mode on a sharded model (DTensor "
                             "parameters); fast mode writes each rank's shards directly")
    if mode == "exact" and sharded and not scatter:
        raise InitValueError(
            "exact mode replays torch's one global generator, so on a sharded model "
            "(DTensor parameters: FSDP2, tensor parallel) its values would depend on the "
            "sharding. Build the model on the meta device, shard it, and call "
            "initdsl.materialize(model, policy, seed=S): each rank writes its shards with "
            "the values of one process. For exact mode's own bytes, pass scatter=True: "
            "rank 0 initializes the whole model and scatters the shards.")
    if sharded:
        if mode == "fast":
            from .fast.sharded import apply_sharded

            apply_sharded(model, compiled, seed=seed)
            return provenance(model)
        from .scatter import apply_exact_and_scatter

        return apply_exact_and_scatter(model, compiled, seed)
    if mode == "fast":
        return apply_fast(model, compiled, seed=seed)
    if seed is not None:
        torch.manual_seed(seed)
    with reported_at(compiled):
        run_scoped(model, compiled.scopes, compiled.source_of)
    return provenance(model)
