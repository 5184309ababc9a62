"""Syntax tree → mmengine ``init_cfg``.

A policy without scopes compiles to a plain list of cfg dicts, valid input
for ``initdsl.initialize`` and ``mmengine.model.initialize`` alike. A policy
with scopes compiles to ``{module path: [cfgs]}``, ``""`` being the root,
which is what :func:`initdsl.core.runner.run_scoped` runs.

How statements become cfgs (per block, in order):

* a layer rule → ``dict(type=..., layer=..., **args)``; ``layer`` is a
  string for one class, a list for several, and absent for ``[]``;
* a load → ``dict(type='Pretrained', checkpoint=..., **options)``;
* name rules right after a layer rule or load (consecutive ones, with
  nothing else between) → that cfg's ``override``: one entry is a dict,
  several a list; ``name x`` alone is the name-only entry ``dict(name='x')``;
* a name rule with nothing to attach to → a cfg carrying only that
  override: ``name x -> xavier(gain=2)`` → ``dict(type='Xavier', gain=2,
  override=dict(name='x'))``;
* ``scope a.b { ... }`` → the block's cfgs under ``"a.b"``; only the modules
  scopes name are keys (the planner lets the init chain pass the plain
  modules on the path to ``a.b``, and a ``BaseModule`` there keeps its own
  ``init_cfg``). Scopes with the same path add to one list, in text order.

Each compiled cfg is mapped back to the rule that wrote it (for provenance):
``(scope path, index, override index or None) → Span``, and each of its
arguments to where its value was written (for errors found while planning).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..collector import no_gc
from ..core.expressions import format_expression, is_expression_value
from ..core.registry import Registry
from ..diagnostics import Span
from ..errors import PolicyError
from .ast import (
    Arg,
    Call,
    LayerRule,
    Let,
    Load,
    LoadRule,
    NameRule,
    ParamRule,
    Policy,
    Scope,
    Seed,
    Statement,
    value_of,
)
from .checker import (
    INITDSL_ARGUMENTS,
    PRETRAINED,
    SELECT,
    Initializers,
    check,
    is_patterned,
    modifier_arguments,
    needs_select,
)
from .parser import parse_recovering
from .values import EXPRESSION_TREES, Bindings, captures_of, resolve_value

__all__ = ["compile", "compile_policy", "compile_checked", "checked", "Compiled", "INITDSL_TYPES",
           "runtime_types"]

Key = tuple[str, int, "int | None"]


@attrs.frozen
class Compiled:
    """A compiled policy: the init_cfg of every named module, and where each cfg came from.

    ``scopes`` always has the root ``""``; ``scoped`` tells whether the
    policy had ``scope`` blocks (and so compiles to the dict form).
    """

    scopes: dict[str, list[dict[str, Any]]]
    sources: dict[Key, Span | None]
    scoped: bool
    #: where each argument of each cfg was written: ``Key → {argument: Span of its value}``
    arguments: dict[Key, dict[str, Span]] = attrs.field(factory=dict)
    #: the text the policy was parsed from, if any (for rendering diagnostics)
    source: str | None = None

    @property
    def seed(self) -> int | None:
        """The policy's ``seed N`` (fast mode's seed when a run gives none), if it has one."""
        from ..core.seed import policy_seed

        return policy_seed(self.scopes)

    @property
    def init_cfg(self) -> list[dict[str, Any]] | dict[str, list[dict[str, Any]]]:
        """The list (root-only policy) or the ``{path: [cfgs]}`` dict, freshly copied."""
        if self.scoped:
            return copy.deepcopy(self.scopes)
        return copy.deepcopy(self.scopes[""])

    def source_of(self, owner: str, index: int | None, override: int | None,
                  argument: str | None = None) -> Span | None:
        """The span of the rule behind cfg ``index`` (and ``override``) of module ``owner``.

        With ``argument``, the span of that argument's value when the rule
        writes it (a default it leaves out has none: then ``None``).
        """
        key = (owner, 0 if index is None else index, override)
        if argument is not None:
            return self.arguments.get(key, {}).get(argument)
        return self.sources.get(key)


#: The registered types a policy compiles to that mmengine does not have.
INITDSL_TYPES = frozenset({SELECT, "Zeros", "Ones", "Keep", "VarianceScaling", "Orthogonal",
                           "Seed"})


def runtime_types(init_cfg: Any) -> list[str]:
    """The initdsl-only types in a compiled ``init_cfg`` (sorted; empty: mmengine runs it).

    ``"expr"`` stands for a computed value (``dict(expr=...)``), which only
    initdsl's runtime evaluates.
    """
    found: set[str] = set()
    stack = [init_cfg]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind = item.get("type")
            if kind in INITDSL_TYPES:
                found.add(kind)
            elif isinstance(kind, str) and not INITDSL_ARGUMENTS.get(kind, frozenset()
                                                                     ).isdisjoint(item):
                found.add(f"{kind}({', '.join(sorted(INITDSL_ARGUMENTS[kind] & set(item)))}=)")
            if is_expression_value(item):
                found.add("expr")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(found)


def compile(policy_or_text: Policy | str, filename: str | None = None, *,  # noqa: A001
            registry: Registry | None = None
            ) -> list[dict[str, Any]] | dict[str, list[dict[str, Any]]]:
    """Compile a policy (text or parsed) to an mmengine ``init_cfg``.

    Returns a list of cfg dicts for a policy without scopes, else a dict
    ``{module path: [cfgs]}`` with ``""`` for the root. Raises
    :class:`~initdsl.PolicyError` with every syntax and semantic error.
    """
    compiled = compile_policy(policy_or_text, filename, registry=registry)
    # Nothing else holds these cfgs, so they need not be copied as init_cfg does.
    return compiled.scopes if compiled.scoped else compiled.scopes[""]


def compile_policy(policy_or_text: Policy | str, filename: str | None = None, *,
                   registry: Registry | None = None) -> Compiled:
    """Check and compile, keeping the cfg → source span table."""
    with no_gc():
        return compile_checked(checked(policy_or_text, filename, registry=registry), registry)


def compile_checked(policy: Policy, registry: Registry | None = None) -> Compiled:
    """Compile a policy that :func:`~initdsl.language.checker.check` found no errors in."""
    compiler = _Compiler(Initializers.of(registry))
    compiler.scopes[""] = []
    compiler.block("", policy.statements)
    scoped = any(isinstance(s, Scope) for s in _walk(policy.statements))
    return Compiled(compiler.scopes, compiler.sources, scoped, compiler.arguments, policy.source)


def checked(policy_or_text: Policy | str, filename: str | None = None, *,
            registry: Registry | None = None) -> Policy:
    """The parsed policy, or :class:`~initdsl.PolicyError` with all syntax and semantic errors."""
    if isinstance(policy_or_text, str):
        policy, diagnostics = parse_recovering(policy_or_text, filename)
    else:
        policy, diagnostics = policy_or_text, []
    diagnostics = diagnostics + check(policy, registry)
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
        raise PolicyError(diagnostics, policy.source)
    return policy


def _option_nodes(load: Load) -> dict[str, Any]:
    """A load's option nodes by name, its checkpoint path included (as ``"checkpoint"``)."""
    nodes: dict[str, Any] = {option.name: option for option in load.options}
    nodes["checkpoint"] = attrs.evolve(load.options[0], value=load.checkpoint) \
        if load.options else _Valued(load.checkpoint)
    return nodes


