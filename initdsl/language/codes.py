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
    "E104": "unknown modifier, or arguments that do not bind",
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
    "E161": "a seed that is not the policy's one top-level seed, or no seed torch takes",
    "E170": "scope path not in the model",
    "E171": "name rule child not in the module",
    "E180": "unknown name or function in an expression",
    "E181": "invalid expression",
    "E182": "attribute the model or module does not have",
    "E183": "capture used outside its rule",
}
