"""Lint rules that need the model: resolved statically, nothing written.

The policy is planned against the model by :mod:`initdsl.tools.explain`
(the core's planner, checkpoints read by shape), and these rules read the
plan:

* ``W210`` a layer name that matches no module where the rule applies;
* ``W211`` a rule whose classes match modules that have no ``weight`` or
  ``bias`` to write (``MultiheadAttention -> xavier``);
* ``W212`` a ``param`` rule whose pattern matches no parameter where it applies;
* ``W213`` rules that write two names of one tied tensor differently;
* ``W220`` a rule whose every write is overwritten later (names the rule(s)
  that overwrite it);
* ``I230`` parameters no rule writes (they keep their constructor values);
* ``E240`` an initializer that rejects a module it matches (Kaiming/Xavier on
  a weight with fewer than 2 dimensions, a ``bias`` that is not a tensor);
* ``W250`` modules with their own ``init_cfg``/``init_weights`` that never run
  because a plain container without ``init_weights`` stops the chain;
* ``E260`` a ``prefix`` that matches no checkpoint key;
* ``W261`` checkpoint keys that match no parameter or buffer;
* ``W262`` checkpoint tensors whose shape differs from the parameter's;
* ``I263`` a checkpoint that could not be inspected (remote and not cached,
  or holding Python objects, which lint never unpickles);
* ``E290`` anything else the run would fail on before writing;

and the language's own codes for what planning finds in a rule (``E122`` a
value that cannot be written into the tensor, ``E132`` a ``map_location``
that cannot be used here, ``E133`` a checkpoint that cannot be read).
"""

from __future__ import annotations

from collections import defaultdict

from torch import Tensor, nn

from ..core.matcher import class_names, class_pattern, matching, matching_parameters
from ..core.patterns import parameter_pattern
from ..core.protocol import has_own_init_weights
from ..core.provenance import Origin
from ..core.walk import named_modules, named_parameters
from ..diagnostics import Diagnostic, Span
from ..errors import InitError
from ..language.ast import LayerRule, ParamRule, Policy, scoped_statements
from ..language.binding import check_model
from ..language.compiler import compile_checked
from .explain import Explanation, Parameter, Writer, explain
from .findings import LISTED, collapse_names, did_you_mean, finding, listed, model_span

__all__ = ["model_findings", "explanation_diagnostics"]

#: The language's codes planning errors carry, reported by lint where it finds them.
_PLANNING_CODES = frozenset({"E122", "E132", "E133", "E240"})  # E240 is lint's own


def model_findings(policy: Policy, model: nn.Module, filename: str, *, compiles: bool,
                   failing: bool) -> tuple[list[Diagnostic], Explanation | None]:
    """The findings that need ``model``, and the explanation they were read from.

    The policy is explained only if it ``compiles`` (no language errors).
    The rules about what a run leaves behind (``W220``, ``I230``) run only
    when nothing says the run would fail (``failing``: errors found already).
    """
    found = check_model(policy, model)
    found += _unmatched_layers(policy, model)
    found += _writes_nothing(policy, model)
    found += _unmatched_params(policy, model)
    explanation = None
    if compiles:
        compiled = compile_checked(policy)
        explanation = explain(model, compiled)
        found += explanation_diagnostics(explanation, filename)
        failing = failing or bool(explanation.problems) or any(
            d.severity == "error" for d in found)
        if not failing:
            # A run that fails writes nothing: what survives it is moot.
            found += _overwritten(explanation, compiled.sources, filename)
            found += _tied_disagreements(explanation, model, compiled.sources)
            found += _unwritten(explanation, filename)
        found += _blocked(explanation, model, filename)
        found += _load_findings(explanation, filename)
    return found, explanation


