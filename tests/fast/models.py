"""Models, policies and helpers for the fast-engine tests.

Tensors are sized so that the interesting ones span several 2**20-element
blocks (``fc.weight`` has 1.5 M elements) while a whole test stays quick.
"""

from __future__ import annotations

import itertools

import torch
from core.helpers import tensor_bytes
from torch import nn

import initdsl
import initdsl.fast.executor

#: Every initializer kind, an override that overwrites an earlier write (head),
#: a constant bias and a BatchNorm whose running statistics no rule writes.
POLICY = """\
Conv2d -> kaiming(mode=fan_in, nonlinearity=leaky_relu, a=0.1)
_BatchNorm -> constant(1, bias=0)
Linear -> trunc_normal(std=0.02, a=-0.04, b=0.04, bias=0.1)
name head -> normal(std=0.01, bias=0.5)
LayerNorm -> uniform(-0.5, 0.5)
"""

#: The order modules are registered in by default.
ORDER = ("conv", "bn", "fc", "norm", "head")


class Net(nn.Module):
    """conv → bn → fc (1536x1024, two blocks) → norm → head; registration order is a parameter."""

    def __init__(self, order: tuple[str, ...] = ORDER, width: int = 1024) -> None:
        super().__init__()
        factories = {
            "conv": lambda: nn.Conv2d(3, 16, 3),
            "bn": lambda: nn.BatchNorm2d(16),
            "fc": lambda: nn.Linear(1536, width),
            "norm": lambda: nn.LayerNorm(width),
            "head": lambda: nn.Linear(width, 10),
        }
        for name in order:
            self.add_module(name, factories[name]())


def orders(count: int = 3) -> list[tuple[str, ...]]:
    """A few registration orders, the default first."""
    return list(itertools.islice(itertools.permutations(ORDER), 0, 120, 120 // count))[:count]


def meta(factory, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return factory(*args, **kwargs)


def by_name(model: nn.Module) -> dict[str, bytes]:
    """name → bytes of every parameter and buffer."""
    return {name: tensor_bytes(t) for named in (model.named_parameters(), model.named_buffers())
            for name, t in named}


def fast(model: nn.Module, policy=POLICY, seed: int = 0, **kwargs) -> nn.Module:
    initdsl.fast.executor.apply(model, policy, seed=seed, **kwargs)
    return model
