"""``initdsl lsp``: a language server for ``.init`` policies (stdio, pygls).

What the editor shows is what the command line says, from the same code:

* **diagnostics** as the file changes: :func:`initdsl.tools.lint.lint` with
  the file's project configuration (``[tool.initdsl]``: ``select``,
  ``ignore``, ``# noqa``, and the model when the project names one for the
  file — built once on the meta device and kept); the same codes,
  positions and messages as ``initdsl lint``;
* **formatting**: ``initdsl fmt`` (nothing when the file does not parse);
* **hover** on an initializer: its formula (the docstring) and the
  arguments it takes, with their choices;
* **completion** of initializer names after ``->``, modifiers after ``then``, of an
  initializer's argument names inside its parentheses, and of the choices
  of an argument after ``=``.

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
    result = lint(text, path, _model_for(path, project), project=project)
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


@server.feature(types.TEXT_DOCUMENT_HOVER)
def _hover(params: types.HoverParams) -> types.Hover | None:
    document = server.workspace.get_text_document(params.text_document.uri)
    lines = document.source.split("\n")
    if params.position.line >= len(lines):
        return None
    word = _word_at(lines[params.position.line], params.position.character)
    text = _describe(word) if word else None
    if text is None:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


_AFTER_ARROW = re.compile(r"->\s*[A-Za-z_0-9]*$")
_AFTER_THEN = re.compile(r"\bthen\s+[A-Za-z_0-9]*$")
_IN_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)$")
_AFTER_EQUALS = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[A-Za-z_0-9]*$")


def completions(before: str) -> list[types.CompletionItem]:
    """What may be typed at the end of ``before`` (the line up to the cursor)."""
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
                types.CompletionOptions(trigger_characters=[">", "(", ",", "="]))
def _complete(params: types.CompletionParams) -> types.CompletionList:
    document = server.workspace.get_text_document(params.text_document.uri)
    lines = document.source.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    return types.CompletionList(is_incomplete=False,
                                items=completions(line[:params.position.character]))


def main() -> None:
    """Serve over standard input and output until the client says exit."""
    server.start_io()
