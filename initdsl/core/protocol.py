"""The ``init_cfg`` protocol as the planner and executors see a module.

Two questions decide how a run treats a module, and both are answered from
the module's class, without importing :class:`~initdsl.core.base_module.BaseModule`
(which runs initialization and so sits above the planner and executors):

* :func:`takes_init_cfg` — does it own an ``init_cfg`` and an ``is_init``
  flag, chaining ``init_weights`` to its children (a ``BaseModule`` or one of
  its containers)?
* :func:`has_own_init_weights` — is its ``init_weights`` user code rather
  than the protocol's own?

``BaseModule`` marks itself with :data:`TAKES_INIT_CFG` and its own
``init_weights`` with :data:`PROTOCOL_INIT_WEIGHTS`; a subclass that
overrides ``init_weights`` loses the second mark, so its method is user code.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TAKES_INIT_CFG", "PROTOCOL_INIT_WEIGHTS", "takes_init_cfg", "has_own_init_weights"]

#: Class attribute that marks ``BaseModule`` and its subclasses.
TAKES_INIT_CFG = "_initdsl_takes_init_cfg"

#: Function attribute that marks ``BaseModule.init_weights`` itself.
PROTOCOL_INIT_WEIGHTS = "_initdsl_protocol_init_weights"


def takes_init_cfg(module: Any) -> bool:
    """Whether ``module`` is an initdsl ``BaseModule`` (it owns ``init_cfg`` and ``is_init``)."""
    return getattr(type(module), TAKES_INIT_CFG, False)


def has_own_init_weights(module: Any) -> bool:
    """Whether ``module.init_weights`` is user code rather than ``BaseModule``'s."""
    method = getattr(type(module), "init_weights", None)
    if method is None:
        return hasattr(module, "init_weights")  # set on the instance
    return not getattr(method, PROTOCOL_INIT_WEIGHTS, False)
