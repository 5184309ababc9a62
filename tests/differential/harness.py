"""Run the same architecture on initdsl and on real mmengine and compare.

A *kit* bundles the base classes and ``initialize`` of one implementation;
model builders take a kit, so one builder makes the initdsl model and the
mmengine model from the same code. :func:`compare` seeds torch identically
before construction and before initialization on both sides and checks

(a) identical parameter and buffer bytes,
(b) identical ``torch.get_rng_state()`` afterwards,
(c) identical last writer per parameter: initdsl's ``provenance`` against the
    true last writer in mmengine, found by instrumenting it (:class:`TrueWriters`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import mmengine.model as mm
import torch
from core.helpers import changed, snapshot
from mmengine.model import weight_init as mm_weight_init
from mmengine.registry import WEIGHT_INITIALIZERS as MM_INITIALIZERS
from torch import nn

import initdsl

OURS = SimpleNamespace(
    name="initdsl",
    BaseModule=initdsl.BaseModule,
    Sequential=initdsl.Sequential,
    ModuleList=initdsl.ModuleList,
    ModuleDict=initdsl.ModuleDict,
    initialize=initdsl.initialize,
    PretrainedInit=initdsl.PretrainedInit,
)
MM = SimpleNamespace(
    name="mmengine",
    BaseModule=mm.BaseModule,
    Sequential=mm.Sequential,
    ModuleList=mm.ModuleList,
    ModuleDict=mm.ModuleDict,
    initialize=mm.initialize,
    PretrainedInit=mm_weight_init.PretrainedInit,
)
KITS = (OURS, MM)


# -- mmengine's true last writer ----------------------------------------------------------------


def _fingerprint(t: torch.Tensor) -> tuple:
    data = t.detach()
    return (t._version, data.data_ptr(),
            hashlib.blake2b(data.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes(),
                            digest_size=16).digest())


class TrueWriters:
    """Instrument mmengine to find the real last writer of every parameter of ``model``.

    Wraps ``__call__`` of every class in mmengine's ``WEIGHT_INITIALIZERS``:
    parameters whose version counter (or storage) changed during the call are
    attributed to the registry name (nested initializer calls, such as
    ``Caffe2Xavier`` calling ``Kaiming``'s ``__call__``, count for the
    outermost). Wraps ``init_weights`` of the given user classes: parameters
    that changed during the call (version, storage or bytes) and were not
    attributed to an initializer inside it go to ``<Class>.init_weights``.
    Everything is restored on exit.
    """

    def __init__(self, model: nn.Module, user_classes: tuple[type, ...] = ()) -> None:
        self.model = model
        self.user_classes = user_classes
        self.writer: dict[str, str | None] = {n: None for n, _ in model.named_parameters()}
        self._stamp: dict[str, tuple] = {}  # fingerprint right after the last attribution
        self._depth = 0
        self._saved: list[tuple[type, str, Any]] = []

    def _params(self):
        return list(self.model.named_parameters())

    def _wrap_initializer(self, cls: type, name: str) -> None:
        original = cls.__dict__["__call__"]
        outer = self

        def __call__(init_self, module):
            if outer._depth:
                return original(init_self, module)
            before = {n: p._version for n, p in outer._params()}
            ptrs = {n: p.data_ptr() for n, p in outer._params()}
            outer._depth += 1
            try:
                return original(init_self, module)
            finally:
                outer._depth -= 1
                for n, p in outer._params():
                    if p._version != before.get(n) or p.data_ptr() != ptrs.get(n):
                        outer.writer[n] = name
                        outer._stamp[n] = _fingerprint(p)

        self._saved.append((cls, "__call__", original))
        cls.__call__ = __call__

    def _wrap_user(self, cls: type) -> None:
        original = cls.__dict__["init_weights"]
        outer = self

        def init_weights(mod_self, *args, **kwargs):
            before = {n: _fingerprint(p) for n, p in outer._params()}
            try:
                return original(mod_self, *args, **kwargs)
            finally:
                for n, p in outer._params():
                    now = _fingerprint(p)
                    if now != before.get(n) and outer._stamp.get(n) != now:
                        outer.writer[n] = f"{type(mod_self).__name__}.init_weights"
                        outer._stamp[n] = now

        self._saved.append((cls, "init_weights", original))
        cls.init_weights = init_weights

    def __enter__(self) -> "TrueWriters":
        for name, cls in MM_INITIALIZERS.module_dict.items():
            if "__call__" in cls.__dict__:
                self._wrap_initializer(cls, name)
        for cls in self.user_classes:
            self._wrap_user(cls)
        return self

    def __exit__(self, *exc) -> None:
        for cls, attr, original in reversed(self._saved):
            setattr(cls, attr, original)
        self._saved.clear()


def user_init_classes(model: nn.Module) -> tuple[type, ...]:
    """For each module of ``model`` whose ``init_weights`` is user code, the class in
    its MRO that defines it."""
    library = ("mmengine.", "initdsl.", "torch.")
    found = []
    for sub in model.modules():
        for k in type(sub).__mro__:
            if "init_weights" in vars(k):
                if not k.__module__.startswith(library):
                    found.append(k)
                break
    return tuple(dict.fromkeys(found))


# -- running both -------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    state: dict
    rng: torch.Tensor
    writers: dict[str, str | None]
    error: BaseException | None
    before: dict
    rng_before: torch.Tensor
    model: nn.Module


def run(kit, build: Callable[[Any], nn.Module], action: Callable[[Any, nn.Module], None],
        seed: int = 0) -> Outcome:
    torch.manual_seed(seed)
    model = build(kit)
    torch.manual_seed(seed + 1)
    before = snapshot(model)
    rng_before = torch.get_rng_state()
    error = None
    if kit is MM:
        with TrueWriters(model, user_init_classes(model)) as true:
            try:
                action(kit, model)
            except Exception as e:  # noqa: BLE001 - compared by the caller
                error = e
        writers = true.writer
    else:
        try:
            action(kit, model)
        except Exception as e:  # noqa: BLE001
            error = e
        prov = initdsl.provenance(model)
        writers = {name: record.writer for name, record in prov.items()}
    return Outcome(snapshot(model), torch.get_rng_state(), writers, error, before, rng_before,
                   model)


def init_weights(kit, model):
    model.init_weights()


def initialize_with(cfg):
    def action(kit, model):
        kit.initialize(model, cfg)
    return action


def compare(build, action=init_weights, seed: int = 0, writers: bool = True):
    """Run both; assert (a) bytes, (b) RNG state, (c) last writers. Returns both outcomes.

    If mmengine raises, initdsl must raise an ``InitError`` that is an
    instance of mmengine's exception class, leave every parameter and buffer
    unchanged and draw nothing (it validates before writing).
    """
    ours = run(OURS, build, action, seed)
    theirs = run(MM, build, action, seed)
    if theirs.error is not None:
        assert ours.error is not None, f"mmengine raised {theirs.error!r}, initdsl did not"
        assert isinstance(ours.error, initdsl.InitError), repr(ours.error)
        assert isinstance(ours.error, type(theirs.error)), (ours.error, theirs.error)
        assert changed(ours.before, ours.state) == []
        assert torch.equal(ours.rng, ours.rng_before)
        return ours, theirs
    if ours.error is not None:
        raise AssertionError(f"initdsl raised, mmengine did not: {ours.error!r}") from ours.error
    assert ours.state.keys() == theirs.state.keys()
    diff = changed(ours.state, theirs.state)
    assert diff == [], f"bytes differ: {diff}"
    assert torch.equal(ours.rng, theirs.rng), "RNG state differs"
    if writers:
        # A zero-element tensor holds no values: torch's kaiming_* skip it without touching
        # it (no version bump) while initdsl records the rule that targeted it.
        empty = {n for n, p in ours.model.named_parameters() if p.numel() == 0}
        ours_w = {k: v for k, v in ours.writers.items() if k not in empty}
        theirs_w = {k: v for k, v in theirs.writers.items() if k not in empty}
        assert ours_w == theirs_w, _writer_diff(ours_w, theirs_w)
    return ours, theirs


def _writer_diff(ours, theirs) -> str:
    lines = [f"  {k}: initdsl={ours.get(k)!r} mmengine={theirs.get(k)!r}"
             for k in sorted(ours.keys() | theirs.keys()) if ours.get(k) != theirs.get(k)]
    return "last writers differ:\n" + "\n".join(lines)


class LogCapture(logging.Handler):
    """Collect WARNING+ messages of the initdsl logger and mmengine's MMLogger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: dict[str, list[str]] = {"initdsl": [], "mmengine": []}
        from mmengine.logging import MMLogger

        self._loggers = {"initdsl": logging.getLogger("initdsl"),
                         "mmengine": MMLogger.get_current_instance()}
        self._which = None

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[record.name if record.name in self.messages else "mmengine"].append(
            record.getMessage())

    def __enter__(self) -> "LogCapture":
        for logger in self._loggers.values():
            logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        for logger in self._loggers.values():
            logger.removeHandler(self)
