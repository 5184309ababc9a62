"""initdsl: readable, checkable, fast weight-initialization policies for PyTorch.

The core runs mmengine's ``init_cfg`` semantics bit for bit (same tensors,
same RNG state under the same seed), validates a whole configuration before
writing anything, and records exactly which rule last wrote each parameter.

This module is the public API (``__all__``). Each name is imported from the
module that defines it the first time it is used, so ``import initdsl`` is
cheap and imports only what is used: the policy language — parse, check,
compile, decompile, format — and the initializer registry need no torch,
which keeps ``initdsl fmt``, ``initdsl compile`` and ``initdsl --version``
fast. docs/architecture.md says where each name lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

if TYPE_CHECKING:  # every name below is imported on first use (see __getattr__)
    from .core.base_module import BaseModule, ModuleDict, ModuleList, Sequential
    from .core.checkpoint import LoadReport
    from .core.functional import (
        bias_init_with_prob,
        caffe2_xavier_init,
        constant_init,
        kaiming_init,
        normal_init,
        trunc_normal_,
        trunc_normal_init,
        uniform_init,
        xavier_init,
    )
    from .core.initializers import (
        BaseInit,
        Caffe2XavierInit,
        ConstantInit,
        KaimingInit,
        NormalInit,
        PretrainedInit,
        TruncNormalInit,
        UniformInit,
        XavierInit,
    )
    from .core.provenance import Origin, Provenance, Record, provenance
    from .core.registry import WEIGHT_INITIALIZERS, Registry
    from .core.runner import initialize
    from .diagnostics import Diagnostic
    from .driver import apply
    from .errors import (
        CheckpointError,
        CheckpointFormatError,
        CheckpointNotFoundError,
        CheckpointUnpicklingError,
        InitAssertionError,
        InitAttributeError,
        InitError,
        InitKeyError,
        InitRuntimeError,
        InitTypeError,
        InitValueError,
        InitZeroDivisionError,
        MissingDependencyError,
        PolicyError,
        PolicyFileError,
    )
    from .fast.materialize import materialize
    from .fast.schedule import Schedule, plan
    from .language.ast import Policy
    from .language.checker import check
    from .language.compiler import compile
    from .language.decompiler import decompile
    from .language.formatter import format
    from .language.parser import load, parse
    from .tools.capture import Capture, capture

#: Where each public name is defined (a module of this package).
_HOMES = {
    **dict.fromkeys(["BaseModule", "Sequential", "ModuleList", "ModuleDict"], "core.base_module"),
    "LoadReport": "core.checkpoint",
    **dict.fromkeys(["constant_init", "xavier_init", "normal_init", "trunc_normal_init",
                     "uniform_init", "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob",
                     "trunc_normal_"], "core.functional"),
    **dict.fromkeys(["BaseInit", "ConstantInit", "XavierInit", "NormalInit", "TruncNormalInit",
                     "UniformInit", "KaimingInit", "Caffe2XavierInit", "PretrainedInit"],
                    "core.initializers"),
    **dict.fromkeys(["provenance", "Provenance", "Record", "Origin"], "core.provenance"),
    **dict.fromkeys(["WEIGHT_INITIALIZERS", "Registry"], "core.registry"),
    "initialize": "core.runner",
    "Diagnostic": "diagnostics",
    "apply": "driver",
    **dict.fromkeys(["InitError", "InitTypeError", "InitKeyError", "InitValueError",
                     "InitAssertionError", "InitRuntimeError", "InitAttributeError",
                     "InitZeroDivisionError", "CheckpointError", "CheckpointNotFoundError",
                     "CheckpointUnpicklingError", "CheckpointFormatError",
                     "MissingDependencyError", "PolicyFileError", "PolicyError"], "errors"),
    "materialize": "fast.materialize",
    **dict.fromkeys(["plan", "Schedule"], "fast.schedule"),
    "Policy": "language.ast",
    "check": "language.checker",
    "compile": "language.compiler",
    "decompile": "language.decompiler",
    "format": "language.formatter",
    **dict.fromkeys(["load", "parse"], "language.parser"),
    **dict.fromkeys(["capture", "Capture"], "tools.capture"),
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module 'initdsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = [
    # the policy language
    "parse",
    "load",
    "check",
    "compile",
    "decompile",
    "format",
    "apply",
    "Policy",
    "Diagnostic",
    "PolicyError",
    "PolicyFileError",
    # a model's own init code as a policy
    "capture",
    "Capture",
    # the fast engine
    "plan",
    "materialize",
    "Schedule",
    # running an init_cfg
    "initialize",
    "BaseModule",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    # provenance
    "provenance",
    "Provenance",
    "Record",
    "Origin",
    "LoadReport",
    # initializers and their registry
    "WEIGHT_INITIALIZERS",
    "Registry",
    "BaseInit",
    "ConstantInit",
    "XavierInit",
    "NormalInit",
    "TruncNormalInit",
    "UniformInit",
    "KaimingInit",
    "Caffe2XavierInit",
    "PretrainedInit",
    # functional helpers
    "constant_init",
    "xavier_init",
    "normal_init",
    "trunc_normal_init",
    "uniform_init",
    "kaiming_init",
    "caffe2_xavier_init",
    "bias_init_with_prob",
    "trunc_normal_",
    # errors
    "InitError",
    "InitTypeError",
    "InitKeyError",
    "InitValueError",
    "InitAssertionError",
    "InitRuntimeError",
    "InitAttributeError",
    "InitZeroDivisionError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointUnpicklingError",
    "CheckpointFormatError",
    "MissingDependencyError",
]
