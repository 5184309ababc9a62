"""Lint findings for machines: GitHub workflow annotations and SARIF 2.1.0.

``initdsl lint --output-format github`` prints one workflow command per
finding, which GitHub Actions shows on the pull request's diff;
``--output-format sarif`` prints a SARIF 2.1.0 log, which code scanning
(``github/codeql-action/upload-sarif``) and editors' SARIF viewers read.
Both carry what the text output carries: code, severity, message and the
span. No torch: they format diagnostics.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..diagnostics import Diagnostic
from ..version import __version__

__all__ = ["github_annotations", "sarif"]

_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}

#: Where a SARIF viewer links the rules (each code has an entry there).
HELP_URI = "https://github.com/initdsl/initdsl/blob/main/docs/cli.md"


def _escape(text: str, *, property: bool = False) -> str:
    # GitHub's workflow-command escaping: the data, and property values (':' ',') too.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotations(diagnostics: Iterable[Diagnostic]) -> str:
    """One ``::error file=…,line=…,col=…,endLine=…,endColumn=…,title=CODE::message`` line per
    finding (``::warning``, ``::notice`` by severity)."""
    lines = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        fields = []
        if span is not None:
            fields += [f"file={_escape(span.file, property=True)}", f"line={span.line}",
                       f"col={span.column}", f"endLine={span.end_line}",
                       f"endColumn={span.end_column}"]
        fields.append(f"title={_escape(diagnostic.code, property=True)}")
        level = _GITHUB_LEVEL.get(diagnostic.severity, "error")
        lines.append(f"::{level} {','.join(fields)}::"
                     f"{_escape(diagnostic.code + ' ' + diagnostic.message)}")
    return "\n".join(lines)


def _uri(path: str) -> str:
    """``path`` as a URI reference: relative paths stay relative (what code scanning maps
    onto the repository), absolute ones become ``file:`` URIs.

    A colon is escaped in a relative path: unescaped, ``a:b.init`` would read as a URI
    of scheme ``a``.
    """
    path = path.replace("\\", "/")
    if path.startswith("/"):
        return "file://" + urllib.parse.quote(path, safe="/")
    if re.match(r"[A-Za-z]:/", path):  # a Windows drive
        return "file:///" + path[:2] + urllib.parse.quote(path[2:], safe="/")
    return urllib.parse.quote(path, safe="/")


def sarif(diagnostics: Iterable[Diagnostic]) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of initdsl: each code a rule, each finding a result."""
    diagnostics = list(diagnostics)
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for diagnostic in diagnostics:
        result: dict[str, Any] = {
            "ruleId": diagnostic.code,
            "ruleIndex": index[diagnostic.code],
            "level": _SARIF_LEVEL.get(diagnostic.severity, "error"),
            "message": {"text": diagnostic.message},
        }
        span = diagnostic.span
        if span is not None:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(span.file)},
                "region": {"startLine": span.line, "startColumn": span.column,
                           "endLine": span.end_line, "endColumn": span.end_column},
            }}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "initdsl",
                "version": __version__,
                "informationUri": HELP_URI,
                "rules": [{"id": code, "helpUri": f"{HELP_URI}#{code.lower()}"}
                          for code in codes],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
