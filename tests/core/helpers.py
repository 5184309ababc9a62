"""Helpers shared by the core and differential tests."""

from __future__ import annotations

import torch
from torch import nn


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The exact bytes of ``t`` (so ``-0.0`` and ``0.0`` differ, NaNs compare)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def snapshot(model: nn.Module) -> dict[str, tuple[torch.dtype, tuple[int, ...], bytes]]:
    """Every parameter and buffer of ``model`` as ``name → (dtype, shape, bytes)``."""
    state = {}
    for kind, named in (("param", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in named:
            state[f"{kind}:{name}"] = (t.dtype, tuple(t.shape), tensor_bytes(t))
    return state


def changed(before: dict, after: dict) -> list[str]:
    """Names whose dtype, shape or bytes differ between two snapshots."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def sign_bit(x: float) -> bool:
    import math

    return math.copysign(1.0, x) < 0


class Custom(nn.Module):
    """A user leaf with a ``weight`` of an unusual shape (direct base ``Module``)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2, 3, 4))
        self.bias = nn.Parameter(torch.zeros(2))
