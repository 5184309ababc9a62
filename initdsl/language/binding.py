"""A policy bound to a model: checked against its module tree, and turned into what the planner runs.

Everything the language checks without a model is in
:mod:`initdsl.language.checker`; what needs the model — that every scope
and every name rule names a module that exists (``E170``, ``E171``) — is
here, and so is :func:`scopes_of`, the one place that turns any form a
policy takes (text, a parsed or compiled policy, an ``init_cfg``, a scoped
dict, ``None``) into the ``{module path: init_cfg}`` scopes and the source
table that :class:`~initdsl.core.planner.Planner` takes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Union

from torch import nn

from ..diagnostics import Diagnostic
from ..errors import PolicyError
from .ast import NameRule, Policy, Scope, Statement
from .checker import check
from .compiler import Compiled, compile_checked
from .parser import parse_recovering

__all__ = ["PolicyLike", "scopes_of", "compile_for", "check_model"]

#: Every form of policy the planning entry points take.
PolicyLike = Union[str, Policy, Compiled, Mapping[str, Any], Sequence[Any], None]


def scopes_of(model: nn.Module, policy: PolicyLike, filename: str | None = None
              ) -> tuple[dict[str, Any], Any]:
    """``(scopes, source_of)`` for :class:`~initdsl.core.planner.Planner`, from any form of policy.

    * text or a parsed :class:`~initdsl.Policy`: checked against the model
      exactly as :func:`initdsl.apply` checks it (a
      :class:`~initdsl.PolicyError` lists every problem), then compiled;
    * a :class:`~initdsl.language.compiler.Compiled` policy: its scopes;
    * an ``init_cfg`` list (or one cfg dict): the root's ``init_cfg``, as
      :func:`initdsl.apply` runs a policy without scopes;
    * a dict without ``type``: ``{module path: init_cfg}`` (``""`` the root);
    * ``None``: the modules' own ``init_cfg`` (what ``model.init_weights()`` runs).
    """
    if isinstance(policy, (str, Policy)):
        compiled = compile_for(model, policy, filename)
        return compiled.scopes, compiled.source_of
    if isinstance(policy, Compiled):
        return dict(policy.scopes), policy.source_of
    if policy is None:
        return {}, None
    if isinstance(policy, Mapping) and "type" not in policy:
        return dict(policy), None
    return {"": policy}, None


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
