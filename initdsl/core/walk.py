"""Walks over a module tree, at any depth.

torch's ``named_modules``, ``named_parameters`` and ``named_buffers``
recurse once per level of nesting (nested generators), so a model nested a
thousand deep raises ``RecursionError`` inside torch. Every walk initdsl
makes goes through this module instead: the same names in the same order as
torch's, with an explicit stack.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from torch import Tensor, nn

__all__ = ["named_modules", "named_parameters", "named_buffers", "parameters", "state_tensors",
           "post_order", "missing_submodule"]


def named_modules(root: nn.Module, prefix: str = "", remove_duplicate: bool = True
                  ) -> Iterator[tuple[str, nn.Module]]:
    """``root.named_modules(prefix=prefix, remove_duplicate=...)``: pre-order, registration order.

    With ``remove_duplicate`` a module reachable under several names is
    yielded once, under the first.
    """
    seen: set[int] = set()
    stack = [(prefix, root)]
    while stack:
        path, module = stack.pop()
        if remove_duplicate:
            if id(module) in seen:
                continue
            seen.add(id(module))
        yield path, module
        children = [(f"{path}.{name}" if path else name, child)
                    for name, child in module._modules.items() if child is not None]
        stack.extend(reversed(children))


def _named_members(root: nn.Module, table: str, prefix: str, remove_duplicate: bool
                   ) -> Iterator[tuple[str, Tensor]]:
    seen: set[int] = set()
    for path, module in named_modules(root, prefix, remove_duplicate):
        for name, tensor in getattr(module, table).items():
            if tensor is None or id(tensor) in seen:
                continue
            if remove_duplicate:
                seen.add(id(tensor))
            yield (f"{path}.{name}" if path else name), tensor


def named_parameters(root: nn.Module, prefix: str = "", remove_duplicate: bool = True
                     ) -> Iterator[tuple[str, nn.Parameter]]:
    """``root.named_parameters(prefix=prefix, remove_duplicate=...)``."""
    return _named_members(root, "_parameters", prefix, remove_duplicate)  # type: ignore[return-value]


def named_buffers(root: nn.Module, prefix: str = "", remove_duplicate: bool = True
                  ) -> Iterator[tuple[str, Tensor]]:
    """``root.named_buffers(prefix=prefix, remove_duplicate=...)``."""
    return _named_members(root, "_buffers", prefix, remove_duplicate)


def parameters(root: nn.Module) -> Iterator[nn.Parameter]:
    """``root.parameters()``."""
    for _, tensor in named_parameters(root):
        yield tensor  # type: ignore[misc]


def state_tensors(root: nn.Module) -> dict[str, Tensor]:
    """The tensors of ``root.state_dict(keep_vars=True)``, by key: parameters and persistent
    buffers under every name they are reachable by (state dict hooks do not run)."""
    found: dict[str, Tensor] = {}
    for path, module in named_modules(root, remove_duplicate=False):
        prefix = f"{path}." if path else ""
        for name, tensor in module._parameters.items():
            if tensor is not None:
                found[prefix + name] = tensor
        for name, tensor in module._buffers.items():
            if tensor is not None and name not in module._non_persistent_buffers_set:
                found[prefix + name] = tensor
    return found


def post_order(module: nn.Module, path: str = "") -> Iterator[tuple[str, nn.Module]]:
    """``(qualified name, module)`` in the order ``module.apply`` visits them.

    Children first (registration order, each subtree before the next), the
    module itself last. A module registered under two parents is visited
    once per parent, as ``apply`` does.
    """
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


def missing_submodule(modules: Mapping[str, nn.Module], path: str, within: str = "") -> str:
    """What to say about ``path``, which names no module in ``modules`` (``named_modules``).

    Suggests the closest qualified name below ``within`` (a module path).
    """
    prefix = f"{within}." if within else ""
    names = [name for name in modules if name and name.startswith(prefix)]
    close = difflib.get_close_matches(path, names, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"the model ({type(modules['']).__name__}) has no submodule `{path}`{hint}"
