"""``initdsl lsp``: a language server for ``.init`` policies (stdio, pygls).

What the editor shows is what the command line says, from the same code:

* **diagnostics** as the file changes: :func:`initdsl.tools.lint.lint` with
  the file's project configuration (``[tool.initdsl]``: ``select``,
  ``ignore``, ``# noqa``, and the model when the project names one for the
  file — built once on the meta device and kept); the same codes,
  positions and messages as ``initdsl lint``;
* **formatting**: ``initdsl fmt`` (nothing when the file does not parse);
* **hover** on an initializer: its formula (the docstring) and the
  arguments it takes, with their choices; anywhere else on a rule, when the
  project names a model: what the rule writes in it, with the resolved
  arguments and what it draws for each tensor (``initdsl explain`` for that
  rule), and which of those tensors a later rule overwrites;
* **completion** of initializer names after ``->``, modifiers after ``then``, of an
  initializer's argument names inside its parentheses, and of the choices
  of an argument after ``=``; of the model's module classes where a rule
  starts, of its parameter paths after ``param`` and ``Class.``, of its
  module paths after ``scope`` and of child names after ``name``, one
  segment at a time.

A policy that names only built-in initializers is linted without importing
torch, so diagnostics come in milliseconds (benchmarks/bench_lsp.py).
Requires ``pygls`` (``pip install initdsl[lsp]``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..diagnostics import Diagnostic
from ..version import __version__

__all__ = ["server", "main", "to_lsp"]

_SEVERITY = {"error": types.DiagnosticSeverity.Error,
             "warning": types.DiagnosticSeverity.Warning,
             "info": types.DiagnosticSeverity.Information}

server = LanguageServer("initdsl", __version__)
_models: dict[str, Any] = {}  # model spec -> the model built on meta (or the error text)
#: uri -> (the model or None, the last lint result): what hover and completion read.
_documents: dict[str, tuple[Any, Any]] = {}


def _path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def to_lsp(diagnostic: Diagnostic) -> types.Diagnostic:
    """An initdsl diagnostic as LSP's: 0-based lines and columns, the code, the severity."""
    span = diagnostic.span
    if span is None:
        start = end = types.Position(line=0, character=0)
    else:
        start = types.Position(line=span.line - 1, character=span.column - 1)
        end = types.Position(line=span.end_line - 1, character=span.end_column - 1)
    return types.Diagnostic(range=types.Range(start=start, end=end), message=diagnostic.message,
                            severity=_SEVERITY.get(diagnostic.severity), code=diagnostic.code,
                            source="initdsl")


def _model_for(path: str, project: Any) -> Any:
    spec = project.model_for(path)
    if spec is None:
        return None
    if spec not in _models:
        from .modelspec import build

        try:
            _models[spec] = build(spec, device="meta")
        except Exception as error:  # noqa: BLE001 - the editor shows it, the server goes on
            _models[spec] = f"model {spec!r} could not be built: {error}"
    model = _models[spec]
    if isinstance(model, str):
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                           message=model))
        return None
    return model


def diagnostics_for(uri: str, text: str) -> list[types.Diagnostic]:
    """What ``initdsl lint`` reports for the document, as LSP diagnostics."""
    from .lint import lint
    from .project import ProjectError, find_project

    path = _path(uri)
    try:
        project = find_project(path)
    except ProjectError as error:
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                           message=str(error)))
        from .project import Project

        project = Project()
    model = _model_for(path, project)
    result = lint(text, path, model, project=project)
    _documents[uri] = (model, result)
    return [to_lsp(d) for d in result.diagnostics]


