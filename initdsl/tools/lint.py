"""Lint: findings about a policy beyond "does it compile", with stable codes.

:func:`lint` returns every diagnostic of the language (syntax ``E001``, the
checks ``E1xx``, and with a model ``E170``/``E171`` and what planning finds,
``E122``/``E132``/``E133``) plus the lint rules, each a
:class:`~initdsl.Diagnostic` with a severity (``"error"``, ``"warning"`` or
``"info"``) and the position of the rule it is about. docs/cli.md lists
every code with an example.

The rules that read only the text are here; they need no torch, so that
``initdsl lint`` without a model starts in a fraction of a second:

* ``W201`` a layer name that is no known module class (torch's, a torch base
  class such as ``_BatchNorm``, or any ``nn.Module`` subclass imported);
* ``E202`` a checkpoint file that does not exist (relative paths are
  resolved against the current directory, as a run resolves them);
* ``E203`` a checkpoint named with a scheme no run can read (``s3://``);
* ``E204`` a ``torchvision://``, ``open-mmlab://`` or ``mmcls://`` name mmengine's
  tables do not have; ``W205`` one that is not in torch's hub cache.

The rules that need the model are in :mod:`initdsl.tools.lint_model`.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..core.checkpoint_names import is_named
from ..diagnostics import Diagnostic
from ..language.ast import (
    LayerRule,
    Load,
    LoadRule,
    NameRule,
    Policy,
    scoped_statements,
)
from ..language.checker import check
from ..language.parser import parse_recovering
from .findings import did_you_mean, finding
from .torch_classes import TORCH_MODULE_NAMES

if TYPE_CHECKING:
    from torch import nn

    from .explain import Explanation
    from .project import Project

__all__ = ["LintResult", "lint", "known_layer_names", "missing_checkpoints", "noqa_codes", "Fix",
           "fixes", "apply_fixes"]

#: The schemes a checkpoint may be read from (anything else with ``://`` is ``E203``).
_SCHEMES = ("http://", "https://", "file://")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@attrs.frozen
class LintResult:
    """The diagnostics of one policy, the policy text, and the explanation if one was made."""

    diagnostics: tuple[Diagnostic, ...]
    source: str
    explanation: Explanation | None = None


def lint(text: str, filename: str, model: nn.Module | None = None, *,
         project: Project | None = None) -> LintResult:
    """Every diagnostic for the policy ``text`` (named ``filename``), sorted by position.

    With ``model`` (build it on the ``meta`` device: nothing is written or
    allocated) the model rules run too. Rules that need a compiled policy
    run only when the policy has no errors of the language; rules about
    what a run leaves behind only when the run would not fail.

    A lint finding is dropped when ``project``'s ``select``/``ignore`` leave
    its code out, or when its line ends in ``# noqa`` (every code) or
    ``# noqa: W201, E202`` (those); the language's own errors never are
    (:func:`~initdsl.tools.project.always_reported`).
    """
    policy, found = parse_recovering(text, filename)
    found = list(found) + check(policy)
    language_errors = bool(found)
    found += missing_checkpoints(policy, filename)
    explanation = None
    if model is None:
        found += _unknown_layers(policy)
    else:
        # Imported here, not above: the rules below need torch and the model.
        from .lint_model import model_findings

        more, explanation = model_findings(policy, model, filename,
                                           compiles=not language_errors,
                                           failing=_errors(found))
        found += more
    found.sort(key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
    return LintResult(tuple(_kept(found, text, project)), text, explanation)


#: A noqa comment, bare or with codes after a colon (as flake8 and ruff write it).
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?",
                   re.IGNORECASE)


def noqa_codes(line: str) -> frozenset[str] | None:
    """The codes a ``# noqa`` comment on ``line`` suppresses (empty: all); ``None``: none."""
    match = _NOQA.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    return frozenset(re.split(r"[\s,]+", codes.upper())) if codes else frozenset()


