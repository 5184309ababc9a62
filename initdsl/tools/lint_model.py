"""Lint rules: findings about a policy beyond "does it compile", with stable codes.

:func:`lint` returns every diagnostic of the language (syntax ``E001``, the
checks ``E1xx``, and with a model ``E170``/``E171``) plus the rules below,
each a :class:`~initdsl.Diagnostic` with a severity (``"error"``,
``"warning"`` or ``"info"``) and the position of the rule it is about.

Without a model:

* ``W201`` a layer name that is no known module class (torch's, a torch base
  class such as ``_BatchNorm``, or any ``nn.Module`` subclass imported);
* ``E202`` a checkpoint file that does not exist (relative paths are
  resolved against the current directory, as a run resolves them).

With a model (resolved statically by :mod:`initdsl.tools.explain`, nothing written):

* ``W210`` a layer name that matches no module where the rule applies;
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
* ``E290`` anything else the run would fail on before writing.
"""

from __future__ import annotations

import difflib
import os
import re
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
from torch import nn

from ..core.matcher import class_names
from ..core.protocol import has_own_init_weights
from ..core.provenance import Origin
from ..core.walk import named_modules
from ..diagnostics import Diagnostic, Span
from ..language.ast import LayerRule, Load, LoadRule, NameRule, Policy, Scope, Statement
from ..language.binding import check_model
from ..language.checker import check
from ..language.compiler import compile_checked
from ..language.parser import parse_recovering
from .explain import Explanation, Parameter, explain

__all__ = ["LINT_CODES", "about_the_model", "LintResult", "lint", "known_layer_names",
           "collapse_names", "exit_code", "explanation_diagnostics", "missing_checkpoints"]

#: Every lint code: (severity, title). docs/cli.md documents each with an example.
LINT_CODES: dict[str, tuple[str, str]] = {
    "W201": ("warning", "unknown layer class"),
    "E202": ("error", "checkpoint file not found"),
    "W210": ("warning", "layer matches no module in the model"),
    "W220": ("warning", "every write of the rule is overwritten later"),
    "I230": ("info", "parameters no rule writes"),
    "E240": ("error", "initializer rejects a module it matches"),
    "W250": ("warning", "init_cfg/init_weights never runs: a plain container stops the chain"),
    "E260": ("error", "load prefix matches no checkpoint key"),
    "W261": ("warning", "checkpoint keys match no parameter"),
    "W262": ("warning", "checkpoint shape mismatch"),
    "E290": ("error", "the run would fail"),
}

#: Findings about the whole model rather than one rule (``I230``, ``W250``, and
#: ``E290`` when no rule is to blame) sit on this empty span at ``file:1:1``;
#: :func:`about_the_model` tells them apart, and they are shown without an excerpt.
_MODEL_SPAN = (1, 1, 1, 1)

_LISTED = 8


def _diagnostic(code: str, message: str, span: Span | None) -> Diagnostic:
    return Diagnostic(code, message, span, LINT_CODES[code][0])


def _top(file: str) -> Span:
    return Span(file, *_MODEL_SPAN)


def about_the_model(diagnostic: Diagnostic) -> bool:
    """Whether ``diagnostic`` is about the model as a whole rather than a place in the text."""
    span = diagnostic.span
    return span is None or (span.line, span.column, span.end_line, span.end_column) == _MODEL_SPAN


