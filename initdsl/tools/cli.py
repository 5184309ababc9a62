"""The ``initdsl`` command line: argument parsing and rendering, nothing else.

Every command is a thin layer over the public API (``initdsl.compile``,
``decompile``, ``format``, ``apply``), :mod:`initdsl.tools.lint` and
:mod:`initdsl.tools.explain`; docs/cli.md documents the commands, their exit codes
and the JSON output.

Exit codes: 0 clean; 1 findings (errors in the input, or with ``lint
--strict`` warnings; ``fmt --check``: a file would change); 2 usage errors,
unreadable files, a model that cannot be built, or an internal error.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from ..version import __version__
from .literals import InputError, read_init_cfg

if TYPE_CHECKING:
    from ..diagnostics import Diagnostic
    from ..errors import PolicyError
    from .explain import Explanation
    from .project import Project

__all__ = ["main", "build_parser", "render_explanation", "read_init_cfg", "Style",
           "JSON_VERSION"]

#: The ``"version"`` of every JSON document the command line prints.
JSON_VERSION = 1


class UsageError(Exception):
    """Bad input that is not a finding: a missing file, a bad option value (exit 2)."""


class UnreadableFile(UsageError):
    """An input file that cannot be read, or is not UTF-8 text (exit 2).

    ``diagnostic`` is the rendered ``E004`` diagnostic of a file that is not
    UTF-8 (with its line, column and caret), else ``None``.
    """

    def __init__(self, message: str, diagnostic: str | None = None) -> None:
        super().__init__(message)
        self.diagnostic = diagnostic

    def report(self, command: str) -> str:
        return self.diagnostic or f"initdsl {command}: error: {self}"


# -- output ------------------------------------------------------------------------------


class Style:
    """ANSI styling, enabled only for a terminal, never under ``NO_COLOR``."""

    _SEVERITY = {"error": "31", "warning": "33", "info": "36"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def for_stream(cls, stream: TextIO, choice: str = "auto") -> Style:
        """``choice`` is ``auto`` (colour on a terminal), ``always`` or ``never``."""
        if os.environ.get("NO_COLOR") or choice == "never":
            return cls(False)
        if choice == "always":
            return cls(True)
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()))

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def severity(self, text: str, severity: str) -> str:
        return self._wrap("1;" + self._SEVERITY.get(severity, "0"), text)


def _write(stream: TextIO, text: str) -> None:
    if text:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()


def _render_diagnostic(diagnostic: Diagnostic, lines: list[str] | None, style: Style) -> str:
    from .findings import about_the_model

    text = diagnostic.render(lines=None if about_the_model(diagnostic) else lines)
    head, _, rest = text.partition("\n")
    prefix = f"{diagnostic.location}: {diagnostic.code} "
    if style.enabled and head.startswith(prefix):
        head = (style.bold(f"{diagnostic.location}:") + " "
                + style.severity(diagnostic.code, diagnostic.severity) + " "
                + head[len(prefix):])
    return head + ("\n" + rest if rest else "")


def _render_diagnostics(diagnostics: Iterable[Diagnostic], source: str | None, style: Style
                        ) -> str:
    lines = source.split("\n") if source is not None else None  # split once, not per finding
    return "\n\n".join(_render_diagnostic(d, lines, style) for d in diagnostics)


def _diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    span = diagnostic.span
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "path": span.file if span is not None else None,
        "line": span.line if span is not None else None,
        "column": span.column if span is not None else None,
        "end_line": span.end_line if span is not None else None,
        "end_column": span.end_column if span is not None else None,
    }


def _dump_json(document: dict[str, Any]) -> str:
    # allow_nan=False: never print Infinity or NaN, which are not JSON.
    return json.dumps({"version": JSON_VERSION, **document}, indent=2, allow_nan=False)


#: What standard input is called, in diagnostics and messages alike.
STDIN = "<stdin>"


def _name(path: str) -> str:
    """The file name diagnostics use: ``<stdin>`` for ``-``."""
    return STDIN if path == "-" else path


def _read(path: str) -> str:
    """A policy file's text (UTF-8; a byte-order mark is kept), or :class:`UnreadableFile`."""
    from ..errors import PolicyError, PolicyFileError
    from ..language.parser import decode_policy, read_policy_file

    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            return sys.stdin.read() if stream is None else decode_policy(stream.read(), STDIN)
        return read_policy_file(path)
    except PolicyFileError as error:
        raise UnreadableFile(str(error)) from None
    except PolicyError as error:  # not UTF-8: the diagnostic has the line and column
        raise UnreadableFile(str(error), _policy_errors(
            error, error.source, Style.for_stream(sys.stderr))) from None


def _policy_errors(error: PolicyError, source: str | None, style: Style) -> str:
    return _render_diagnostics(error.diagnostics, source, style)


# -- compile -------------------------------------------------------------------------------


def _py(value: Any, indent: int = 0, used: int = 0, width: int = 88) -> str:
    """``value`` as Python source: dicts with identifier keys as ``dict(k=v)``, wrapped
    black-style (one item per line, indented by four) when a line would pass ``width``.

    ``indent`` is the indentation of the current line, ``used`` the characters
    already on it before ``value``.
    """
    flat = _py_flat(value)
    if used + len(flat) <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + 4
    pad = " " * inner
    if isinstance(value, dict) and _kwargs_ok(value):
        items = [f"{pad}{k}={_py(v, inner, inner + len(k) + 1, width)}" for k, v in value.items()]
        opening, closing = "dict(", ")"
    elif isinstance(value, dict):
        items = [f"{pad}{k!r}: {_py(v, inner, inner + len(repr(k)) + 2, width)}"
                 for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        items = [f"{pad}{_py(v, inner, inner, width)}" for v in value]
        opening, closing = "[", "]"
    return opening + "\n" + ",\n".join(items) + ",\n" + " " * indent + closing


def _kwargs_ok(value: dict) -> bool:
    import keyword

    return all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k)
               for k in value)