def _unmatched_layers(policy: Policy, model: nn.Module) -> list[Diagnostic]:
    modules = dict(named_modules(model))
    names_below: dict[str, frozenset[str]] = {}

    def below(path: str) -> frozenset[str] | None:
        if path not in modules:
            return None  # a scope the model lacks: E170 says so
        if path not in names_below:
            prefix = f"{path}." if path else ""
            names_below[path] = frozenset(
                n for sub_path, sub in modules.items()
                if sub_path == path or sub_path.startswith(prefix) or not path
                for n in class_names(type(sub)))
        return names_below[path]

    found = []
    for path, statement in scoped_statements(policy.statements):
        if isinstance(statement, LayerRule):
            layers = statement.layers
        elif isinstance(statement, ParamRule) and statement.layer is not None:
            layers = (statement.layer,)  # `Linear.bias -> ...`
        else:
            continue
        names = below(path)
        if names is None:
            continue
        for layer in layers:
            if "*" in layer.name:
                pattern = class_pattern([layer.name])
                own = {type(m).__name__ for p, m in modules.items()
                       if not path or p == path or p.startswith(path + ".")}
                if pattern is not None and any(pattern.fullmatch(n) for n in own):
                    continue
            elif layer.name in names:
                continue
            where = f"`{path}`" if path else f"the model ({type(model).__name__})"
            classes = sorted({type(m).__name__ for p, m in modules.items()
                              if not path or p == path or p.startswith(path + ".")})
            shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
            found.append(finding(
                "W210", f"`{layer.name}` matches no module in {where}, whose classes are "
                f"{shown}{did_you_mean(layer.name, names)}", layer.span))
    return found


def _unmatched_params(policy: Policy, model: nn.Module) -> list[Diagnostic]:
    """``W212``: param rules whose pattern matches no parameter below their module."""
    modules = dict(named_modules(model))
    found = []
    for path, statement in scoped_statements(policy.statements):
        if not isinstance(statement, ParamRule) or path not in modules:
            continue  # a scope the model lacks: E170 says so
        try:
            pattern = parameter_pattern(".".join(statement.pattern))
        except InitError:
            continue  # E150 says so
        layers = None if statement.layer is None else [statement.layer.name]
        matched, buffers = matching_parameters(modules[path], path, pattern, layers=layers)
        if matched or buffers:
            continue  # buffers: planning reports E240
        owners = [(path, modules[path])] if layers is None else \
            list(matching(modules[path], path, layers))
        if not owners:
            continue  # W210 says the class matches nothing
        names = [name[len(owner_path) + 1 if owner_path else 0:]
                 for owner_path, owner in owners
                 for name, _ in named_parameters(owner, owner_path)]
        if statement.layer is None:
            where = f"`{path}`" if path else f"the model ({type(model).__name__})"
        else:
            where = f"any {statement.layer.name}"
        text = ".".join(statement.pattern)
        written = f"param {text}" if statement.layer is None else \
            f"{statement.layer.name}.{text}"
        found.append(finding(
            "W212", f"`{written}` matches no parameter of {where}"
            f"{did_you_mean(text, names)}", statement.pattern_span or statement.span))
    return found


def _writes_nothing(policy: Policy, model: nn.Module) -> list[Diagnostic]:
    """``W211``: rules whose classes match modules, none of which has a weight or bias."""
    modules = dict(named_modules(model))
    found = []
    for path, statement in scoped_statements(policy.statements):
        if not isinstance(statement, LayerRule) or not statement.layers or path not in modules:
            continue
        layers = [layer.name for layer in statement.layers]
        matched = [sub for _, sub in matching(modules[path], path, layers)]
        if not matched or any(isinstance(getattr(sub, attr, None), Tensor)
                              for sub in matched for attr in ("weight", "bias")):
            continue
        classes = sorted({type(sub).__name__ for sub in matched})
        own = list(dict.fromkeys(name for sub in matched for name, p in sub._parameters.items()
                                 if p is not None))
        whose = "its" if len(matched) == 1 else "their"
        held = (f"; {whose} own parameters are {listed(own, 6)}, which no layer rule writes "
                f"(name them: `{classes[0]}.{own[0]} -> ...`)" if own else "")
        found.append(finding(
            "W211", f"the rule matches {len(matched)} module{'s' if len(matched) > 1 else ''} "
            f"({', '.join(classes)}) but writes nothing: a layer rule writes a module's own "
            f"`weight` and `bias`, and {'it has' if len(matched) == 1 else 'they have'} "
            f"neither{held}", statement.layers[0].span))
    return found