def _publish(uri: str) -> None:
    document = server.workspace.get_text_document(uri)
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri=uri, version=document.version,
        diagnostics=diagnostics_for(uri, document.source)))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def _opened(params: types.DidOpenTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def _changed(params: types.DidChangeTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def _saved(params: types.DidSaveTextDocumentParams) -> None:
    _publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def _closed(params: types.DidCloseTextDocumentParams) -> None:
    _documents.pop(params.text_document.uri, None)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def _format(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    from ..errors import PolicyError
    from ..language.formatter import format as format_policy

    document = server.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_policy(document.source, filename=_path(document.uri))
    except PolicyError:
        return None  # the diagnostics say why
    if formatted == document.source:
        return []
    lines = document.source.split("\n")
    whole = types.Range(start=types.Position(line=0, character=0),
                        end=types.Position(line=len(lines), character=0))
    return [types.TextEdit(range=whole, new_text=formatted)]


# -- initializers: hover and completion --------------------------------------------------------


def _initializers() -> Any:
    from ..language.checker import Initializers

    return Initializers.of()


def _describe(word: str) -> str | None:
    initializers = _initializers()
    cls = initializers.cls_of(word)
    if cls is None:
        return None
    import inspect

    doc = inspect.cleandoc(cls.__doc__ or "")
    choices = getattr(cls, "choices", None) or {}
    arguments = []
    for name, parameter in initializers.accepted(cls).items():
        default = "" if parameter.default is inspect.Parameter.empty else \
            f" = {parameter.default!r}"
        options = f" (one of {', '.join(choices[name])})" if name in choices else ""
        arguments.append(f"- `{name}{default}`{options}")
    return f"**{word}**\n\n{doc}\n\nArguments:\n" + "\n".join(arguments)


_WORD_AT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _word_at(line: str, character: int) -> str | None:
    for match in _WORD_AT.finditer(line):
        if match.start() <= character <= match.end():
            return match.group()
    return None


#: A rule's hover lists at most this many rows (tensors written alike share one).
HOVER_ROWS = 40


def rule_view(uri: str, line: int, column: int) -> str | None:
    """What the rule at ``line:column`` (1-based) writes in the project's model, as Markdown.

    The explain view of one rule: per tensor (those written alike share a
    row, ``blocks.{0..11}.attn.qkv.weight``) its shape, the initializer with
    its resolved arguments, what that draws for the tensor's shape, and the
    rule that overwrites it later, if one does. ``None`` without a model or
    when no rule there writes anything.
    """
    from .findings import collapse_names

    _, result = _documents.get(uri, (None, None))
    explanation = getattr(result, "explanation", None)
    if explanation is None:
        return None
    found = explanation.rule_at(_path(uri), line, column)
    if found is None:
        return None
    span, writes = found
    rows: dict[tuple[str, ...], list[str]] = {}
    last = 0
    for parameter, writer in writes:
        # What holds the tensor after the run, when it is not this rule.
        overwritten = "" if parameter.final is writer else parameter.written_by()[1]
        last += not overwritten
        draws = writer.distribution.describe() if writer.distribution is not None else ""
        if writer.then:
            draws += " then " + " then ".join(m.describe() for m in writer.then)
        key = (parameter.pattern, parameter.shape_text, writer.text(parameter.name), draws,
               overwritten)
        rows.setdefault(key, []).append(parameter.name)
    first = result.source.split("\n")[span.line - 1]
    text = (first[span.column - 1:span.end_column - 1] if span.end_line == span.line
            else first[span.column - 1:]).strip()
    tensors = len(writes)
    lines = [f"**`{text}`** ({span})", "",
             f"In `{explanation.model}`: writes {tensors} tensor{'s' if tensors != 1 else ''}"
             + (f", {last} of them last" if last != tensors else "") + ".", "",
             "| parameter | shape | initializer | draws | overwritten by |",
             "|---|---|---|---|---|"]
    for number, ((_, shape, call, draws, overwritten), names) in enumerate(rows.items()):
        if number == HOVER_ROWS:
            lines.append(f"| ... {len(rows) - HOVER_ROWS} more rows | | | | |")
            break
        name = collapse_names(names)[0] if len(names) > 1 else names[0]
        cells = (f"`{name}`", shape, call, draws, overwritten)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A `|` inside a cell (a string argument, a file name) would end the cell.
    return text.replace("|", "\\|")


@server.feature(types.TEXT_DOCUMENT_HOVER)
def _hover(params: types.HoverParams) -> types.Hover | None:
    document = server.workspace.get_text_document(params.text_document.uri)
    lines = document.source.split("\n")
    if params.position.line >= len(lines):
        return None
    word = _word_at(lines[params.position.line], params.position.character)
    text = _describe(word) if word else None
    if text is None:
        text = rule_view(document.uri, params.position.line + 1, params.position.character + 1)
    if text is None:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


_AFTER_ARROW = re.compile(r"->\s*[A-Za-z_0-9]*$")
_AFTER_THEN = re.compile(r"\bthen\s+[A-Za-z_0-9]*$")
_IN_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)$")
_AFTER_EQUALS = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[A-Za-z_0-9]*$")


_PARAM_PATH = re.compile(r"^\s*param\s+([A-Za-z0-9_.*{}\"]*)$")
_CLASS_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_.*{}]*)$")
_SCOPE_PATH = re.compile(r"^\s*scope\s+([A-Za-z0-9_.]*)$")
_NAME_CHILD = re.compile(r"^\s*name\s+[A-Za-z0-9_]*$")
_RULE_START = re.compile(r"^\s*(?:[A-Za-z0-9_*]+\s*,\s*)*[A-Za-z_]*$")
_SEGMENT = r'(?:[A-Za-z0-9_]+|"(?:[^"\\\n]|\\.)*")'
#: What moves the scope in the text before the cursor: a scope's opening, a
#: closing brace; strings, comments and ``{i}`` captures are matched so as to be
#: skipped (their braces are not the block's).
_SCOPE_TOKENS = re.compile(
    rf"\bscope\s+(?P<path>{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*)\s*\{{"
    r'|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}|(?P<close>\})')
_KEYWORDS = ("param", "name", "scope", "load", "let", "seed")


def _scope_of(text: str) -> str:
    """The module path of the scope the end of ``text`` is in (``""``: the model)."""
    stack: list[str] = []
    for match in _SCOPE_TOKENS.finditer(text):
        if match.group("path") is not None:
            segments = re.findall(_SEGMENT, match.group("path"))
            stack.append(".".join(segment.strip('"') for segment in segments))
        elif match.group("close") is not None and stack:
            stack.pop()
    return ".".join(stack)