def _py_flat(value: Any) -> str:
    if isinstance(value, dict):
        if _kwargs_ok(value):
            return "dict(" + ", ".join(f"{k}={_py_flat(v)}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{k!r}: {_py_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py_flat(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_py_flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _cmd_compile(args: argparse.Namespace, style: Style) -> int:
    from ..errors import PolicyError
    from ..language.compiler import compile_policy, runtime_types

    _import_modules(args)
    source = _read(args.policy)
    try:
        compiled = compile_policy(source, filename=_name(args.policy))
    except PolicyError as error:
        _write(sys.stderr, _policy_errors(error, source, Style.for_stream(sys.stderr,
                                                                          args.color)))
        return 1
    init_cfg = compiled.init_cfg
    if args.json:
        sources = [
            {"module": owner, "index": index, "override": override,
             "source": None if span is None else str(span)}
            for (owner, index, override), span in compiled.sources.items()
        ]
        _write(sys.stdout, _dump_json({"command": "compile", "policy": args.policy,
                                       "scoped": compiled.scoped, "init_cfg": init_cfg,
                                       "sources": sources}))
        return 0
    text = f"init_cfg = {_py(init_cfg, 0, len('init_cfg = '))}"
    runtime = runtime_types(init_cfg)
    if runtime:
        named = [kind for kind in runtime if kind != "expr"]
        if "expr" in runtime:
            named.append("computed values (dict(expr=...))")
        text = (f"# Needs initdsl's runtime: mmengine alone does not know {', '.join(named)}\n"
                "# (initdsl.initialize runs it).\n" + text)
    if compiled.scoped:
        text = ("# A policy with scopes: {module path: init_cfg}, '' is the root. Each entry is\n"
                "# that module's init_cfg; initdsl.core.runner.run_scoped(model, init_cfg) runs it.\n"
                + text)
    _write(sys.stdout, text)
    return 0


# -- decompile -----------------------------------------------------------------------------


def _is_config(text: str) -> bool:
    """Whether ``text`` is a whole mmengine config (``model = ...`` or ``_base_``) rather
    than one ``init_cfg``."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return False
    names = {target.id for statement in body if isinstance(statement, ast.Assign)
             for target in statement.targets if isinstance(target, ast.Name)}
    return "init_cfg" not in names and bool(names & {"model", "_base_"})


def _cmd_decompile(args: argparse.Namespace, style: Style) -> int:
    from ..errors import InitError
    from ..language.decompiler import decompile

    _import_modules(args)
    text = _read(args.file)
    name = _name(args.file)
    if args.key or args.model or (args.file != "-" and _is_config(text)):
        from .configs import config_policy

        model = _build_model(args.model, "meta") if args.model else None
        try:
            _write(sys.stdout, config_policy(args.file, key=args.key or "model", model=model))
        except InitError as error:
            _write(sys.stderr, f"{name}: error: {error}")
            return 1
        return 0
    try:
        init_cfg = read_init_cfg(text, name)
        policy = decompile(init_cfg)
    except InputError as error:
        _write(sys.stderr, str(error))
        return 1
    except InitError as error:
        _write(sys.stderr, f"{name}: error: not a valid init_cfg: {error}")
        return 1
    _write(sys.stdout, policy)
    return 0


# -- fmt -----------------------------------------------------------------------------------


def _cmd_fmt(args: argparse.Namespace, style: Style) -> int:
    from ..errors import PolicyError
    from ..language.formatter import format as format_policy

    err_style = Style.for_stream(sys.stderr, args.color)
    changed: list[str] = []
    failed = unreadable = 0
    for path in args.files:
        name = _name(path)
        try:
            source = _read(path)
        except UnreadableFile as error:
            # One bad file does not hide what the others say.
            _write(sys.stderr, error.report(args.command))
            unreadable += 1
            continue
        try:
            formatted = format_policy(source, filename=name)
        except PolicyError as error:
            _write(sys.stderr, _policy_errors(error, source, err_style))
            failed += 1
            continue
        if args.diff and formatted != source:
            diff = difflib.unified_diff(source.splitlines(keepends=True),
                                        formatted.splitlines(keepends=True),
                                        f"{name}\t(original)", f"{name}\t(formatted)")
            _write(sys.stdout, "".join(_colour_diff(diff, style)))
        if path == "-" and not (args.check or args.diff):
            sys.stdout.write(formatted)  # standard input in, its formatted text out
        if formatted == source:
            continue
        changed.append(name)
        if args.check:
            _write(sys.stdout, f"would reformat {name}")
        elif path != "-" and not args.diff:
            _write_atomically(path, formatted.encode("utf-8"))
            _write(sys.stderr, f"reformatted {path}")
    files = [p for p in args.files if p != "-"]
    if files:
        unchanged = (len(files) - len([c for c in changed if c != STDIN]) - failed
                     - unreadable)
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        summary = f"{_plural(len([c for c in changed if c != STDIN]), 'file')} {verb}, " \
                  f"{unchanged} left unchanged"
        if failed:
            summary += f", {_plural(failed, 'file')} with syntax errors"
        if unreadable:
            summary += f", {_plural(unreadable, 'file')} could not be read"
        _write(sys.stderr, summary)
    if unreadable:
        return 2
    if failed or (args.check and changed):
        return 1
    return 0


def _write_atomically(path: str, data: bytes) -> None:
    """Replace the file at ``path`` with ``data``: whole, or not at all.

    Written to a temporary file beside it, then renamed over it, so an
    error or a signal while writing never leaves a truncated file. The
    file's permissions are kept.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _colour_diff(lines: Iterable[str], style: Style) -> Iterable[str]:
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        if line.startswith(("+++", "---")):
            yield style.bold(line.rstrip("\n")) + "\n"
        elif line.startswith("+"):
            yield style.severity(line.rstrip("\n"), "info") + "\n"
        elif line.startswith("-"):
            yield style.severity(line.rstrip("\n"), "error") + "\n"
        else:
            yield line


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- models ------------------------------------------------------------------------------


def _build_model(spec: str, device: str | None) -> Any:
    from .modelspec import build

    return build(spec, device=device)


def _load_factory(spec: str) -> None:
    """Import the module a model spec names (it may register initializers), building nothing."""
    from .modelspec import load_factory

    load_factory(spec)


def _import_modules(args: argparse.Namespace, project: Project | None = None) -> None:
    """``imports`` of the project, then ``--import MODULE``: import each (a dotted name, or a
    ``.py`` file) before anything is checked, so that the initializers it registers are
    known."""
    from .modelspec import import_target

    for target in (*(project.imports if project else ()), *(getattr(args, "imports", None)
                                                            or ())):
        import_target(target)


def _project(path: str) -> Project:
    """The ``[tool.initdsl]`` configuration for a file (for stdin: the current directory);
    its directory goes on ``sys.path`` so that its model specs and imports resolve there."""
    from .project import ProjectError, find_project

    try:
        project = find_project(os.getcwd() if path == "-" else path)
    except ProjectError as error:
        raise UsageError(str(error)) from None
    if project.root is not None and str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    return project


def _model_spec(args: argparse.Namespace, path: str, project: Project) -> str:
    """``--model``, else the project's model for ``path``; a usage error if neither says."""
    spec = args.model or project.model_for(path)
    if spec is None:
        raise UsageError("no model: pass --model SPEC, or set `model` (or a `models` glob "
                         "for this file) in [tool.initdsl] of pyproject.toml (docs/cli.md)")
    return spec


# -- lint ----------------------------------------------------------------------------------


def _cmd_lint(args: argparse.Namespace, style: Style) -> int:
    from .findings import exit_code
    from .lint import lint

    if args.fix and "-" in args.files:
        raise UsageError("--fix rewrites files; it cannot take standard input")
    results = []
    unreadable: list[str] = []
    fixed: list[str] = []
    models: dict[str, Any] = {}
    projects: dict[str, Project] = {}
    imported = False
    for path in args.files:
        folder = os.path.dirname(os.path.abspath(path)) if path != "-" else os.getcwd()
        if folder not in projects:
            projects[folder] = _with_flags(_project(path), args)
        project = projects[folder]
        if not imported:
            _import_modules(args, project)
            imported = True
        spec = args.model or project.model_for(path)
        if spec is not None and spec not in models:
            models[spec] = _build_model(spec, args.device)
        try:
            source = _read(path)
        except UnreadableFile as error:
            # Reported, and the other files are still linted; exit 2 at the end.
            unreadable.append(error.report(args.command))
            continue
        model = models.get(spec) if spec else None
        result = lint(source, _name(path), model, project=project)
        if args.fix:
            result = _fix(path, result, model, project, fixed)
        results.append(result)
    strict = args.strict if args.strict is not None else any(p.strict for p in projects.values())
    diagnostics = [d for result in results for d in result.diagnostics]
    counts = Counter(d.severity for d in diagnostics)
    files = len(results) + len(unreadable)
    summary = {"files": files, "errors": counts["error"], "warnings": counts["warning"],
               "info": counts["info"], "unreadable": len(unreadable)}
    output = "json" if args.json else args.output_format
    if output == "json":
        _write(sys.stdout, _dump_json({
            "command": "lint",
            "model": args.model,
            "diagnostics": [_diagnostic_json(d) for d in diagnostics],
            "unreadable": unreadable,
            "summary": summary,
        }))
    elif output == "github":
        from .report_formats import github_annotations

        _write(sys.stdout, github_annotations(diagnostics))
    elif output == "sarif":
        from .report_formats import sarif

        _write(sys.stdout, json.dumps(sarif(diagnostics), indent=2))
    else:
        blocks = [_render_diagnostics(r.diagnostics, r.source, style) for r in results
                  if r.diagnostics]
        if blocks:
            _write(sys.stdout, "\n\n".join(blocks) + "\n\n")
        parts = [_plural(counts[s], n) for s, n in
                 (("error", "error"), ("warning", "warning"), ("info", "note")) if counts[s]]
        text = (f"Found {', '.join(parts)} in {_plural(files, 'file')}" if parts
                else f"No findings in {_plural(files, 'file')}")
        if unreadable:
            text += f"; {_plural(len(unreadable), 'file')} could not be read"
        if args.fix:
            text += f" ({_plural(len(fixed), 'file')} fixed)" if fixed else " (nothing to fix)"
        _write(sys.stdout, text + ".")
    if output != "json":
        for message in unreadable:
            _write(sys.stderr, message)
    if unreadable:
        return 2
    return exit_code(diagnostics, strict)


def _fix(path: str, result: Any, model: Any, project: Project, fixed: list[str]) -> Any:
    """``lint --fix`` on one file: make the unambiguous fixes, format, write it back if it
    changed (each change reported on standard error), and lint what it became."""
    from ..errors import PolicyError
    from ..language.formatter import format as format_policy
    from .lint import apply_fixes, fixes, lint

    name, original = _name(path), result.source
    text = original
    for _ in range(5):  # a fix can reveal the next (an initializer's name, then its args)
        found = fixes(text, result.diagnostics)
        if not found:
            break
        for fix in found:
            _write(sys.stderr, f"{fix.diagnostic.location}: fixed {fix.diagnostic.code}: "
                               f"`{fix.old}` -> `{fix.new}`")
        text = apply_fixes(text, found)
        result = lint(text, name, model, project=project)
    try:
        formatted = format_policy(text, filename=name)
    except PolicyError:
        formatted = text  # still not valid: the fixes stand, the findings say why
    if formatted != text:
        _write(sys.stderr, f"{name}: formatted")
        text = formatted
        result = lint(text, name, model, project=project)
    if text != original:
        _write_atomically(path, text.encode("utf-8"))
        fixed.append(name)
    return result


def _with_flags(project: Project, args: argparse.Namespace) -> Project:
    """The project's settings with the command line's ``--select``/``--ignore`` over them."""
    changes = {}
    if args.select is not None:
        changes["select"] = tuple(c.strip() for c in args.select.split(",") if c.strip())
    if args.ignore is not None:
        changes["ignore"] = tuple(c.strip() for c in args.ignore.split(",") if c.strip())
    return attrs.evolve(project, **changes) if changes else project


# -- explain -------------------------------------------------------------------------------


def _table_rows(explanation: Explanation, group: bool
                ) -> list[tuple[str, str, str, str, bool]]:
    from .findings import collapse_names

    rows: dict[tuple, list[str]] = {}
    for parameter in explanation.parameters:
        writer, rule = parameter.written_by()
        key = (parameter.pattern if group else parameter.name, parameter.shape_text, writer, rule,
               parameter.final is None)
        rows.setdefault(key, []).append(parameter.name)
    table = []
    for (_, shape, writer, rule, unwritten), names in rows.items():
        name = collapse_names(names)[0] if len(names) > 1 else names[0]
        table.append((name, shape, writer, rule, unwritten))
    return table


def render_explanation(explanation: Explanation, style: Style, *, group: bool = True) -> str:
    """The explain table: parameter, shape, initializer and arguments, rule; then a summary.

    With ``group``, parameters whose names differ only in numeric segments
    and that are written alike share a row (``blocks.{0..11}.norm1.weight``).
    """
    rows = _table_rows(explanation, group)
    header = ("parameter", "shape", "initializer", "rule")
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(3)]
    lines = []
    lines.append(style.bold("  ".join(h.ljust(w) for h, w in zip(header, widths))
                            + "  " + header[3]))
    for name, shape, writer, rule, unwritten in rows:
        line = "  ".join([name.ljust(widths[0]), shape.ljust(widths[1]), writer.ljust(widths[2]),
                          rule])
        lines.append(style.dim(line) if unwritten else line)
    lines.append("")
    lines.append(explanation.summary_line())
    for load in explanation.loads:
        where = f" ({load.origin.source})" if load.origin and load.origin.source else ""
        into = f" into {load.module}" if load.module else ""
        if not load.known:
            lines.append(f"load {load.checkpoint}{into}{where}: not inspected: {load.problem}")
            continue
        lines.append(
            f"load {load.checkpoint}{into}{where}: {_plural(len(load.loaded), 'key')} loaded, "
            f"{len(load.missing)} missing, {len(load.unexpected)} unexpected, "
            f"{len(load.mismatched)} shape mismatch{'' if len(load.mismatched) == 1 else 'es'}")
    if explanation.user_root:
        lines.append(f"note: {explanation.model} has its own init_weights "
                     f"({explanation.user_root}); the table assumes it calls "
                     "super().init_weights()")
    return "\n".join(lines)


