"""The one matcher: which modules an initializer writes.

A rule (outside an override) writes every module in the target's subtree,
visited post-order, whose class name or one of whose *direct* base-class
names is in the rule's ``layer`` list. In a ``Select`` entry (the policy
language's extensions), a ``layer`` name with ``*`` is a pattern matched
against the module's own class name. An override writes every module below
its named child, whatever the class ("whole-module mode"). A ``param`` rule
writes the parameters whose names its pattern matches
(:mod:`initdsl.core.patterns`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from torch import nn

from ..errors import InitTypeError, shown
from .walk import post_order

__all__ = ["class_names", "matching", "matching_parameters"]


@lru_cache(maxsize=None)
def class_names(cls: type) -> frozenset[str]:
    """The names a ``layer`` entry can use for ``cls``: its own and its direct bases'."""
    return frozenset([cls.__name__, *(base.__name__ for base in cls.__bases__)])


def matching(
    module: nn.Module,
    path: str,
    layers: Sequence[str] | None,
    walk: Iterable[tuple[str, nn.Module]] | None = None,
    patterns: bool = False,
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
    globbed = class_pattern([name for name in wanted if "*" in name]) if patterns else None
    for sub_path, sub in walk:
        if not wanted.isdisjoint(class_names(type(sub))) or (
                globbed is not None and globbed.fullmatch(type(sub).__name__)):
            yield sub_path, sub


@lru_cache(maxsize=256)
def _class_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join("[^.]*".join(map(re.escape, name.split("*"))) for name in names))


def class_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression for the class-name patterns ``names`` (``*`` is any run of
    characters), matched against a module's own class name, as HF's ``"LayerNorm" in
    type(module).__name__`` is written ``*LayerNorm*``; ``None`` if there are none."""
    return _class_regex(tuple(sorted(names))) if names else None


def matching_parameters(module: nn.Module, path: str, pattern: re.Pattern[str],
                        walk: Iterable[tuple[str, nn.Module]] | None = None,
                        layers: Sequence[str] | None = None,
                        patterns: bool = True,
                        ) -> tuple[list[tuple[str, nn.Module, str, dict[str, str]]], list[str]]:
    """The parameters under ``module`` whose relative name ``pattern`` matches, in write order.

    With ``layers``, names are relative to each module those classes match
    (:func:`matching`) instead. Returns ``[(module path, owning module,
    parameter name, captures)]`` (captures: the pattern's ``{name}``
    segments, as matched) in the walk's order (post-order, as every rule), each
    module's own parameters in registration order; a tensor reachable under
    two names (tied, or a module registered twice) once, under its first
    name. Second, the names (relative to ``module``) of the *buffers* the
    pattern matches: a ``param`` rule never writes a buffer, and the caller
    reports them.
    """
    if walk is None:
        walk = post_order(module, path)
    owners = [(path, walk)] if layers is None else [
        (owner_path, post_order(owner, owner_path))
        for owner_path, owner in matching(module, path, layers, walk, patterns)]
    skip = len(path) + 1 if path else 0
    found: list[tuple[str, nn.Module, str, dict[str, str]]] = []
    buffers: list[str] = []
    seen: set[int] = set()
    for owner_path, owner_walk in owners:
        start = len(owner_path) + 1 if owner_path else 0
        for sub_path, sub in owner_walk:
            relative = sub_path[start:] if sub_path != owner_path else ""
            for table, is_parameter in ((sub._parameters, True), (sub._buffers, False)):
                for name, tensor in table.items():
                    if tensor is None:
                        continue
                    full = f"{relative}.{name}" if relative else name
                    matched = pattern.fullmatch(full)
                    if matched is None:
                        continue
                    if not is_parameter:
                        below = sub_path[skip:] if sub_path != path else ""
                        buffers.append(f"{below}.{name}" if below else name)
                    elif id(tensor) not in seen:
                        seen.add(id(tensor))
                        found.append((sub_path, sub, name, matched.groupdict()))
    return found, buffers
