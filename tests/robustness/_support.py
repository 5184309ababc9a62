"""What the robustness tests share: the small model, byte snapshots, and the error oracle.

The oracle is the hardening promise: any bad input becomes an
``initdsl.InitError`` (with positions where there is a text), raised before
any tensor is written. :func:`outcome` runs one call and turns "it raised
something else" into a test failure that names the exception, so a failing
example says exactly which promise it broke.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

import initdsl

#: The seed every model here is built under, so its initial bytes are known.
SEED = 20240607


class Small(nn.Module):
    """One of each kind of target, as small as possible.

    The first five children are those of ``tests.language.models.Tiny`` (same
    names and shapes), so the generated init_cfgs of
    ``tests.language.strategies`` are valid here too; the rest add a
    LayerNorm, an Embedding, a float16 Linear and a BaseModule child that
    has its own init_cfg.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 1)
        self.conv2 = nn.Conv2d(3, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 3)
        self.seq = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Sequential(nn.Conv2d(2, 2, 1)))
        self.norm = nn.LayerNorm(3)
        self.emb = nn.Embedding(5, 3)
        self.half = nn.Linear(3, 3).to(torch.float16)
        self.sub = initdsl.BaseModule(init_cfg=dict(type="Constant", layer="Linear", val=0.25))
        self.sub.lin = nn.Linear(2, 2)


#: Children and module paths of :class:`Small`, for strategies.
CHILDREN = ["conv1", "conv2", "bn", "fc", "seq", "norm", "emb", "half", "sub"]
PATHS = ["seq", "seq.2", "seq.0", "sub", "sub.lin", "fc", "half"]
LAYERS = ["Linear", "Conv2d", "LayerNorm", "Embedding", "BatchNorm2d", "_BatchNorm", "_ConvNd",
          "Module", "Sequential", "ReLU", "BaseModule"]


def small_model(device: str | None = None) -> Small:
    """A fresh :class:`Small` whose initial bytes depend only on :data:`SEED`."""
    torch.manual_seed(SEED)
    if device is None:
        return Small()
    with torch.device(device):
        return Small()


def tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Every parameter and buffer of ``model`` by qualified name, with an explicit stack.

    ``state_dict()`` and ``named_parameters()`` recurse once per level in
    torch, so they cannot snapshot the deep models; this is the oracle's
    own walk, independent of initdsl's.
    """
    stack: list[tuple[str, nn.Module]] = [("", model)]
    seen: set[int] = set()
    while stack:
        path, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                if tensor is not None:
                    yield (f"{path}.{name}" if path else name), tensor
        children = [(f"{path}.{name}" if path else name, child)
                    for name, child in module._modules.items() if child is not None]
        stack.extend(reversed(children))


def snapshot(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``name -> (the tensor object, a clone of its bytes)`` for every parameter and buffer."""
    return {name: (tensor, _bytes(tensor)) for name, tensor in tensors(model)}


def _bytes(tensor: torch.Tensor) -> torch.Tensor:
    # Bytes, not values: -0.0 and 0.0 differ, and so would a NaN written over a NaN.
    data = tensor.detach()
    if data.is_meta:
        return torch.empty(0)
    return data.reshape(-1).contiguous().view(torch.uint8).clone()


def changed(model: nn.Module, before: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> list[str]:
    """The names whose tensor was replaced, added, removed, or whose bytes differ."""
    now = {name: tensor for name, tensor in tensors(model)}
    differ = sorted(set(now) ^ set(before))
    for name, (tensor, data) in before.items():
        if name not in now:
            continue
        if now[name] is not tensor or not torch.equal(_bytes(now[name]), data):
            differ.append(name)
    return differ


def assert_unchanged(model: nn.Module, before: dict[str, tuple[torch.Tensor, torch.Tensor]],
                     what: str) -> None:
    differ = changed(model, before)
    assert not differ, f"{what} raised, but it had already written {differ[:8]}"


class Escaped(AssertionError):
    """An exception that is not initdsl's escaped from the code under test."""


class Hang(BaseException):
    """Raised into the code under test when it runs past its time limit.

    A ``BaseException``, so that no ``except Exception`` in the code under
    test swallows it.
    """


class TookTooLong(AssertionError):
    """The code under test ran past its time limit (a hang, or a cost out of proportion)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail with :class:`TookTooLong` if the block runs longer than ``seconds``.

    A hang in the readers also grows a list of diagnostics without bound, so
    it must be stopped, not waited out. Uses ``SIGALRM``, so it only limits
    the main thread of a POSIX process (elsewhere the block runs unlimited).
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def interrupt(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang:
        raise TookTooLong(f"{what} ran for more than {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(call: Callable[[], Any], what: str, seconds: float = 10.0
            ) -> tuple[Any, initdsl.InitError | None]:
    """``(result, None)``, or ``(None, error)`` for an initdsl error; anything else fails,
    and so does a call that runs longer than ``seconds``."""
    try:
        with time_limit(seconds, what), warnings.catch_warnings():
            # Loads of mismatched checkpoints, huge draws and the like warn on
            # every example; warnings are not what is tested here.
            warnings.simplefilter("ignore")
            return call(), None
    except initdsl.InitError as error:
        return None, error
    except BaseException as error:  # noqa: BLE001 - the failure being reported
        if isinstance(error, (KeyboardInterrupt, SystemExit, TookTooLong)):
            raise
        tail = "".join(traceback.format_exception(type(error), error, error.__traceback__,
                                                  limit=-4))
        raise Escaped(f"{what} let a {type(error).__name__} escape (not an initdsl.InitError):"
                      f"\n{tail}") from None


def fresh(template: nn.Module) -> nn.Module:
    """A copy of ``template`` with the same bytes (and a BaseModule's ``is_init`` reset)."""
    return copy.deepcopy(template)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Silence initdsl's per-load and per-parameter log records."""
    logger = logging.getLogger("initdsl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def recursion_headroom(frames: int) -> Iterator[None]:
    """Allow only ``frames`` more Python frames than the caller has.

    A walk that recurses once per level then fails on a model a few hundred
    deep, as it would on one thousands deep under the default limit, at a
    fraction of the cost.
    """
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