def _cmd_explain(args: argparse.Namespace, style: Style) -> int:
    from ..errors import PolicyError
    from ..language.binding import check_model
    from ..language.compiler import checked, compile_checked
    from .explain import explain
    from .lint import missing_checkpoints
    from .lint_model import explanation_diagnostics

    _check_html_options(args)  # before anything is imported or built
    project = _project(args.policy)
    args.model = _model_spec(args, args.policy, project)
    _import_modules(args, project)
    _load_factory(args.model)  # first: the model's file may register initializers
    source = _read(args.policy)
    err_style = Style.for_stream(sys.stderr, args.color)
    try:
        policy = checked(source, filename=_name(args.policy))
    except PolicyError as error:
        _write(sys.stderr, _policy_errors(error, source, err_style))
        return 1
    if args.apply and args.device == "meta":
        args.device = None  # values need memory: where the factory builds by default
    model = _build_model(args.model, args.device)
    explanation = explain(model, compile_checked(policy))
    diagnostics = sorted(check_model(policy, model)
                         + missing_checkpoints(policy, _name(args.policy))
                         + explanation_diagnostics(explanation, _name(args.policy)),
                         key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
    if args.html:
        values = None
        if args.apply and any(d.severity == "error" for d in diagnostics):
            # The run would fail on them: say why once, and write no page.
            _write(sys.stderr, _render_diagnostics(diagnostics, source, err_style))
            return 1
        if args.apply:
            values = _applied_values(args, model, source)
            if values is None:
                return 1
        _write_html(args.html, explanation, source, _name(args.policy), model, values)
        _write(sys.stdout, f"wrote {args.html}: {explanation.summary_line()}")
        if diagnostics:
            _write(sys.stderr, _render_diagnostics(diagnostics, source, err_style))
    elif args.json:
        _write(sys.stdout, _dump_json({"command": "explain", "policy": args.policy,
                                       "model_spec": args.model, **explanation.to_dict(),
                                       "diagnostics": [_diagnostic_json(d)
                                                       for d in diagnostics]}))
    else:
        _write(sys.stdout, render_explanation(explanation, style, group=not args.expand))
        if diagnostics:
            _write(sys.stderr, _render_diagnostics(diagnostics, source, err_style))
    return 1 if any(d.severity == "error" for d in diagnostics) else 0


def _check_html_options(args: argparse.Namespace) -> None:
    if args.apply and not args.html:
        raise UsageError("--apply draws the values for the page of --html; pass --html FILE")
    if args.seed is not None and not args.apply:
        raise UsageError("--seed seeds the run of --apply; pass --html FILE --apply")
    if args.seed is not None:
        from ..core.seed import check_seed
        from ..errors import InitError

        try:
            check_seed(args.seed)
        except InitError as error:
            raise UsageError(f"--seed: {error}") from None
    if args.html and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--html {args.html}: the page is written to a .html file")
    if args.html and not Path(args.html).parent.is_dir():
        raise UsageError(f"--html {args.html}: directory {Path(args.html).parent} does not exist")


def _applied_values(args: argparse.Namespace, model: Any, source: str) -> dict[str, Any] | None:
    """Run the policy on ``model`` (exact mode) and return its parameters; ``None`` on an
    error, which is reported."""
    import torch

    from ..core.walk import named_parameters
    from ..driver import apply
    from ..errors import InitError

    if args.seed is not None:
        torch.manual_seed(args.seed)
    progress = _Progress(sys.stderr, sys.stderr.isatty())
    try:
        from ..core.provenance import LEDGER

        with progress.phase("initializing", lambda: (LEDGER.clock, LEDGER.written_bytes)), \
                _log_warnings(sys.stderr):
            apply(model, source, filename=_name(args.policy))
    except InitError as error:
        _write(sys.stderr, f"{error.where or _name(args.policy)}: error: {error.message}")
        return None
    return {name: tensor.detach() for name, tensor in named_parameters(model)}


def _write_html(path: str, explanation: Explanation, source: str, policy_name: str,
                model: Any, values: dict[str, Any] | None) -> None:
    """The page, written whole or not at all."""
    from .html_report import render_html

    classes = {name: type(module).__name__ for name, module in model.named_modules()}
    page = render_html(explanation, policy=source, policy_name=policy_name,
                       classes=classes, values=values)
    try:
        _write_atomically(path, page.encode("utf-8"))
    except OSError as error:
        raise UsageError(f"--html {path}: cannot write it: {error.strerror or error}") from None


# -- apply ---------------------------------------------------------------------------------


class _Progress:
    """Elapsed time and tensor writes on stderr while a phase runs, only on a terminal."""

    def __init__(self, stream: TextIO, enabled: bool, delay: float = 0.5) -> None:
        self.stream = stream
        self.enabled = enabled
        self.delay = delay

    def phase(self, label: str, count: Callable[[], tuple[int, int]] | None = None) -> _Phase:
        """A phase shown as ``label... 1.2s, N tensors, X MB written``; ``count`` gives the
        (writes, bytes) so far."""
        return _Phase(self, label, count)


class _Phase:
    def __init__(self, progress: _Progress, label: str,
                 count: Callable[[], tuple[int, int]] | None) -> None:
        self.progress = progress
        self.label = label
        self.count = count
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.shown = False

    def __enter__(self) -> _Phase:
        if self.progress.enabled:
            self.start = time.monotonic()
            self.base = self.count() if self.count else (0, 0)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        if self.stop.wait(self.progress.delay):
            return
        while True:
            elapsed = time.monotonic() - self.start
            text = f"{self.label}... {elapsed:.1f}s"
            if self.count:
                writes, written = self.count()
                text += (f", {writes - self.base[0]:,} tensors, "
                         f"{(written - self.base[1]) / 2**20:,.1f} MiB written")
            self.progress.stream.write("\r\x1b[K" + text)
            self.progress.stream.flush()
            self.shown = True
            if self.stop.wait(0.25):
                return

    def __exit__(self, *exc: Any) -> None:
        if self.thread is not None:
            self.stop.set()
            self.thread.join()
            if self.shown:
                self.progress.stream.write("\r\x1b[K")
                self.progress.stream.flush()


@contextlib.contextmanager
def _log_warnings(stream: TextIO) -> Iterator[None]:
    """Show the core's warnings (checkpoint mismatches) as ``initdsl: warning: ...`` lines."""
    logger = logging.getLogger("initdsl")
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("initdsl: warning: %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


_SAVERS = {".safetensors": "safetensors", ".pt": "torch", ".pth": "torch", ".bin": "torch"}


def _state(model: Any) -> dict[str, Any]:
    """The state dict to save: torch's, or for a model nested deeper than torch's recursive
    ``state_dict`` can walk, the same tensors found by initdsl's own walk."""
    try:
        return model.state_dict()
    except RecursionError:
        from ..core.walk import state_tensors

        return {key: tensor.detach() for key, tensor in state_tensors(model).items()}


def _save(model: Any, path: str) -> int:
    """Save ``model``'s state dict to ``path``, whole or not at all (a temporary file first)."""
    import torch

    state = _state(model)
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    try:
        if _SAVERS[target.suffix] == "torch":
            torch.save(state, temporary)
        else:
            from safetensors.torch import save_file

            # safetensors refuses tensors that share memory (tied weights): store copies.
            seen: set[tuple[int, int]] = set()
            tensors = {}
            for key, tensor in state.items():
                tensor = tensor.detach()
                ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
                if ident in seen or not tensor.is_contiguous():
                    tensor = tensor.contiguous().clone()
                seen.add(ident)
                tensors[key] = tensor
            save_file(tensors, str(temporary))
        # An interrupted or failed save never leaves a truncated file, nor clobbers a good one.
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    return len(state)


def _fast_seed(seed: int | None, source: str, filename: str) -> int:
    """The fast-mode seed of a run: ``--seed``, else the policy's ``seed N``, else drawn from
    torch's generator; chosen here so that the command can say which it was."""
    from ..core.seed import policy_seed
    from ..fast.rng import resolve_seed
    from ..language.compiler import compile_policy

    if seed is None:
        seed = policy_seed(compile_policy(source, filename=filename).scopes)
    return resolve_seed(seed)


def _materialize(model: Any, source: str, seed: int, filename: str) -> Any:
    """``initdsl.materialize``, its warnings (tensors no rule writes, filled with zeros)
    shown as ``initdsl: warning:`` lines; returns the provenance."""
    import warnings

    from ..core.provenance import provenance
    from ..fast.materialize import materialize

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        materialize(model, source, seed=seed, filename=filename)
    for warning in caught:
        _write(sys.stderr, f"initdsl: warning: {warning.message}")
    return provenance(model)


def _cmd_apply(args: argparse.Namespace, style: Style) -> int:
    import torch

    from ..core.provenance import LEDGER
    from ..core.seed import check_seed
    from ..core.walk import parameters
    from ..driver import apply
    from ..errors import InitError, PolicyError
    from ..language.compiler import checked

    suffix = Path(args.out).suffix
    if suffix not in _SAVERS:
        raise UsageError(f"--out {args.out}: the extension says how to save; use "
                         f"{', '.join(_SAVERS)}")
    if _SAVERS[suffix] == "safetensors" and importlib.util.find_spec("safetensors") is None:
        raise UsageError(f"--out {args.out}: saving .safetensors needs the safetensors "
                         "package (pip install safetensors); or save as .pt")
    parent = Path(args.out).parent
    if not parent.is_dir():
        raise UsageError(f"--out {args.out}: directory {parent} does not exist")
    if args.seed is not None:
        try:
            check_seed(args.seed)
        except InitError as error:
            raise UsageError(f"--seed: {error}") from None
    project = _project(args.policy)
    args.model = _model_spec(args, args.policy, project)
    _import_modules(args, project)
    _load_factory(args.model)  # first: the model's file may register initializers
    source = _read(args.policy)
    err_style = Style.for_stream(sys.stderr, args.color)
    try:
        checked(source, filename=_name(args.policy))  # fail before building a large model
    except PolicyError as error:
        _write(sys.stderr, _policy_errors(error, source, err_style))
        return 1
    progress = _Progress(sys.stderr, sys.stderr.isatty() and not args.quiet)
    if args.seed is not None and not args.fast:
        torch.manual_seed(args.seed)
    with progress.phase("building the model"):
        model = _build_model(args.model, "meta" if args.fast else None)
    try:
        with progress.phase("initializing", lambda: (LEDGER.clock, LEDGER.written_bytes)), \
                _log_warnings(sys.stderr):
            if args.fast:
                args.seed = _fast_seed(args.seed, source, _name(args.policy))
                record = _materialize(model, source, args.seed, _name(args.policy))
            else:
                record = apply(model, source, filename=_name(args.policy))
    except PolicyError as error:
        _write(sys.stderr, _policy_errors(error, source, err_style))
        return 1
    except InitError as error:
        # A core error names its rule by position when it has one.
        _write(sys.stderr, f"{error.where or _name(args.policy)}: error: {error.message}")
        return 1
    with progress.phase("saving"):
        count = _save(model, args.out)
    writers: Counter[str] = Counter(r.writer or "not written" for r in record.values())
    loaded = writers.pop("Pretrained", 0)
    values = sum(p.numel() for p in parameters(model))
    parts = [f"{name} {n}" for name, n in sorted(writers.items(), key=lambda kv: (-kv[1], kv[0]))]
    seed = f" (seed {args.seed})" if args.seed is not None else ""
    _write(sys.stdout,
           f"{type(model).__name__}: {len(record)} parameters ({values:,} values) initialized "
           f"with {args.policy}{seed}: {', '.join(parts) or 'none written'}; "
           f"{loaded or 'none'} loaded from a checkpoint\n"
           f"wrote {_plural(count, 'tensor')} (parameters and buffers) to {args.out}")
    return 0


# -- the parser ----------------------------------------------------------------------------


def _common_options(default: Any) -> argparse.ArgumentParser:
    """``--color`` and ``--traceback``; ``default=None`` gives them their defaults."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--color", choices=("auto", "always", "never"),
                         default="auto" if default is None else default,
                         help="colour output: on a terminal (auto, the default), always, or "
                         "never; NO_COLOR in the environment turns it off")
    options.add_argument("--traceback", action="store_true",
                         default=False if default is None else default,
                         help="on an internal error, or a model that fails to build, print "
                         "the Python traceback")
    return options


def build_parser() -> argparse.ArgumentParser:
    """The ``initdsl`` argument parser (one subcommand per command)."""
    # The options every command takes, before the command or after it. The
    # commands' copies have no defaults, so that one given before the command
    # is not reset by the command's parser.
    common = _common_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="initdsl", parents=[_common_options(None)],
        description="Readable, checkable weight-initialization policies for PyTorch.",
        epilog="Exit codes: 0 clean, 1 findings, 2 usage error or crash. See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"initdsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    spec_help = ("the model: MODULE:FACTORY or FILE.py:FACTORY, optionally with literal "
                 "arguments, e.g. 'initdsl.zoo:gpt(depth=48, dim=8192, heads=64)'; its module "
                 "is imported before the policy is checked")
    import_help = ("import MODULE (a dotted name or a .py file) first, for the initializers "
                   "it registers; repeatable")
    device_help = ("where to build the model: meta (the default: shapes only, nothing "
                   "allocated) or cpu, for constructors that read values")

    def importing(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                         default=[], help=import_help)

    sub = commands.add_parser("compile", parents=[common], help="policy -> init_cfg",
                              description="Print the init_cfg a policy compiles to, as Python "
                              "(`init_cfg = [dict(...), ...]`, ready for an mmengine config) "
                              "or as JSON.")
    sub.add_argument("policy", metavar="POLICY", help="policy file ('-' for stdin)")
    sub.add_argument("--json", action="store_true", help="print JSON (docs/cli.md)")
    importing(sub)
    sub.set_defaults(run=_cmd_compile)

    sub = commands.add_parser("decompile", parents=[common], help="init_cfg -> policy",
                              description="Print the policy of an init_cfg read from FILE: "
                              "JSON, a Python literal, or `init_cfg = ...` with dict(...) calls "
                              "(read with ast, never executed).")
    sub.add_argument("file", metavar="FILE", help="init_cfg file, or a whole mmengine config "
                     "(model = dict(...), _base_): one scope per component ('-' for stdin)")
    sub.add_argument("--key", metavar="KEY", help="with a config: the part to decompile "
                     "(model.backbone; default model)")
    sub.add_argument("--model", metavar="SPEC", help="with a config: check the scopes against "
                     "this model and add the init_cfg defaults of its modules' code")
    importing(sub)
    sub.set_defaults(run=_cmd_decompile)

    sub = commands.add_parser("fmt", parents=[common], help="format policy files in place",
                              description="Format policy files in place ('-': stdin to stdout).")
    sub.add_argument("files", metavar="FILE", nargs="+")
    sub.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 if a file would change")
    sub.add_argument("--diff", action="store_true",
                     help="write nothing; print a unified diff of the changes")
    sub.set_defaults(run=_cmd_fmt)

    sub = commands.add_parser("lint", parents=[common], help="check policies (with a model)",
                              description="Report every diagnostic of the language and the lint "
                              "rules (docs/cli.md lists the codes).")
    sub.add_argument("files", metavar="FILE", nargs="+")
    sub.add_argument("--model", metavar="SPEC", help=spec_help)
    sub.add_argument("--device", default="meta", metavar="DEVICE", help=device_help)
    sub.add_argument("--json", action="store_true",
                     help="print JSON (docs/cli.md); the same as --output-format json")
    sub.add_argument("--output-format", choices=("text", "json", "github", "sarif"),
                     default="text", help="text (default); json; github: workflow "
                     "annotations; sarif: SARIF 2.1.0 (code scanning)")
    sub.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                     help="exit 1 on warnings too (default: `strict` of [tool.initdsl])")
    sub.add_argument("--fix", action="store_true", help="make the unambiguous \"did you "
                     "mean\" fixes and format the file, in place; report what changed")
    sub.add_argument("--select", metavar="CODES", help="comma-separated code prefixes to "
                     "report (replaces `select` of [tool.initdsl])")
    sub.add_argument("--ignore", metavar="CODES", help="comma-separated code prefixes not "
                     "to report (replaces `ignore` of [tool.initdsl])")
    importing(sub)
    sub.set_defaults(run=_cmd_lint)

    sub = commands.add_parser("explain", parents=[common],
                              help="who writes each parameter, without running",
                              description="For every parameter: its shape, the initializer "
                              "and arguments that write it last, and the rule's position. The "
                              "model is built on the meta device; nothing is allocated or "
                              "written.")
    sub.add_argument("policy", metavar="POLICY")
    sub.add_argument("--model", metavar="SPEC",
                     help=spec_help + " (default: the model of [tool.initdsl])")
    sub.add_argument("--device", default="meta", metavar="DEVICE", help=device_help)
    sub.add_argument("--json", action="store_true", help="print JSON (docs/cli.md)")
    sub.add_argument("--expand", action="store_true",
                     help="one row per parameter (by default, parameters that differ only in "
                     "an index and are written alike share a row: blocks.{0..11}.norm1.weight)")
    sub.add_argument("--html", metavar="FILE",
                     help="write one self-contained page instead: the module tree with each "
                     "parameter's rule, and per rule the std (or bound) by layer index")
    sub.add_argument("--apply", action="store_true",
                     help="with --html: also initialize the model (on the CPU, exact mode) "
                     "and show each group's value histogram against what the rule asked for")
    sub.add_argument("--seed", type=int, metavar="N",
                     help="with --apply: torch.manual_seed(N) before initializing")
    importing(sub)
    sub.set_defaults(run=_cmd_explain)

    sub = commands.add_parser("apply", parents=[common],
                              help="initialize a model and save its state dict",
                              description="Build the model, initialize it with the policy and "
                              "save its state dict (.safetensors, or .pt/.pth/.bin with "
                              "torch.save).")
    sub.add_argument("policy", metavar="POLICY")
    sub.add_argument("--model", metavar="SPEC", required=True, help=spec_help)
    sub.add_argument("--out", metavar="FILE", required=True)
    sub.add_argument("-q", "--quiet", action="store_true",
                     help="no progress line on a terminal")
    sub.add_argument("--seed", type=int, metavar="N",
                     help="torch.manual_seed(N) before the model is built; with --fast, the "
                     "fast-mode seed")
    sub.add_argument("--fast", action="store_true",
                     help="build the model on the meta device and materialize it in fast mode "
                     "(initdsl.materialize: each tensor written once, from keyed generators)")
    importing(sub)
    sub.set_defaults(run=_cmd_apply)

    sub = commands.add_parser("capture", parents=[common],
                              help="write a model's own init code as a policy",
                              description="Build the model with its own initialization, "
                              "observe what writes each tensor, print a policy that says it, "
                              "and verify the policy on a fresh instance (docs/capture.md). "
                              "Exit 1 if a tensor is unexplained or not reproduced.")
    sub.add_argument("--model", metavar="SPEC", required=True, help=spec_help)
    sub.add_argument("-o", "--out", metavar="FILE", help="write the policy to FILE")
    sub.add_argument("-q", "--quiet", action="store_true",
                     help="no progress line on a terminal")
    sub.add_argument("--json", action="store_true",
                     help="print the per-tensor evidence as JSON (docs/capture.md)")
    importing(sub)
    sub.set_defaults(run=_cmd_capture)

    sub = commands.add_parser("lsp", parents=[common],
                              help="language server for editors (stdio)",
                              description="Serve the Language Server Protocol over standard "
                              "input and output: diagnostics, formatting, hover and completion "
                              "for .init files (docs/editors.md). Needs pygls "
                              "(pip install 'initdsl[lsp]').")
    sub.set_defaults(run=_cmd_lsp)
    return parser


def _cmd_lsp(args: argparse.Namespace, style: Style) -> int:
    if importlib.util.find_spec("pygls") is None:
        raise UsageError("the language server needs pygls: pip install 'initdsl[lsp]'")
    from .lsp import main as serve

    serve()
    return 0


def _cmd_capture(args: argparse.Namespace, style: Style) -> int:
    import json

    from .capture import capture
    from .modelspec import ModelSpecError, load_factory, parse_spec

    _import_modules(args)
    spec = parse_spec(args.model)
    factory = load_factory(spec)
    from ..core.provenance import LEDGER

    progress = _Progress(sys.stderr, sys.stderr.isatty() and not args.quiet)
    try:
        with progress.phase("capturing", lambda: (LEDGER.clock, LEDGER.written_bytes)):
            result = capture(lambda: factory(*spec.args, **spec.kwargs), name=str(spec))
    except (ModelSpecError, UsageError):
        raise
    except Exception as error:
        raise ModelSpecError(f"{spec}: building the model raised {type(error).__name__}: "
                             f"{error}") from error
    if args.out:
        _write_atomically(args.out, result.text.encode())
    if args.json:
        _write(sys.stdout, json.dumps({"version": 1, "command": "capture",
                                       **result.to_dict()}, indent=2))
    elif not args.out:
        _write(sys.stdout, result.text)
    for finding in result.unexplained:
        _write(sys.stderr, f"unexplained: {finding.name}: {finding.reason}")
    for name, observed, planned in result.mismatched:
        _write(sys.stderr, f"not reproduced: {name}: observed {observed}, the policy plans "
                           f"{planned}")
    _write(sys.stderr, result.summary())
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 clean, 1 findings, 2 usage or crash)."""
    from .modelspec import ModelSpecError

    parser = build_parser()
    args = parser.parse_args(argv)
    style = Style.for_stream(sys.stdout, args.color)
    show_traceback = args.traceback or bool(os.environ.get("INITDSL_TRACEBACK"))
    try:
        return args.run(args, style)
    except UnreadableFile as error:
        _write(sys.stderr, error.report(args.command))
        return 2
    except (UsageError, ModelSpecError) as error:
        hint = " (--traceback shows where)" if error.__cause__ is not None else ""
        _write(sys.stderr, f"initdsl {args.command}: error: {error}"
                           f"{'' if show_traceback else hint}")
        if show_traceback and error.__cause__ is not None:
            _write(sys.stderr, "".join(traceback.format_exception(error.__cause__)))
        return 2
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one line instead of a traceback
        _write(sys.stderr, f"initdsl {args.command}: internal error: "
                           f"{type(error).__name__}: {error}"
                           f"{'' if show_traceback else ' (--traceback shows where)'}")
        if show_traceback:
            _write(sys.stderr, "".join(traceback.format_exception(error)))
        return 2


if __name__ == "__main__":
    sys.exit(main())
