"""A policy bound to a model: checked against its module tree, and turned into what the planner runs.

Everything the language checks without a model is in
:mod:`initdsl.language.checker`; what needs the model — that every scope
and every name rule names a module that exists (``E170``, ``E171``) — is
here, and so is :func:`compile_for`, the one place that turns any form a
policy takes (text, a file, a parsed or compiled policy, an ``init_cfg``, a
scoped dict, ``None``) into the ``{module path: init_cfg}`` scopes and the
source table that :class:`~initdsl.core.planner.Planner` takes.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

import attrs
from torch import nn

from ..core.walk import missing_submodule, named_modules
from ..diagnostics import Diagnostic
from ..errors import InitError, PolicyError
from .ast import NameRule, Policy, Scope, Statement
from .checker import check
from .compiler import Compiled, compile_checked
from .parser import parse_recovering, read_policy_file

__all__ = ["PolicyLike", "compile_for", "check_model", "reported_at"]

#: Every form of policy the planning entry points take.
PolicyLike = Union[str, "os.PathLike[str]", Policy, Compiled, Mapping[str, Any], Sequence[Any],
                   None]


def compile_for(model: nn.Module, policy: PolicyLike, filename: str | None = None) -> Compiled:
    """Any form of policy, checked against ``model`` and compiled to what the planner runs.

    * text, a path (``pathlib.Path``, any ``os.PathLike``) or a parsed
      :class:`~initdsl.Policy`: every problem — syntax, initializer names and
      arguments, scopes and name rules that name no module — is collected
      into one :class:`~initdsl.PolicyError`, sorted by position; then compiled;
    * a :class:`~initdsl.language.compiler.Compiled` policy: itself;
    * an ``init_cfg`` list (or one cfg dict): the root's ``init_cfg``, as
      :func:`initdsl.apply` runs a policy without scopes;
    * a dict without ``type``: ``{module path: init_cfg}`` (``""`` the root);
    * ``None``: the modules' own ``init_cfg`` (what ``model.init_weights()`` runs).

    The last three have no positions: their :meth:`~Compiled.source_of` is ``None``.
    """
    if isinstance(policy, Compiled):
        return policy
    if isinstance(policy, os.PathLike):
        path = os.fspath(policy)
        policy, filename = read_policy_file(path), path
    if isinstance(policy, (str, Policy)):
        return _checked_compile(model, policy, filename)
    if policy is None:
        return Compiled({}, {}, False)
    if isinstance(policy, Mapping) and "type" not in policy:
        return Compiled(dict(policy), {}, True)
    return Compiled({"": policy}, {}, False)


def _checked_compile(model: nn.Module, policy_or_text: Policy | str, filename: str | None
                     ) -> Compiled:
    if isinstance(policy_or_text, str):
        policy, diagnostics = parse_recovering(policy_or_text, filename)
    else:
        policy, diagnostics = policy_or_text, []
    diagnostics += check(policy) + check_model(policy, model)
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        if isinstance(policy_or_text, str) and _looks_like_a_path(policy_or_text):
            first = diagnostics[0]
            diagnostics[0] = attrs.evolve(first, message=(
                f"{first.message} (the policy text {policy_or_text.strip()!r} looks like a "
                "file name: pass pathlib.Path(...) or read it with initdsl.load(...))"))
        raise PolicyError(diagnostics, policy.source)
    return compile_checked(policy)


def _looks_like_a_path(text: str) -> bool:
    text = text.strip()
    return "\n" not in text and "->" not in text and (
        text.endswith(".init") or os.path.sep in text or os.path.exists(text))


@contextlib.contextmanager
def reported_at(compiled: Compiled) -> Iterator[None]:
    """Errors the planner finds in a policy's rules, raised as the policy's diagnostics.

    An :class:`~initdsl.InitError` that carries a code and a position in the
    policy (a value that cannot be written, ``E122``, placed on the
    argument; an initializer that rejects a module it matches, ``E240``)
    becomes a :class:`~initdsl.PolicyError`, rendered with its source line.
    """
    try:
        yield
    except PolicyError:
        raise
    except InitError as error:
        if error.code is None or error.span is None:
            raise
        raise PolicyError([Diagnostic(error.code, error.message, error.span)],
                          compiled.source) from None


def check_model(policy: Policy, model: nn.Module) -> list[Diagnostic]:
    """Findings that need the model: scopes and name rules that name no module."""
    modules = dict(named_modules(model))
    found: list[Diagnostic] = []
    _check_block(policy.statements, "", model, modules, found)
    return found


def _check_block(statements: tuple[Statement, ...], path: str, module: nn.Module,
                 modules: dict[str, nn.Module], found: list[Diagnostic]) -> None:
    for statement in statements:
        if isinstance(statement, NameRule):
            if not isinstance(getattr(module, statement.name, None), nn.Module):
                found.append(Diagnostic("E171", _no_child(module, path, statement.name),
                                        statement.name_span or statement.span))
        elif isinstance(statement, Scope):
            inner = ".".join([path, *statement.path] if path else statement.path)
            sub = modules.get(inner)
            if sub is None:
                found.append(Diagnostic("E170", missing_submodule(modules, inner, path),
                                        statement.path_span or statement.span))
                continue
            _check_block(statement.statements, inner, sub, modules, found)


def _no_child(module: nn.Module, path: str, name: str) -> str:
    where = f"`{path}` ({type(module).__name__})" if path else type(module).__name__
    children = dict(module.named_children())
    tensors = {**module._parameters, **module._buffers}
    if name in tensors:
        kind = "parameter" if name in module._parameters else "buffer"
        return (f"`{name}` is a {kind} of {where}, not a child module: a name rule "
                "initializes a whole child module (its weight and bias)")
    close = difflib.get_close_matches(name, children, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return (f"{where} has no child module `{name}`{hint} (children: "
            f"{', '.join(children) or 'none'})")