def _segments_after(paths: Any, typed: str) -> list[str]:
    """The next path segments of ``paths`` after the complete segments of ``typed``; a
    ``*`` or ``{i}`` segment matches any."""
    done = typed.split(".")[:-1]
    found: dict[str, None] = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > len(done) and all(
                d == "*" or d.startswith("{") or d == p for d, p in zip(done, parts)):
            found[parts[len(done)]] = None
    return list(found)


def _within(model: Any, scope: str) -> Any:
    if not scope:
        return model
    try:
        return model.get_submodule(scope)
    except AttributeError:
        return None


def _model_completions(before: str, text: str, model: Any) -> list[types.CompletionItem] | None:
    """Names from the model at the end of ``before``; ``None`` where none is expected."""
    kind = types.CompletionItemKind
    where = _within(model, _scope_of(text)) if model is not None else None
    param = _PARAM_PATH.search(before)
    if param is not None:
        if where is None:
            return []
        names = [name for name, _ in where.named_parameters()]
        return [types.CompletionItem(label=segment, kind=kind.Field)
                for segment in _segments_after(names, param.group(1))]
    scope = _SCOPE_PATH.search(before)
    if scope is not None:
        if where is None:
            return []
        names = [name for name, _ in where.named_modules() if name]
        return [types.CompletionItem(label=segment, kind=kind.Module)
                for segment in _segments_after(names, scope.group(1))]
    if _NAME_CHILD.search(before):
        if where is None:
            return []
        return [types.CompletionItem(label=name, kind=kind.Module,
                                     detail=type(child).__name__)
                for name, child in where.named_children()]
    owner = _CLASS_PARAM.search(before)
    if owner is not None and owner.group(1) not in _KEYWORDS:
        if where is None:
            return []
        from ..core.matcher import class_names

        names = {name for module in where.modules()
                 if owner.group(1) in class_names(type(module))
                 for name, _ in module.named_parameters()}
        return [types.CompletionItem(label=segment, kind=kind.Field)
                for segment in _segments_after(sorted(names), owner.group(2))]
    if _RULE_START.search(before):
        from .lint import known_layer_names

        items = [types.CompletionItem(label=word, kind=kind.Keyword, sort_text=f"2{word}")
                 for word in _KEYWORDS]
        mine: set[str] = set()
        if where is not None:
            mine = {type(module).__name__ for module in where.modules()}
            items += [types.CompletionItem(label=name, kind=kind.Class, sort_text=f"0{name}",
                                           detail="in the model") for name in sorted(mine)]
        items += [types.CompletionItem(label=name, kind=kind.Class, sort_text=f"1{name}")
                  for name in sorted(known_layer_names() - mine)]
        return items
    return None


def completions(before: str, text: str | None = None, model: Any = None
                ) -> list[types.CompletionItem]:
    """What may be typed at the end of ``before`` (the line up to the cursor).

    ``text`` is the document up to the cursor (for the enclosing scope) and
    ``model`` the project's model, whose classes and names are offered.
    """
    found = _model_completions(before, before if text is None else text, model)
    if found is not None:
        return found
    initializers = _initializers()
    if _AFTER_THEN.search(before):
        from ..core.modifiers import MODIFIERS

        return [types.CompletionItem(label=op, kind=types.CompletionItemKind.Function,
                                     detail=f"{op}({', '.join(arguments)})")
                for op, (_, arguments) in sorted(MODIFIERS.items())]
    if _AFTER_ARROW.search(before):
        return [types.CompletionItem(label=word, kind=types.CompletionItemKind.Function)
                for word in sorted(initializers.words)]
    call = _IN_CALL.search(before)
    if call is None:
        return []
    cls = initializers.cls_of(call.group(1))
    if cls is None:
        return []
    inside = call.group(2)
    assigned = _AFTER_EQUALS.search(inside)
    if assigned is not None:
        choices = (getattr(cls, "choices", None) or {}).get(assigned.group(1), ())
        return [types.CompletionItem(label=choice, kind=types.CompletionItemKind.EnumMember)
                for choice in choices]
    given = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", inside))
    return [types.CompletionItem(label=name, kind=types.CompletionItemKind.Property,
                                 insert_text=f"{name}=")
            for name in initializers.accepted(cls) if name not in given and name != "layer"]


@server.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=[">", "(", ",", "=", "."]))
def _complete(params: types.CompletionParams) -> types.CompletionList:
    document = server.workspace.get_text_document(params.text_document.uri)
    lines = document.source.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    before = "\n".join(lines[:params.position.line] + [line[:params.position.character]])
    model, _ = _documents.get(document.uri, (None, None))
    return types.CompletionList(is_incomplete=False,
                                items=completions(line[:params.position.character], before,
                                                  model))


def main() -> None:
    """Serve over standard input and output until the client says exit."""
    server.start_io()
