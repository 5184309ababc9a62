"""Every diagnostic code of the policy language, with a one-line title.

docs/language.md documents each; the lint rules' codes are
:data:`initdsl.tools.findings.LINT_CODES`.
"""

from __future__ import annotations

__all__ = ["CODES"]

CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "number literal out of range",
    "E003": "scopes nested too deep",
    "E004": "policy file is not UTF-8",
    "E101": "unknown initializer",
    "E102": "ambiguous initializer name",
    "E103": "Pretrained used as an initializer",
    "E110": "unknown argument",
    "E111": "reserved argument",
    "E112": "duplicate argument",
    "E113": "positional argument after keyword argument",
    "E114": "too many positional arguments",
    "E115": "missing required argument",
    "E120": "wrong value type",
    "E121": "value not one of the allowed choices",
    "E122": "invalid value",
    "E130": "unknown load option",
    "E131": "duplicate load option",
    "E132": "invalid load option value",
    "E133": "checkpoint cannot be read",
    "E140": "name-only rule with nothing to inherit",
    "E141": "name rule with a load has nothing to attach to",
    "E142": "invalid child name",
    "E150": "invalid module path",
    "E160": "reserved word used as a class name",
    "E170": "scope path not in the model",
    "E171": "name rule child not in the module",
}
