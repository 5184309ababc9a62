"""``BaseModule`` and the container modules, with mmengine's ``init_cfg`` protocol."""

from __future__ import annotations

import copy
import functools
from abc import ABCMeta
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from .protocol import PROTOCOL_INIT_WEIGHTS, TAKES_INIT_CFG
from .runner import run_init_weights, run_user_init_weights

__all__ = ["BaseModule", "Sequential", "ModuleList", "ModuleDict"]


class BaseModule(nn.Module, metaclass=ABCMeta):
    """An ``nn.Module`` that initializes itself from ``init_cfg``.

    ``init_weights()`` runs, in order:

    1. the module's own non-``Pretrained`` cfgs over its whole subtree;
    2. ``init_weights()`` of each direct child that has one and is not
       ``is_init`` yet, in registration order;
    3. the module's own top-level ``Pretrained`` cfgs.

    Then ``is_init`` becomes ``True``; calling ``init_weights()`` again only
    logs a warning. The whole run (all reachable cfgs, all checkpoints) is
    validated before the first write.

    Args:
        init_cfg: a cfg dict, a list of them, or ``None``. Deep-copied.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("init_weights")
        if callable(method) and not getattr(method, "_initdsl_watched", False):
            cls.init_weights = _watched(method)

    def __init__(self, init_cfg: dict | list[dict] | None = None) -> None:
        super().__init__()
        self._is_init = False
        self.init_cfg = copy.deepcopy(init_cfg)

    @property
    def is_init(self) -> bool:
        """Whether ``init_weights`` has completed; set it to skip initialization."""
        return self._is_init

    @is_init.setter
    def is_init(self, value: bool) -> None:
        self._is_init = value

    def init_weights(self) -> None:
        """Initialize parameters from ``init_cfg`` and the children (see the class doc)."""
        run_init_weights(self)

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.init_cfg:
            text += f"\ninit_cfg={self.init_cfg}"
        return text


# How the planner recognizes BaseModules and their own init_weights (core/protocol.py).
setattr(BaseModule, TAKES_INIT_CFG, True)
setattr(BaseModule.init_weights, PROTOCOL_INIT_WEIGHTS, True)


def _watched(method):
    """Wrap a subclass's own ``init_weights`` so that, called at the top level,
    the writes its body makes (around ``super().init_weights()``) are
    attributed to it in the provenance; nested calls run unchanged."""

    @functools.wraps(method)
    def init_weights(self, *args: Any, **kwargs: Any) -> Any:
        return run_user_init_weights(self, method, args, kwargs)

    init_weights._initdsl_watched = True
    # wraps() copies the method's attributes; a subclass's method is user code
    # even when it is the protocol's own function assigned again.
    init_weights.__dict__.pop(PROTOCOL_INIT_WEIGHTS, None)
    return init_weights


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` that is a :class:`BaseModule` (so the init chain runs through it)."""

    def __init__(self, *args: nn.Module, init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *args)


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` that is a :class:`BaseModule`."""

    def __init__(self, modules: Iterable[nn.Module] | None = None,
                 init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleList.__init__(self, modules)


class ModuleDict(BaseModule, nn.ModuleDict):
    """``nn.ModuleDict`` that is a :class:`BaseModule`."""

    def __init__(self, modules: Mapping[str, nn.Module] | None = None,
                 init_cfg: dict | list[dict] | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleDict.__init__(self, modules)