def _where(origin: Origin | None, file: str) -> Span:
    source = getattr(origin, "source", None)
    return source if isinstance(source, Span) else model_span(file)


def explanation_diagnostics(explanation: Explanation, file: str) -> list[Diagnostic]:
    """The run failures an explanation found, positioned: the language's codes where the
    planner gives one (``E122`` on the argument, ``E132``, ``E133``), else ``E240``,
    ``E260``, ``E290``.

    A missing checkpoint is left to ``E202`` and a name rule's target to
    ``E171``, which report them on the text itself.
    """
    found = []
    for problem in explanation.problems:
        span = _where(problem.origin, file)
        error = problem.error
        code = getattr(error, "code", None)
        if code in _PLANNING_CODES and code != "E240":
            found.append(Diagnostic(code, problem.message, getattr(error, "span", None) or span))
        elif problem.kind == "initializer":
            found.append(finding("E240", f"the initializer rejects a module it matches: "
                                     f"{problem.message}", span))
        elif problem.kind == "prefix":
            found.append(finding("E260", f"the load's prefix matches no checkpoint key: "
                                     f"{problem.message}", span))
        elif problem.kind == "checkpoint-missing":
            continue
        elif problem.kind == "override" and problem.origin is not None \
                and problem.origin.source is not None:
            continue
        else:
            where = "" if isinstance(getattr(problem.origin, "source", None), Span) or \
                problem.origin is None else f"{problem.origin}: "
            found.append(finding("E290", f"the run would fail: {where}{problem.message}",
                                     span))
    return found


def _overwritten(explanation: Explanation, sources: dict, file: str) -> list[Diagnostic]:
    written: dict[tuple, list[Parameter]] = defaultdict(list)
    for parameter in explanation.parameters:
        for rule in dict.fromkeys(w.rule for w in parameter.writes if w.certain):
            if rule is not None:
                written[rule].append(parameter)
    found = []
    for rule, parameters in written.items():
        span = sources.get(rule)
        if span is None:
            continue  # not a policy rule (a model's own init_cfg)
        finals = [p.final for p in parameters]
        if any(f is None or not f.certain or f.rule == rule for f in finals):
            continue
        by: dict[str, str] = {}
        for final in finals:
            by.setdefault(final.where, "load" if final.kind == "load" else final.name)
        overwriters = ", ".join(f"{name} at {where}" for where, name in by.items())
        found.append(finding(
            "W220", f"no write of this rule survives: all {len(parameters)} parameters it "
            f"writes ({listed(collapse_names(p.name for p in parameters), 4)}) are overwritten "
            f"later, by {overwriters}", span))
    return found


def _written(write: Writer, names: list[str]) -> tuple:
    """What ``write`` puts into the tensor, comparable across rules: a bias written by
    a layer rule is its constant, and zeros, ones and constant(v) are one constant."""
    args = write.args
    if "params" not in args and any(n == (f"{write.module}.bias" if write.module else "bias")
                                    for n in names):
        return ("constant", repr(float(args.get("bias") or 0)))
    constant = {"Zeros": 0, "Ones": 1, "Constant": args.get("val")}
    if write.name in constant:
        return ("constant", repr(float(constant[write.name])))
    return (write.name, tuple((k, repr(v)) for k, v in sorted(args.items())
                              if k not in ("layer", "params", "bias")))


