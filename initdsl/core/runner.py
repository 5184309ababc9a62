"""Exact mode's entry points: plan and execute one initialization run.

A *run* starts at the outermost ``initialize``/``init_weights`` call; calls
made from inside it (a user ``init_weights`` that calls
``super().init_weights()``) join it: they share its checkpoint cache and do
not log their own report.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from torch import nn

from ..collector import no_gc
from .executor import execute
from .planner import Call, CfgSource, Planner
from .protocol import has_own_init_weights, takes_init_cfg
from .provenance import Origin, Record, log_report

__all__ = ["initialize", "initialize_whole", "run_init_weights", "run_scoped", "run_user_init_weights",
           "active_run"]

logger = logging.getLogger("initdsl")

_ACTIVE: ContextVar[Planner | None] = ContextVar("initdsl_active_run", default=None)


@contextlib.contextmanager
def active_run(root: nn.Module, planner: Planner | None = None) -> Iterator[tuple[Planner, bool]]:
    """Join the active run, or start one (always start one when given a planner)."""
    active = _ACTIVE.get()
    if active is not None and planner is None:
        yield active, False
        return
    planner = planner or Planner(root)
    token = _ACTIVE.set(planner)
    # Nothing a run allocates needs cycle collection to be freed, and full
    # collections cost more than the run itself on models with thousands of
    # modules: pause the collector for the run.
    try:
        with no_gc():
            yield planner, True
    finally:
        _ACTIVE.reset(token)


def initialize(module: nn.Module, init_cfg: dict | list[dict]) -> None:
    """Initialize ``module`` with ``init_cfg``, exactly as mmengine's ``initialize``.

    Each cfg in list order writes the modules its ``layer`` matches (class or
    direct base-class name, post-order), then its ``override`` entries write
    whole named children. ``Pretrained`` runs where it stands in the list.
    Unlike mmengine, every cfg is validated — and checkpoints read — before
    the first tensor is written: an invalid configuration raises an
    :class:`~initdsl.InitError` and leaves ``module`` unchanged.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2))
        >>> initialize(model, [dict(type='Kaiming', layer='Conv2d'),
        ...                    dict(type='Constant', layer='Linear', val=0)])
    """
    with active_run(module) as (planner, _top):
        path = planner.path_of(module)
        execute(planner.initialize(module, path, init_cfg), planner)


def initialize_whole(module: nn.Module, cfg: dict) -> None:
    """``cfg`` on every module below ``module``, whatever its class (mmengine's override mode)."""
    with active_run(module) as (planner, _top):
        execute(planner.plan_whole(module, planner.path_of(module), cfg), planner)


def run_init_weights(module: nn.Module) -> None:
    """``BaseModule.init_weights`` for ``module`` (see :class:`~initdsl.BaseModule`)."""
    with active_run(module) as (planner, top):
        _init_weights(module, planner, top)


def run_scoped(model: nn.Module, scopes: Mapping[str, Any],
               source_of: CfgSource | None = None) -> None:
    r"""Initialize ``model`` as if each module named in ``scopes`` had that ``init_cfg``.

    ``scopes[""]`` is the root's. The root and every plain module named in
    ``scopes`` act as ``BaseModule``\ s, so the run chains exactly as
    ``init_weights`` does. This is what a compiled policy runs through.
    """
    planner = Planner(model, scopes, source_of)
    with active_run(model, planner) as (planner, top):
        if takes_init_cfg(model) and has_own_init_weights(model):
            model.init_weights()  # user code; its super() call joins this run
            if top:
                log_report(model, type(model).__name__)
        else:
            _init_weights(model, planner, top)


def run_user_init_weights(module: nn.Module, method: Any, args: tuple, kwargs: dict) -> Any:
    """Run a BaseModule subclass's own ``init_weights``; at the top level, as a run."""
    if _ACTIVE.get() is not None:
        return method(module, *args, **kwargs)
    result = []
    name = type(module).__name__
    record = Record(
        writer=f"{name}.init_weights",
        origin=Origin("", via="init_weights"),
        text=f"Initialized by user-defined `init_weights` in {name} ",
    )
    with active_run(module) as (planner, _top):
        step = Call(module, "", lambda: result.append(method(module, *args, **kwargs)), record)
        execute([step], planner)
        log_report(module, name)
    return result[0]


def _init_weights(module: nn.Module, planner: Planner, top: bool) -> None:
    block = planner.init_weights(module, planner.path_of(module))
    if block.steps is None:
        logger.warning("init_weights of %s has been called more than once.",
                       type(module).__name__)
    else:
        execute([block], planner)
    if top:
        log_report(module, type(module).__name__)
