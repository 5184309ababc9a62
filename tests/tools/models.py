"""Small models for the command-line tests, loaded by path: ``tests/tools/models.py:net``.

``net()`` holds one of everything the lint rules look at: layers of several
classes, an LSTM (its ``bias`` is a bool), a bare ``nn.Parameter``, BaseModule
blocks with their own ``init_cfg`` inside a container, and a child with its
own ``init_weights`` (user code).
"""

from __future__ import annotations

import torch
from torch import nn

import initdsl


class Block(initdsl.BaseModule):
    """A block with its own init_cfg (unit LayerNorm)."""

    def __init__(self) -> None:
        super().__init__(init_cfg=dict(type="Constant", layer="LayerNorm", val=1, bias=0))
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)


class UserInit(nn.Module):
    """A plain module with its own init_weights, which its parent calls."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def init_weights(self) -> None:
        nn.init.zeros_(self.proj.weight)


class OldStyle(nn.Module):
    """An init_weights that needs an argument: a chained call fails before writing."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def init_weights(self, pretrained) -> None:  # noqa: ARG002
        pass


class Net(nn.Module):
    def __init__(self, blocked: bool = False, old_signature: bool = False,
                 classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.rnn = nn.LSTM(8, 8)
        container = nn.Sequential if blocked else initdsl.Sequential
        self.blocks = container(Block(), Block())
        self.user = UserInit()
        self.scale = nn.Parameter(torch.ones(1))
        self.head = nn.Linear(8, classes)
        if old_signature:
            self.old = OldStyle()


def net(blocked: bool = False, old_signature: bool = False, classes: int = 4) -> Net:
    """The test model; ``blocked`` puts the blocks in a plain ``nn.Sequential``."""
    return Net(blocked, old_signature, classes)


def not_a_module() -> int:
    return 3
