"""initdsl: readable, checkable, fast weight-initialization policies for PyTorch.

The core runs mmengine's ``init_cfg`` semantics bit for bit (same tensors,
same RNG state under the same seed), validates a whole configuration before
writing anything, and records exactly which rule last wrote each parameter.
"""

from .base_module import BaseModule, ModuleDict, ModuleList, Sequential
from .checkpoint import LoadReport
from .engine import initialize
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
from .functional import (
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
from .initializers import (
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
from .provenance import Origin, Provenance, Record, provenance
from .registry import WEIGHT_INITIALIZERS, Registry

# The policy language. These names shadow the submodules of the same name
# (`initdsl.parse` is the function); import from the submodules directly
# (`from initdsl.format import generate`) for anything else in them.
from .ast import Policy
from .check import check
from .compile import compile
from .decompile import decompile
from .diagnostics import Diagnostic
from .format import format
from .parse import parse
from .policy import apply, load

# The fast engine (docs/fast.md). `initdsl.plan` and `initdsl.materialize` are
# the functions; the core's planner stays importable as `from initdsl.plan
# import Planner`. `initdsl.schedule`, `initdsl.rng` and `initdsl.fast` hold
# the rest.
from .schedule import Schedule, plan
from .materialize import materialize

__version__ = "0.1.0"

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