def _kept(found: list[Diagnostic], text: str, project: Project | None) -> list[Diagnostic]:
    from .findings import about_the_model
    from .project import always_reported

    lines = text.split("\n")
    kept = []
    for diagnostic in found:
        code = diagnostic.code
        if not always_reported(code):
            if project is not None and not project.reports(code):
                continue
            span = diagnostic.span
            if span is not None and not about_the_model(diagnostic) and \
                    0 < span.line <= len(lines):
                codes = noqa_codes(lines[span.line - 1])
                if codes is not None and (not codes or code in codes):
                    continue
        kept.append(diagnostic)
    return kept


def _errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


# -- the rules that read only the text -------------------------------------------------------


def _loads(policy: Policy) -> Iterator[Load]:
    for _, statement in scoped_statements(policy.statements):
        if isinstance(statement, LoadRule):
            yield statement.load
        elif isinstance(statement, NameRule) and isinstance(statement.target, Load):
            yield statement.target


def known_layer_names(*names: str) -> frozenset[str]:
    """Names a ``layer`` can usefully hold: each imported ``nn.Module`` subclass and its bases.

    While torch is not imported no subclass of ``nn.Module`` can exist but
    torch's own, so the snapshot of those
    (:data:`~initdsl.tools.torch_classes.TORCH_MODULE_NAMES`, with initdsl's
    ``BaseModule``) is returned without importing it (``names`` is kept for
    callers that pass the names they ask about).
    """
    static = TORCH_MODULE_NAMES | {"BaseModule"}
    if "torch" not in sys.modules:
        # No nn.Module subclass can exist before torch is imported: the snapshot is all.
        return static
    from torch import nn

    from ..core.matcher import class_names

    known = {"Module"}
    seen: set[type] = set()
    stack: list[type] = [nn.Module]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                known.update(class_names(sub))
                stack.append(sub)
    return frozenset(known)


def _unknown_layers(policy: Policy) -> list[Diagnostic]:
    # A class-name pattern (`*LayerNorm*`) is written for classes lint cannot know.
    layers = [layer for _, statement in scoped_statements(policy.statements)
              if isinstance(statement, LayerRule) for layer in statement.layers
              if "*" not in layer.name]
    if not layers:
        return []
    known = known_layer_names(*(layer.name for layer in layers))
    return [finding("W201", f"`{layer.name}` is not a known module class (of torch.nn, a "
                    "torch base class such as `_BatchNorm`, or an imported nn.Module "
                    "subclass), so the rule matches nothing unless the model defines it"
                    f"{did_you_mean(layer.name, known)}", layer.span)
            for layer in layers if layer.name not in known]


def _named_checkpoint(source: str, span: Any) -> list[Diagnostic]:
    """``E204`` for a checkpoint name mmengine's tables lack, ``W205`` for one that is not
    in torch's hub cache (a run would download it, or fail without the network)."""
    from ..core.checkpoint_names import resolve_name
    from ..errors import CheckpointNotFoundError, MissingDependencyError

    try:
        resolved = resolve_name(source)
    except MissingDependencyError as error:
        return [finding("I263", f"checkpoint `{source}` not inspected: {error.message}", span)]
    except CheckpointNotFoundError as error:
        return [finding("E204", error.message, span)]
    if resolved.startswith(("http://", "https://")):
        name = os.path.basename(urllib.parse.urlparse(resolved).path)
        path = os.path.join(_torch_hub_dir(), "checkpoints", name)
    else:
        path = resolved
    if os.path.isfile(path):
        return []
    return [finding("W205", f"checkpoint `{source}` ({resolved}) is not in the cache: a run "
                    f"downloads it, and fails without the network; put the file at {path}",
                    span)]


def _torch_hub_dir() -> str:
    """torch.hub.get_dir(), without importing torch: $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub."""
    home = os.getenv("TORCH_HOME") or os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"),
                                                   "torch")
    return os.path.join(os.path.expanduser(home), "hub")


