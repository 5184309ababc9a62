"""Watch a model being built and record what finally wrote each of its tensors.

:func:`observe` calls a factory (the model's own construction, with its own
init code) while recording every write to a tensor: the ``torch.nn.init``
function or tensor primitive, its resolved arguments, and the first frame of
user code that made it (``file:function``). Writes are attributed by
storage, so views and tied tensors count; the last whole-tensor write
decides, and partial writes after it (an ``Embedding``'s padding row) are
kept beside it.

Two layers of recording:

* the functions of ``torch.nn.init`` (and HF transformers' table of them,
  ``transformers.initialization.TORCH_INIT_FUNCTIONS``, when it is loaded)
  are wrapped for the duration of the call: they say the family and the
  arguments (``kaiming_uniform_(a=√5)``), and the tensor operations inside
  them are not recorded again;
* a :class:`~torch.overrides.TorchFunctionMode` records the tensor
  primitives called outside them (``w.normal_(0, 0.02)``, ``w.fill_(1)``,
  ``w[3].zero_()``, timm's inverse-CDF truncated normal as the chain
  ``uniform_, erfinv_, mul_, add_, clamp_``, a ``mul_`` after a draw).

Nothing stays installed: the wrappers and the mode are removed, and torch's
global RNG state restored, whether the factory returns or raises.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

__all__ = ["Write", "Observation", "observe"]

#: The ``torch.nn.init`` functions whose calls are recorded as such.
INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
                  "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                  "kaiming_normal_", "orthogonal_", "sparse_")

_TORCH_DIR = str(Path(torch.__file__).parent)


@attrs.frozen
class Write:
    """One recorded write: ``kind`` is the function (``"normal_"``, ``"trunc_normal_"``,
    ``"fill_"``...), ``args`` its resolved arguments by name, ``where`` the user
    code that made it (``path:line function``; ``torch`` for torch's own
    constructors), ``module`` whether it ran inside a torch module's
    ``reset_parameters`` (the constructor's default)."""

    kind: str
    args: dict[str, Any]
    where: str
    default: bool = False
    sampler: str = "torch"  # "inverse_cdf" for the uniform/erfinv chain


@attrs.define
class Observation:
    """What :func:`observe` saw: per storage, the last whole write and later rows zeroed."""

    whole: dict[int, Write] = attrs.field(factory=dict)
    rows: dict[int, set[int]] = attrs.field(factory=dict)
    scaled: dict[int, float] = attrs.field(factory=dict)
    dirty: set[int] = attrs.field(factory=set)  # written by something not understood

    def of(self, tensor: Tensor) -> tuple[Write | None, set[int], float, bool]:
        """``(write, zeroed rows, scale applied after it, unexplained)`` of ``tensor``."""
        key = _key(tensor)
        return (self.whole.get(key), self.rows.get(key, set()), self.scaled.get(key, 1.0),
                key in self.dirty)


def _key(tensor: Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def _is_whole(tensor: Tensor) -> bool:
    storage = tensor.untyped_storage()
    return tensor.storage_offset() == 0 and tensor.numel() * tensor.element_size() == \
        storage.nbytes() and tensor.numel() > 0


def _caller() -> tuple[str, bool]:
    """``("file:line function", constructor default?)`` of the code that made the write."""
    default = False
    frame = inspect.currentframe()
    try:
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(_TORCH_DIR):
                if frame.f_code.co_name in ("reset_parameters", "_reset_parameters",
                                            "__init__"):
                    default = True
            elif filename != __file__ and not filename.endswith("contextlib.py") and not (
                    frame.f_code.co_name.endswith("_") and not frame.f_code.co_name.endswith("__")):
                # An in-place helper (HF's `normal_`, timm's `trunc_normal_`) is not the
                # model's code: its caller is.
                name = frame.f_code.co_name
                return f"{_short(filename)}:{frame.f_lineno} {name}", default
            frame = frame.f_back
    finally:
        del frame
    return "torch", default


def _short(filename: str) -> str:
    """``filename`` relative to the current directory or the ``sys.path`` entry holding it."""
    roots = [os.getcwd(), *(p for p in sys.path if p)]
    for root in sorted(roots, key=len, reverse=True):
        if filename.startswith(root.rstrip("/") + "/"):
            return filename[len(root.rstrip("/")) + 1:]
    return filename


def _bound(function: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    bound.apply_defaults()
    return {k: v for k, v in list(bound.arguments.items())[1:]
            if k != "generator" and not isinstance(v, Tensor)}


class _Recorder(TorchFunctionMode):
    """Records tensor primitives made outside a wrapped ``torch.nn.init`` function."""

    def __init__(self, observation: Observation) -> None:
        super().__init__()
        self.observation = observation
        self.inside = 0  # depth of wrapped init calls running
        self.chains: dict[int, list] = {}  # storage -> the inverse-CDF chain so far

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.inside or not args or not isinstance(args[0], Tensor):
            return result
        name = getattr(func, "__name__", "")
        if not name.endswith("_") or name.startswith("__"):
            if name == "copy_" or name == "__setitem__":
                self._unknown(args[0])
            return result
        self.primitive(name, args[0], args[1:], kwargs)
        return result

    def primitive(self, name: str, tensor: Tensor, args: tuple, kwargs: dict) -> None:
        observation, key = self.observation, _key(tensor)
        whole = _is_whole(tensor)
        if name in ("normal_", "uniform_", "fill_", "zero_"):
            if not whole:
                if name in ("fill_", "zero_") and (not args or args[0] == 0):
                    self._row(tensor)
                else:
                    self._unknown(tensor)
                return
            if name == "uniform_":
                self.chains[key] = [float(args[0]) if args else kwargs.get("from", 0.0),
                                    float(args[1]) if len(args) > 1 else kwargs.get("to", 1.0)]
            if name == "normal_":
                call = {"mean": args[0] if args else kwargs.get("mean", 0.0),
                        "std": args[1] if len(args) > 1 else kwargs.get("std", 1.0)}
            elif name == "uniform_":
                call = {"a": self.chains[key][0], "b": self.chains[key][1]}
            else:
                value = 0.0 if name == "zero_" else args[0]
                call = {"val": value.item() if isinstance(value, Tensor) else value}
                name = "constant_"
            self._whole(key, Write(name, call, *_caller()))
            return
        if not whole:
            self._unknown(tensor)
            return
        chain = self.chains.get(key)
        previous = observation.whole.get(key)
        if chain is not None and name in ("erfinv_", "mul_", "add_", "clamp_"):
            chain.append((name, args, kwargs))
            if name == "clamp_":
                self._inverse_cdf(key, chain)
            return
        if name == "mul_" and previous is not None and args and isinstance(args[0], (int, float)):
            observation.scaled[key] = observation.scaled.get(key, 1.0) * float(args[0])
            return
        if name in ("requires_grad_", "share_memory_", "detach_", "retain_grad"):
            return
        self._unknown(tensor)

    def _inverse_cdf(self, key: int, chain: list) -> None:
        """``uniform_(2l-1, 2u-1) erfinv_ mul_(std √2) add_(mean) clamp_(a, b)``: a truncated
        normal (timm's and mmengine's), possibly then ``mul_(s) add_(m)`` (std bounds)."""
        low, high, *ops = chain
        names = [op[0] for op in ops]
        if names != ["erfinv_", "mul_", "add_", "clamp_"]:
            self.observation.dirty.add(key)
            return
        std = float(ops[1][1][0]) / math.sqrt(2.0)
        mean = float(ops[2][1][0])
        clamp = ops[3]
        a = clamp[2].get("min", clamp[1][0] if clamp[1] else None)
        b = clamp[2].get("max", clamp[1][1] if len(clamp[1]) > 1 else None)
        write = Write("trunc_normal_", {"mean": mean, "std": std, "a": a, "b": b},
                      *_caller(), sampler="inverse_cdf")
        self.chains.pop(key, None)
        self._whole(key, write)

    def _whole(self, key: int, write: Write) -> None:
        observation = self.observation
        observation.whole[key] = write
        observation.rows.pop(key, None)
        observation.scaled.pop(key, None)
        observation.dirty.discard(key)

    def _row(self, tensor: Tensor) -> None:
        base = tensor.untyped_storage()
        width = tensor.numel() * tensor.element_size()
        offset = tensor.storage_offset() * tensor.element_size()
        if width and offset % width == 0 and tensor.is_contiguous():
            self.observation.rows.setdefault(base.data_ptr(), set()).add(offset // width)
        else:
            self._unknown(tensor)

    def _unknown(self, tensor: Tensor) -> None:
        self.observation.dirty.add(_key(tensor))


@contextmanager
def _wrapped(recorder: _Recorder) -> Iterator[None]:
    """``torch.nn.init``'s functions (and HF's table of them) recording their calls."""
    originals = {name: getattr(nn.init, name) for name in INIT_FUNCTIONS
                 if hasattr(nn.init, name)}
    tables = []
    hf = sys.modules.get("transformers.initialization")
    if hf is not None and isinstance(getattr(hf, "TORCH_INIT_FUNCTIONS", None), dict):
        tables.append(hf.TORCH_INIT_FUNCTIONS)
    saved = [dict(table) for table in tables]

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(tensor, *args, **kwargs):
            if recorder.inside:
                return function(tensor, *args, **kwargs)
            recorder.inside += 1
            try:
                result = function(tensor, *args, **kwargs)
            finally:
                recorder.inside -= 1
            call = _bound(function, (tensor, *args), kwargs)
            key = _key(tensor)
            if _is_whole(tensor):
                kind = {"ones_": "constant_", "zeros_": "constant_"}.get(name, name)
                if name in ("ones_", "zeros_"):
                    call = {"val": 1.0 if name == "ones_" else 0.0}
                recorder._whole(key, Write(kind, call, *_caller()))
            elif name in ("zeros_",) or (name == "constant_" and call.get("val") == 0):
                recorder._row(tensor)
            else:
                recorder._unknown(tensor)
            return result
        recorded.__wrapped__ = function  # type: ignore[attr-defined]
        return recorded

    try:
        for name, function in originals.items():
            setattr(nn.init, name, wrap(name, function))
        for table in tables:
            for name, function in list(table.items()):
                if name in originals:
                    table[name] = wrap(name, function)
        yield
    finally:
        for name, function in originals.items():
            setattr(nn.init, name, function)
        for table, old in zip(tables, saved):
            table.clear()
            table.update(old)
        # A library imported during the call copied the wrappers into its own table.
        hf = sys.modules.get("transformers.initialization")
        table = getattr(hf, "TORCH_INIT_FUNCTIONS", None) if hf is not None else None
        if isinstance(table, dict):
            for name, function in list(table.items()):
                table[name] = getattr(function, "__wrapped__", function)


def observe(factory: Callable[[], nn.Module]) -> tuple[nn.Module, Observation]:
    """Call ``factory()`` and record what wrote each tensor of the model it returns.

    torch's global RNG state is the same after as before (the model's draws
    are the ones the factory makes from that state), and nothing stays
    installed, also when the factory raises.
    """
    observation = Observation()
    recorder = _Recorder(observation)
    state = torch.get_rng_state()
    try:
        with _wrapped(recorder), recorder:
            model = factory()
    finally:
        torch.set_rng_state(state)
    if not isinstance(model, nn.Module):
        raise TypeError(f"the factory returned {type(model).__name__}, not an nn.Module")
    return model, observation
