"""Exact mode's executor: carry out planned steps, the one place where exact mode writes tensors.

Every write is recorded in the provenance ledger as it happens. Around user
code (a :class:`~initdsl.core.planner.Call`) the executor watches which parameters
change — version counters for in-place writes through the parameter itself,
a torch function mode for writes through aliases such as ``param.data`` — and
attributes those writes to the user code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import InitAssertionError
from .checkpoint import load_state_dict
from .planner import Block, Call, Load, Planner, Step, Write
from .protocol import takes_init_cfg
from .provenance import LEDGER
from .walk import named_parameters, parameters

__all__ = ["execute"]

logger = logging.getLogger("initdsl")

_ALWAYS_WRITES = frozenset({"__setitem__", "__set__", "__ior__", "__iand__", "__ixor__",
                            "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__",
                            "__imod__", "__ipow__", "__ilshift__", "__irshift__", "__imatmul__"})


class _WriteWatch(TorchFunctionMode):
    """Notes in-place torch operations whose target shares storage with a watched tensor."""

    def __init__(self, storages: dict[int, list[int]]) -> None:
        super().__init__()
        self._storages = storages
        self.last_write: dict[int, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = None
        if "out" in kwargs:
            target = kwargs["out"]
        elif name in _ALWAYS_WRITES or (name.endswith("_") and not name.startswith("__")):
            target = args[0] if args else kwargs.get("tensor")
        if isinstance(target, Tensor) and target.device.type != "meta":
            owners = self._storages.get(target.untyped_storage().data_ptr())
            if owners:
                now = LEDGER.tick()
                for owner in owners:
                    self.last_write[owner] = now
        return func(*args, **kwargs)


def execute(steps: Iterable[Step], planner: Planner) -> None:
    """Run ``steps`` in order; nested blocks with an explicit stack, at any depth."""
    # Each entry: the steps still to run, and the block module to mark
    # initialized once they have run (None for the outermost list).
    stack: list[tuple[Iterator[Step], nn.Module | None]] = [(iter(steps), None)]
    while stack:
        pending, owner = stack[-1]
        step = next(pending, None)
        if step is None:
            stack.pop()
            if owner is not None and takes_init_cfg(owner):
                # Straight into __dict__: nn.Module.__setattr__ costs microseconds per
                # block, which adds up on models with thousands of BaseModules.
                owner.__dict__["_is_init"] = True
            continue
        kind = type(step)
        if kind is Write:
            _write(step)
        elif kind is Block:
            inner = _open_block(step, planner)
            if inner is not None:
                stack.append((iter(inner), step.module))
        elif kind is Load:
            _load(step)
        else:
            _call(step, planner)


def _write(step: Write) -> None:
    module, initializer, record = step.module, step.initializer, step.record
    weight = getattr(module, step.tensor, None)
    if weight is not None:
        initializer.init_weight(weight)
        if step.then:
            with torch.no_grad():
                for modifier in step.then:
                    modifier.apply_(weight)
        LEDGER.record(weight, record)
    bias = getattr(module, "bias", None) if step.writes_bias else None
    if bias is not None:
        nn.init.constant_(bias, initializer.bias)
        LEDGER.record(bias, record)


def _open_block(step: Block, planner: Planner) -> tuple[Step, ...] | None:
    """The steps of a block about to run (``None``: skipped, its module is initialized)."""
    module = step.module
    if getattr(module, "is_init", False):
        return None
    steps = step.steps
    if steps is None:  # initialized when planned, reset since: plan it now
        steps = planner.init_weights(module, step.path).steps
    if getattr(module, "init_cfg", None):
        logger.debug("initialize %s with init_cfg %s", type(module).__name__, module.init_cfg)
    return steps


def _load(step: Load) -> None:
    initializer = step.initializer
    if initializer.prefix is None:
        logger.info("load model from: %s", initializer.checkpoint)
    else:
        logger.info("load %s in model from: %s", initializer.prefix, initializer.checkpoint)
    report, written = load_state_dict(
        step.module, step.state_dict, checkpoint=initializer.checkpoint,
        prefix=initializer.prefix, path=step.path,
    )
    for tensor in written:
        LEDGER.record(tensor, step.record)
    LEDGER.add_load(step.module, report)


def _call(step: Call, planner: Planner) -> None:
    module = step.module
    if step.chained and getattr(module, "is_init", False):
        return
    before = {id(p): (p, p._version, p.data_ptr()) for p in parameters(module)}
    storages: dict[int, list[int]] = {}
    for key, (p, _, _) in before.items():
        if p.device.type != "meta":
            storages.setdefault(p.untyped_storage().data_ptr(), []).append(key)
    start = LEDGER.clock
    watch = _WriteWatch(storages)
    with watch:
        step.fn()
    planner.invalidate()
    for name, p in named_parameters(module):
        known = before.get(id(p))
        if known is None:
            if step.chained:
                raise InitAssertionError(
                    f"Find a new :obj:`Parameter` named `{name}` during executing the "
                    f"`init_weights` of `{type(module).__name__}`: parameters must not be "
                    "added or replaced while initializing"
                )
            continue
        _, version, pointer = known
        entry = LEDGER.entry(p)
        watched = watch.last_write.get(id(p), 0)
        if entry is not None and entry[2] > start:
            # initdsl itself wrote it during the call (the user code chained
            # into us); only a write after ours belongs to the user code.
            user_wrote = p._version != entry[1] or watched > entry[2]
        else:
            user_wrote = p._version != version or watched > start or p.data_ptr() != pointer
        if user_wrote:
            LEDGER.record(p, step.record)