def missing_checkpoints(policy: Policy, filename: str) -> list[Diagnostic]:
    """``E202`` for every load of a local checkpoint file that does not exist, ``E203`` for
    every checkpoint named with a scheme no run reads, ``E204``/``W205`` for names.

    Relative paths are resolved against the current directory, as a run
    resolves them; URLs are not checked (linting does not use the network).
    """
    found = []
    here = Path(filename).parent if filename else Path(".")
    for load in _loads(policy):
        source = load.checkpoint.value
        span = load.checkpoint.span or load.span
        if is_named(source):
            found.extend(_named_checkpoint(source, span))
            continue
        if source.startswith(("http://", "https://")):
            continue  # checked only when run: linting does not touch the network
        if _SCHEME.match(source) and not source.startswith(_SCHEMES):
            scheme = source.split("://")[0]
            found.append(finding(
                "E203", f"checkpoint `{source}`: the scheme `{scheme}://` is not supported "
                "(a run reads local paths, file:// and http(s):// URLs, and torchvision://, "
                "open-mmlab:// and mmcls:// names); download the file and load it by its "
                "path", span))
            continue
        path = source
        if source.startswith("file://"):
            path = urllib.request.url2pathname(urllib.parse.urlparse(source).path)
        path = os.path.expanduser(path)
        if os.path.isfile(path):
            continue
        hint = ""
        beside = here / path
        if not os.path.isabs(path) and str(here) not in ("", ".") and beside.is_file():
            hint = (f"; it exists relative to the policy file ({beside}): run from "
                    f"{here} or write that path")
        found.append(finding(
            "E202", f"checkpoint `{source}` does not exist (relative paths are read from the "
            f"current directory, {os.getcwd()}){hint}", span))
    return found


# -- fixes ----------------------------------------------------------------------------------


@attrs.frozen
class Fix:
    """One ``lint --fix`` edit: ``old`` at ``diagnostic``'s span became ``new``."""

    diagnostic: Diagnostic
    old: str
    new: str


#: The one suggestion a finding makes, as every "did you mean" of initdsl words it.
_SUGGESTION = re.compile(r"did you mean `([A-Za-z_][\w.]*)`\?")
_WORD = re.compile(r"[A-Za-z_][\w.]*")


def fixes(text: str, diagnostics: Iterable[Diagnostic]) -> list[Fix]:
    """The unambiguous fixes among ``diagnostics``: a finding on one line whose span starts
    with a word the message names, and whose message suggests exactly one other word
    (``did you mean``). At most one fix per span."""
    lines = text.split("\n")
    found: dict[tuple[int, int], Fix] = {}
    for diagnostic in diagnostics:
        span = diagnostic.span
        suggested = _SUGGESTION.findall(diagnostic.message)
        if len(suggested) != 1 or span is None or span.line != span.end_line or \
                not 0 < span.line <= len(lines):
            continue
        # The word the span starts with (an argument's span covers `sdt=0.02`), and only
        # when the message names it: the finding is about that word.
        word = _WORD.match(lines[span.line - 1], span.column - 1,
                           span.end_column - 1 if span.end_column > span.column else None)
        new = suggested[0]
        if word is not None and f"`{word.group()}`" in diagnostic.message and \
                word.group() != new:
            found.setdefault((span.line, span.column), Fix(diagnostic, word.group(), new))
    return sorted(found.values(), key=lambda f: (f.diagnostic.span.line,
                                                 f.diagnostic.span.column))


def apply_fixes(text: str, chosen: Iterable[Fix]) -> str:
    """``text`` with every fix made (from the last, so earlier columns stay right)."""
    lines = text.split("\n")
    for fix in sorted(chosen, key=lambda f: (f.diagnostic.span.line, f.diagnostic.span.column),
                      reverse=True):
        span = fix.diagnostic.span
        line = lines[span.line - 1]
        start = span.column - 1
        lines[span.line - 1] = line[:start] + fix.new + line[start + len(fix.old):]
    return "\n".join(lines)