def _tied_disagreements(explanation: Explanation, model: nn.Module, sources: dict
                        ) -> list[Diagnostic]:
    """``W213``: rules that write the names of one tied tensor differently (the last wins)."""
    names: dict[int, list[str]] = defaultdict(list)
    for name, tensor in named_parameters(model, remove_duplicate=False):
        names[id(tensor)].append(name)
    by_name = {parameter.name: parameter for parameter in explanation.parameters}
    found = []
    for group in names.values():
        parameter = next((by_name[n] for n in group if n in by_name), None)
        if len(group) < 2 or parameter is None:
            continue
        writes = [w for w in parameter.writes if w.kind == "init" and w.rule is not None]
        if len({_written(w, group) for w in writes}) < 2:
            continue
        first, last = writes[0], writes[-1]
        span = sources.get(first.rule)
        if span is None:
            continue
        def text(write):
            args = ", ".join(f"{k}={v}" for k, v in write.args.items()
                             if k not in ("layer", "params", "bias"))
            return f"{write.name}({args})"
        found.append(finding(
            "W213", f"{' and '.join(group)} are one tensor (tied), and the rules that write "
            f"it disagree: {text(first)} here, {text(last)} at {last.where}, which wins; "
            "write both names with one rule", span))
    return found


def _unwritten(explanation: Explanation, file: str) -> list[Diagnostic]:
    names = [p.name for p in explanation.parameters if p.final is None]
    if not names:
        return []
    total = len(explanation.parameters)
    return [finding(
        "I230", f"{len(names)} of {total} parameters are written by no rule and keep the "
        f"values the model's constructor gave them: {', '.join(collapse_names(names))}",
        model_span(file))]


def _blocked(explanation: Explanation, model: nn.Module, file: str) -> list[Diagnostic]:
    if any(problem.kind == "plan" for problem in explanation.problems):
        return []  # the plan stopped early: what it reaches says nothing
    modules = dict(named_modules(model))
    reached = explanation.reached
    blocked: dict[str, list[str]] = defaultdict(list)
    for path, module in modules.items():
        if not path or path in reached or getattr(module, "is_init", False):
            continue
        own_cfg = bool(getattr(module, "init_cfg", None))
        if not (own_cfg or has_own_init_weights(module)):
            continue
        parts = path.split(".")
        ancestors = [".".join(parts[:i]) for i in range(1, len(parts))]
        first = next((a for a in ancestors if a not in reached), None)
        # Without an unreached ancestor the parent ran but did not chain (user
        # code or is_init): not something a static check can decide.
        if first is None or hasattr(modules[first], "init_weights"):
            continue
        blocked[first].append(path)
    found = []
    for container, paths in blocked.items():
        kinds = sorted({type(modules[p]).__name__ for p in paths})
        found.append(finding(
            "W250", f"{', '.join(f'`{p}`' for p in collapse_names(paths))} "
            f"({', '.join(kinds)}) {'has its' if len(paths) == 1 else 'have their'} own "
            f"init_cfg or init_weights, which never runs: `{container}` "
            f"({type(modules[container]).__name__}) has no init_weights, so the chain of "
            "init_weights calls stops there; build it as an initdsl/mmengine container "
            f"(a BaseModule) or name it in a scope (`scope {container} {{}}`)", model_span(file)))
    return found


def _load_findings(explanation: Explanation, file: str) -> list[Diagnostic]:
    found = []
    failed = {id(problem.origin) for problem in explanation.problems}
    for load in explanation.loads:
        if not load.known:
            if id(load.origin) not in failed:  # else an error says why already
                found.append(finding("I263", f"`{load.checkpoint}` was not inspected: "
                                     f"{load.problem}", _where(load.origin, file)))
            continue
        span = _where(load.origin, file)
        into = f" into `{load.module}`" if load.module else ""
        what = f"`{load.checkpoint}`{into}"
        if load.unexpected:
            found.append(finding(
                "W261", f"{len(load.unexpected)} key(s) of {what} match no parameter or buffer "
                f"and are ignored: {listed(load.unexpected)}", span))
        if load.mismatched:
            shown = ", ".join(f"`{k}` {tuple(c)} vs {tuple(m)}"
                              for k, c, m in load.mismatched[:LISTED])
            more = len(load.mismatched) - LISTED
            found.append(finding(
                "W262", f"{len(load.mismatched)} tensor(s) of {what} have another shape than "
                f"the model's (checkpoint vs model) and are not loaded: {shown}"
                + (f" and {more} more" if more > 0 else ""), span))
    return found