@attrs.frozen
class _Valued:
    """A node whose ``value`` is ``value`` (the checkpoint path, as options hold theirs)."""

    value: Any


def _modifier_nodes(then: Iterable[Call]) -> dict[str, Arg]:
    """A rule's modifier arguments as ``then[k].<name>``, for the planner to blame."""
    nodes: dict[str, Arg] = {}
    for number, call in enumerate(then):
        bound = modifier_arguments(call)
        if isinstance(bound, dict):
            nodes.update((f"then[{number}].{key}", arg) for key, arg in bound.items())
    return nodes


def _walk(statements: Iterable[Statement]) -> Iterable[Statement]:
    for statement in statements:
        yield statement
        if isinstance(statement, Scope):
            yield from _walk(statement.statements)


class _Compiler:
    def __init__(self, initializers: Initializers) -> None:
        self.initializers = initializers
        self.scopes: dict[str, list[dict[str, Any]]] = {}
        self.sources: dict[Key, Span | None] = {}
        self.arguments: dict[Key, dict[str, Span]] = {}
        self.bindings = Bindings()

    def value(self, arg: Arg, bindings: Bindings | None = None) -> Any:
        """An argument's IR value: a constant, or ``dict(expr=...)`` for a computed one."""
        resolved, _ = resolve_value(arg.value, self.bindings if bindings is None else bindings,
                                    check=False)
        if isinstance(resolved, EXPRESSION_TREES):
            return {"expr": format_expression(resolved)}
        return resolved

    def modifiers(self, then: Iterable[Call], bindings: Bindings) -> list[dict[str, Any]]:
        """The IR of a rule's modifiers: ``[dict(op='zero_row', row=...), ...]``."""
        entries = []
        for call in then:
            bound = modifier_arguments(call)
            assert isinstance(bound, dict)  # the checker rejects the others
            entries.append({"op": call.name, **{key: self.value(arg, bindings)
                                                for key, arg in bound.items()}})
        return entries

    def block(self, path: str, statements: Iterable[Statement]) -> None:
        cfgs = self.scopes[path]
        outer = self.bindings  # lets end with their scope
        overrides: dict[int, list[dict[str, Any]]] = {}
        parent: int | None = None
        for statement in statements:
            if isinstance(statement, LayerRule):
                cfg = {"type": self.type_of(statement.init)}
                layers = [layer.name for layer in statement.layers]
                arguments = self.initializers.arguments(statement.init)
                values = {name: self.value(arg) for name, arg in arguments.items()}
                if is_patterned(statement) or needs_select(cfg["type"], values):
                    cfg = {"type": SELECT, "layer": layers[0] if len(layers) == 1 else layers,
                           "init": {**cfg, **values}}
                    if statement.then:
                        cfg["then"] = self.modifiers(statement.then, self.bindings)
                    self.add(path, cfg, statement.span,
                             {**arguments, **_modifier_nodes(statement.then)})
                    parent = None
                    continue
                if layers:
                    cfg["layer"] = layers[0] if len(layers) == 1 else layers
                cfg.update(values)
                parent = self.add(path, cfg, statement.span, arguments)
            elif isinstance(statement, LoadRule):
                parent = self.add(path, self.load(statement.load), statement.span,
                                  _option_nodes(statement.load))
            elif isinstance(statement, ParamRule):
                arguments = self.initializers.arguments(statement.init)
                init = {"type": self.type_of(statement.init)}
                rule = self.bindings.for_rule(captures_of(statement.pattern))
                init.update((name, self.value(arg, rule)) for name, arg in arguments.items())
                cfg = {"type": SELECT}
                if statement.layer is not None:
                    cfg["layer"] = statement.layer.name
                cfg.update(params=".".join(statement.pattern), init=init)
                if statement.then:
                    cfg["then"] = self.modifiers(statement.then, rule)
                self.add(path, cfg, statement.span,
                         {**arguments, **_modifier_nodes(statement.then)})
                parent = None
            elif isinstance(statement, NameRule):
                if parent is None:
                    # Nothing to attach to: a cfg that matches nothing and
                    # carries this rule as a name-only override.
                    nodes = self.nodes(statement.target)
                    index = self.add(path, self.target(statement.target), statement.span, nodes)
                    overrides[index] = [{"name": statement.name}]
                    self.note((path, index, 0), statement.span, nodes)
                else:
                    own = overrides.setdefault(parent, [])
                    self.note((path, parent, len(own)), statement.span,
                              self.nodes(statement.target))
                    own.append({"name": statement.name, **self.target(statement.target)})
            elif isinstance(statement, Seed):
                self.add(path, {"type": "Seed", "seed": statement.value}, statement.span, {})
                parent = None
            elif isinstance(statement, Let):
                resolved, _ = resolve_value(statement.value, self.bindings, check=False)
                self.bindings = self.bindings.with_let(statement.name, resolved)
            elif isinstance(statement, Scope):
                parent = None
                inner = ".".join(filter(None, (path, *map(str, statement.path))))
                self.scopes.setdefault(inner, [])
                self.block(inner, statement.statements)
        self.bindings = outer
        for index, entries in overrides.items():
            cfgs[index]["override"] = entries[0] if len(entries) == 1 else entries

    def add(self, path: str, cfg: dict[str, Any], span: Span | None,
            arguments: Mapping[str, Any]) -> int:
        cfgs = self.scopes[path]
        cfgs.append(cfg)
        self.note((path, len(cfgs) - 1, None), span, arguments)
        return len(cfgs) - 1

    def note(self, key: Key, span: Span | None, arguments: Mapping[str, Any]) -> None:
        """Where the rule behind cfg ``key`` and each of its arguments (nodes with a
        ``value``) were written."""
        self.sources[key] = span
        spans = {name: node.value.span for name, node in arguments.items()
                 if node.value.span is not None}
        if spans:
            self.arguments[key] = spans

    def nodes(self, target: Call | Load | None) -> Mapping[str, Any]:
        """The argument nodes of a name rule's target, by name."""
        if isinstance(target, Call):
            return self.initializers.arguments(target)
        if isinstance(target, Load):
            return _option_nodes(target)
        return {}

    def type_of(self, target: Call | Load | None) -> str:
        if isinstance(target, Load):
            return PRETRAINED
        assert target is not None  # the checker rejects name-only rules without a parent
        name = self.initializers.name_of(target.name)
        assert name is not None  # the checker rejects unknown names
        return name

    def target(self, target: Call | Load | None) -> dict[str, Any]:
        if target is None:
            return {}
        if isinstance(target, Load):
            return self.load(target)
        arguments = self.initializers.arguments(target)
        return {"type": self.type_of(target),
                **{name: self.value(arg) for name, arg in arguments.items()}}

    @staticmethod
    def load(load: Load) -> dict[str, Any]:
        cfg: dict[str, Any] = {"type": PRETRAINED, "checkpoint": load.checkpoint.value}
        for option in load.options:
            cfg[option.name] = value_of(option.value)
        return cfg