def _names(items: Iterable[str], limit: int = _LISTED) -> str:
    items = list(items)
    shown = ", ".join(f"`{item}`" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def known_layer_names() -> frozenset[str]:
    """Names a ``layer`` can usefully hold: each imported ``nn.Module`` subclass and its bases."""
    names = {"Module"}
    seen: set[type] = set()
    stack: list[type] = [nn.Module]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                names.update(class_names(sub))
                stack.append(sub)
    return frozenset(names)


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    options = sorted(set(options))
    folded = [o for o in options if o.lower() == word.lower()]
    if not folded:
        public = [o for o in options if word.startswith("_") or not o.startswith("_")]
        folded = difflib.get_close_matches(word, public, n=1, cutoff=0.75)
    return f"; did you mean `{folded[0]}`?" if folded else ""


def collapse_names(names: Iterable[str]) -> list[str]:
    """Group names that differ only in numeric segments: ``blocks.{0..11}.norm1.weight``.

    Order of first appearance is kept. A group whose indices are not a full
    product over its numeric positions is written with ``*`` and a count.
    """
    groups: dict[tuple[str | None, ...], list[tuple[int, ...]]] = {}
    for name in names:
        parts = name.split(".")
        shape = tuple(None if p.isdigit() else p for p in parts)
        groups.setdefault(shape, []).append(tuple(int(p) for p in parts if p.isdigit()))
    return [_collapsed(shape, indices) for shape, indices in groups.items()]


def _collapsed(shape: tuple[str | None, ...], indices: list[tuple[int, ...]]) -> str:
    if len(indices) == 1:
        fills = [str(i) for i in indices[0]]
        suffix = ""
    else:
        columns = [sorted({i[k] for i in indices}) for k in range(len(indices[0]))]
        product = 1
        for column in columns:
            product *= len(column)
        if product == len(set(indices)):
            fills, suffix = [_span_of(column) for column in columns], ""
        else:
            fills, suffix = ["*"] * len(columns), f" ({len(indices)})"
    filled = iter(fills)
    return ".".join(next(filled) if part is None else part for part in shape) + suffix


def _span_of(values: list[int]) -> str:
    if len(values) == 1:
        return str(values[0])
    if values == list(range(values[0], values[-1] + 1)):
        return f"{{{values[0]}..{values[-1]}}}"
    return "{" + ",".join(map(str, values)) + "}"


def exit_code(diagnostics: Iterable[Diagnostic], strict: bool = False) -> int:
    """1 if any error (or, with ``strict``, any warning) is among ``diagnostics``, else 0."""
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(d.severity in failing for d in diagnostics) else 0


# -- the rules ---------------------------------------------------------------------------


def _walk(statements: Iterable[Statement], path: str = ""
          ) -> Iterator[tuple[str, Statement]]:
    """``(module path the statement applies to, statement)``, scopes entered."""
    for statement in statements:
        yield path, statement
        if isinstance(statement, Scope):
            inner = ".".join([path, *statement.path] if path else statement.path)
            yield from _walk(statement.statements, inner)


def _loads(policy: Policy) -> Iterator[Load]:
    for _, statement in _walk(policy.statements):
        if isinstance(statement, LoadRule):
            yield statement.load
        elif isinstance(statement, NameRule) and isinstance(statement.target, Load):
            yield statement.target


def _unknown_layers(policy: Policy) -> list[Diagnostic]:
    known = known_layer_names()
    found = []
    for _, statement in _walk(policy.statements):
        if isinstance(statement, LayerRule):
            for layer in statement.layers:
                if layer.name not in known:
                    found.append(_diagnostic(
                        "W201", f"`{layer.name}` is not a known module class (of torch.nn, a "
                        "torch base class such as `_BatchNorm`, or an imported nn.Module "
                        "subclass), so the rule matches nothing unless the model defines it"
                        f"{_did_you_mean(layer.name, known)}", layer.span))
    return found


def missing_checkpoints(policy: Policy, filename: str) -> list[Diagnostic]:
    """``E202`` for every load of a local checkpoint file that does not exist.

    Relative paths are resolved against the current directory, as a run
    resolves them; URLs are not checked (linting does not use the network).
    """
    found = []
    here = Path(filename).parent if filename else Path(".")
    for load in _loads(policy):
        source = load.checkpoint.value
        if source.startswith(("http://", "https://")):
            continue  # checked only when run: linting does not touch the network
        path = source
        if source.startswith("file://"):
            path = urllib.request.url2pathname(urllib.parse.urlparse(source).path)
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
            continue  # an unsupported scheme: the run rejects it with its own message
        path = os.path.expanduser(path)
        if os.path.isfile(path):
            continue
        hint = ""
        beside = here / path
        if not os.path.isabs(path) and str(here) not in ("", ".") and beside.is_file():
            hint = (f"; it exists relative to the policy file ({beside}): run from "
                    f"{here} or write that path")
        found.append(_diagnostic(
            "E202", f"checkpoint `{source}` does not exist (relative paths are read from the "
            f"current directory, {os.getcwd()}){hint}", load.checkpoint.span or load.span))
    return found


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
    for path, statement in _walk(policy.statements):
        if not isinstance(statement, LayerRule):
            continue
        names = below(path)
        if names is None:
            continue
        for layer in statement.layers:
            if layer.name not in names:
                where = f"`{path}`" if path else f"the model ({type(model).__name__})"
                classes = sorted({type(m).__name__ for p, m in modules.items()
                                  if not path or p == path or p.startswith(path + ".")})
                shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
                found.append(_diagnostic(
                    "W210", f"`{layer.name}` matches no module in {where}, whose classes are "
                    f"{shown}{_did_you_mean(layer.name, names)}", layer.span))
    return found


def _where(origin: Origin | None, file: str) -> Span:
    source = getattr(origin, "source", None)
    return source if isinstance(source, Span) else _top(file)


def explanation_diagnostics(explanation: Explanation, file: str) -> list[Diagnostic]:
    """The run failures an explanation found (``E240``, ``E260``, ``E290``), positioned.

    A missing checkpoint is left to ``E202`` and a name rule's target to
    ``E171``, which report them on the text itself.
    """
    found = []
    for problem in explanation.problems:
        span = _where(problem.origin, file)
        if problem.kind == "initializer":
            found.append(_diagnostic("E240", f"the initializer rejects a module it matches: "
                                     f"{problem.message}", span))
        elif problem.kind == "prefix":
            found.append(_diagnostic("E260", f"the load's prefix matches no checkpoint key: "
                                     f"{problem.message}", span))
        elif problem.kind == "checkpoint-missing":
            continue
        elif problem.kind == "override" and problem.origin is not None \
                and problem.origin.source is not None:
            continue
        else:
            where = "" if isinstance(getattr(problem.origin, "source", None), Span) or \
                problem.origin is None else f"{problem.origin}: "
            found.append(_diagnostic("E290", f"the run would fail: {where}{problem.message}",
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
        found.append(_diagnostic(
            "W220", f"no write of this rule survives: all {len(parameters)} parameters it "
            f"writes ({_names(collapse_names(p.name for p in parameters), 4)}) are overwritten "
            f"later, by {overwriters}", span))
    return found


def _unwritten(explanation: Explanation, file: str) -> list[Diagnostic]:
    names = [p.name for p in explanation.parameters if p.final is None]
    if not names:
        return []
    total = len(explanation.parameters)
    return [_diagnostic(
        "I230", f"{len(names)} of {total} parameters are written by no rule and keep the "
        f"values the model's constructor gave them: {', '.join(collapse_names(names))}",
        _top(file))]


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
        found.append(_diagnostic(
            "W250", f"{', '.join(f'`{p}`' for p in collapse_names(paths))} "
            f"({', '.join(kinds)}) {'has its' if len(paths) == 1 else 'have their'} own "
            f"init_cfg or init_weights, which never runs: `{container}` "
            f"({type(modules[container]).__name__}) has no init_weights, so the chain of "
            "init_weights calls stops there; build it as an initdsl/mmengine container "
            f"(a BaseModule) or name it in a scope (`scope {container} {{}}`)", _top(file)))
    return found


def _load_findings(explanation: Explanation, file: str) -> list[Diagnostic]:
    found = []
    for load in explanation.loads:
        if not load.known:
            continue
        span = _where(load.origin, file)
        into = f" into `{load.module}`" if load.module else ""
        what = f"`{load.checkpoint}`{into}"
        if load.unexpected:
            found.append(_diagnostic(
                "W261", f"{len(load.unexpected)} key(s) of {what} match no parameter or buffer "
                f"and are ignored: {_names(load.unexpected)}", span))
        if load.mismatched:
            shown = ", ".join(f"`{k}` {tuple(c)} vs {tuple(m)}"
                              for k, c, m in load.mismatched[:_LISTED])
            more = len(load.mismatched) - _LISTED
            found.append(_diagnostic(
                "W262", f"{len(load.mismatched)} tensor(s) of {what} have another shape than "
                f"the model's (checkpoint vs model) and are not loaded: {shown}"
                + (f" and {more} more" if more > 0 else ""), span))
    return found


@attrs.frozen
class LintResult:
    """The diagnostics of one policy, the policy text, and the explanation if one was made."""

    diagnostics: tuple[Diagnostic, ...]
    source: str
    explanation: Explanation | None = None


def lint(text: str, filename: str, model: nn.Module | None = None) -> LintResult:
    """Every diagnostic for the policy ``text`` (named ``filename``), sorted by position.

    With ``model`` (build it on the ``meta`` device: nothing is written or
    allocated) the model rules run too. Rules that need a compiled policy
    run only when the policy has no errors of the language.
    """
    policy, found = parse_recovering(text, filename)
    found = list(found) + check(policy)
    language_errors = bool(found)
    found += missing_checkpoints(policy, filename)
    explanation = None
    if model is None:
        found += _unknown_layers(policy)
    else:
        model_errors = check_model(policy, model)
        found += model_errors
        found += _unmatched_layers(policy, model)
        if not language_errors:
            compiled = compile_checked(policy)
            explanation = explain(model, compiled)
            failures = explanation_diagnostics(explanation, filename)
            found += failures
            if not failures:
                # A run that fails writes nothing: what survives it is moot.
                found += _overwritten(explanation, compiled.sources, filename)
                found += _unwritten(explanation, filename)
            found += _blocked(explanation, model, filename)
            found += _load_findings(explanation, filename)
    found.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
    return LintResult(tuple(found), text, explanation)

