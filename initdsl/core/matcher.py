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

from ..errors import InitTypeError

__all__ = ["class_names", "post_order", "matching"]


@lru_cache(maxsize=None)
def class_names(cls: type) -> frozenset[str]:
    """The names a ``layer`` entry can use for ``cls``: its own and its direct bases'."""
    return frozenset([cls.__name__, *(base.__name__ for base in cls.__bases__)])


def post_order(module: nn.Module, path: str = "") -> Iterator[tuple[str, nn.Module]]:
    """``(qualified name, module)`` in the order ``module.apply`` visits them.

    Children first (registration order, each subtree before the next), the
    module itself last. A module registered under two parents is visited
    once per parent, as ``apply`` does.
    """
    # An explicit stack: nested generators would cost O(depth) per module.
    stack = [(path, module, iter(module.named_children()))]
    while stack:
        here, current, children = stack[-1]
        for name, child in children:
            child_path = f"{here}.{name}" if here else name
            stack.append((child_path, child, iter(child.named_children())))
            break
        else:
            stack.pop()
            yield here, current


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
        raise InitTypeError(f"'layer' entries must be class names (str), got {layers!r}") from None
    for sub_path, sub in walk:
        if not wanted.isdisjoint(class_names(type(sub))):
            yield sub_path, sub
