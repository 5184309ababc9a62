"""initdsl: readable, checkable, fast weight-initialization policies for PyTorch.

The core runs mmengine's ``init_cfg`` semantics bit for bit (same tensors,
same RNG state under the same seed), validates a whole configuration before
writing anything, and records exactly which rule last wrote each parameter.
"""

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

# The policy language (initdsl.language).
from .diagnostics import Diagnostic
from .driver import apply
from .errors import (
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
)

# The fast engine (initdsl.fast, docs/fast.md).
from .fast.materialize import materialize
from .fast.schedule import Schedule, plan
from .language.ast import Policy
from .language.checker import check
from .language.compiler import compile
from .language.decompiler import decompile
from .language.formatter import format
from .language.parser import load, parse
from .version import __version__

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
    "CheckpointNotFoundError",
    "CheckpointUnpicklingError",
    "MissingDependencyError",
]
