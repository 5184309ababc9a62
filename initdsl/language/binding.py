"""Reading policy files and applying policies to models.

:func:`apply` compiles a policy and runs it through the same engine as
``init_cfg`` (:func:`initdsl.engine.run_scoped`); there is no second
execution path. The policy is the root's ``init_cfg`` (and each scope the
``init_cfg`` of its submodule), so a run follows ``BaseModule.init_weights``:
a module's rules, then its children, then its loads. Every parameter's
provenance names the rule that last wrote it by ``file:line:col``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from torch import nn

from .ast import NameRule, Policy, Scope, Statement
from .check import check
from .compile import Compiled, compile_checked
from .diagnostics import Diagnostic
from .engine import run_scoped
from .errors import PolicyError
from .parse import parse, parse_recovering
from .provenance import Provenance, provenance

__all__ = ["load", "apply", "check_model"]


def load(path: str | os.PathLike[str]) -> Policy:
    """Parse the policy file at ``path`` (UTF-8); spans carry ``path`` as the file name.

    Raises :class:`~initdsl.PolicyError` on syntax errors.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse(text, filename=os.fspath(path))


def apply(model: nn.Module, policy_or_text: Policy | str, *, filename: str | None = None,
          mode: str = "exact", seed: int | None = None) -> Provenance:
    """Initialize ``model`` with a policy (text or parsed) and return its provenance.

    Everything is checked first — syntax, initializer names and arguments,
    that every scope and name rule names a module that exists — and a
    :class:`~initdsl.PolicyError` lists all problems before any tensor is
    written. The run is bit-identical to running the compiled ``init_cfg``
    through the core under the same seed.

    ``mode="fast"`` runs the same plan in fast mode instead
    (:mod:`initdsl.fast`, docs/fast.md): every tensor written once, random
    values from generators keyed by ``(seed, parameter name, block)``, blocks
    filled in parallel. ``seed=None`` draws the seed from torch's global
    generator. In exact mode a ``seed`` is ``torch.manual_seed(seed)`` first.

    Example:
        >>> prov = apply(model, "Conv2d -> kaiming(mode=fan_out)\\nLinear -> normal(std=0.01)")
        >>> str(prov["conv1.weight"].origin)
        '<string>:1:1'
    """
    if mode not in ("exact", "fast"):
        raise ValueError(f"mode must be 'exact' or 'fast', got {mode!r}")
    compiled = compile_for(model, policy_or_text, filename)
    if mode == "fast":
        from .fast import apply as apply_fast

        return apply_fast(model, compiled, seed=seed)
    if seed is not None:
        import torch

        torch.manual_seed(seed)
    run_scoped(model, compiled.scopes, compiled.source_of)
    return provenance(model)


def compile_for(model: nn.Module, policy_or_text: Policy | str, filename: str | None = None
                ) -> Compiled:
    """Check a policy (text or parsed) against ``model`` and compile it.

    Every problem — syntax, initializer names and arguments, scopes and name
    rules that name no module — is collected into one
    :class:`~initdsl.PolicyError`, sorted by position.
    """
    if isinstance(policy_or_text, str):
        policy, diagnostics = parse_recovering(policy_or_text, filename)
    else:
        policy, diagnostics = policy_or_text, []
    diagnostics += check(policy) + check_model(policy, model)
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicyError(diagnostics, policy.source)
    return compile_checked(policy)


def check_model(policy: Policy, model: nn.Module) -> list[Diagnostic]:
    """Findings that need the model: scopes and name rules that name no module."""
    modules = dict(model.named_modules())
    found: list[Diagnostic] = []
    _check_block(policy.statements, "", model, modules, found)
    return found


def _check_block(statements: tuple[Statement, ...], path: str, module: nn.Module,
                 modules: dict[str, nn.Module], found: list[Diagnostic]) -> None:
    for statement in statements:
        if isinstance(statement, NameRule):
            children = dict(module.named_children())
            if not isinstance(getattr(module, statement.name, None), nn.Module):
                close = difflib.get_close_matches(statement.name, children, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                where = f"`{path}` ({type(module).__name__})" if path else type(module).__name__
                found.append(Diagnostic(
                    "E171", f"{where} has no child module `{statement.name}`{hint} (children: "
                    f"{', '.join(children) or 'none'})", statement.name_span or statement.span))
        elif isinstance(statement, Scope):
            inner = ".".join([path, *statement.path] if path else statement.path)
            sub = modules.get(inner)
            if sub is None:
                prefix = f"{path}." if path else ""
                names = [n for n in modules if n.startswith(prefix) and n]
                close = difflib.get_close_matches(inner, names, n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                found.append(Diagnostic(
                    "E170", f"the model ({type(modules['']).__name__}) has no submodule "
                    f"`{inner}`{hint}", statement.path_span or statement.span))
                continue
            _check_block(statement.statements, inner, sub, modules, found)
