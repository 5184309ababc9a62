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
    from .fast.materialize import _is_sharded

    return any(_is_sharded(tensor) for tensor in parameters(model))


def apply(model: nn.Module, policy_or_text: Policy | str | os.PathLike[str], *,
          filename: str | None = None, mode: str = "exact", seed: int | None = None
          ) -> Provenance:
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
    if mode == "exact" and _sharded(model):
        raise InitValueError(
            "exact mode replays torch's one global generator, so on a sharded model "
            "(DTensor parameters: FSDP2, tensor parallel) its values would depend on the "
            "sharding. Build the model on the meta device, shard it, and call "
            "initdsl.materialize(model, policy, seed=S): each rank writes its shards with "
            "the values of one process. For exact mode's own bytes, initialize on one rank "
            "before sharding and let the sharding scatter it.")
    if mode == "fast":
        return apply_fast(model, compiled, seed=seed)
    if seed is not None:
        torch.manual_seed(seed)
    with reported_at(compiled):
        run_scoped(model, compiled.scopes, compiled.source_of)
    return provenance(model)
