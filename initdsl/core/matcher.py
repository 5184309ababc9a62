"""The one matcher: which modules an initializer writes.

A rule (outside an override) writes every module in the target's subtree,
visited post-order, whose class name or one of whose *direct* base-class
names is in the rule's ``layer`` list. An override writes every module below
its named child, whatever the class ("whole-module mode").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from torch import nn

from ..errors import InitTypeError, shown
from .walk import post_order

__all__ = ["class_names", "matching"]


@lru_cache(maxsize=None)
def class_names(cls: type) -> frozenset[str]:
    """The names a ``layer`` entry can use for ``cls``: its own and its direct bases'."""
    return frozenset([cls.__name__, *(base.__name__ for base in cls.__bases__)])


def matching(
    module: nn.Module,
    path: str,
    layers: Sequence[str] | None,
    walk: Iterable[tuple[str, nn.Module]] | None = None,
) -> Iterator[tuple[str, nn.Module]]:
    """The modules under ``module`` a rule writes, in write order.

    ``layers=None`` means whole-module mode (an override): every module.
    An empty ``layers`` list matches nothing. ``walk`` is ``post_order(module,
    path)`` when the caller already has it.
    """
    if walk is None:
        walk = post_order(module, path)
    if layers is None:
        yield from walk
        return
    if not layers:
        return
    try:
        wanted = frozenset(layers)
    except TypeError:  # mmengine fails the same way (set(layer)) at the first module
        raise InitTypeError(f"'layer' entries must be class names (str), got {shown(layers)}") from None
    for sub_path, sub in walk:
        if not wanted.isdisjoint(class_names(type(sub))):
            yield sub_path, sub
