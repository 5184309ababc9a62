"""The differential harness itself must catch each kind of divergence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("mmengine")

from .harness import OURS, compare  # noqa: E402

pytestmark = pytest.mark.mmengine


def _build(kit):
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))


def _bytes(kit, model):
    kit.initialize(model, dict(type="Constant", val=1 if kit is OURS else 2, layer="Linear"))


def _sign(kit, model):
    kit.initialize(model, dict(type="Constant", val=0.0 if kit is OURS else -0.0,
                               layer="Linear"))


def _rng(kit, model):
    kit.initialize(model, dict(type="Constant", val=1, layer="Linear"))
    if kit is OURS:
        torch.rand(1)


def _writer(kit, model):
    if kit is OURS:  # same values (a fresh BatchNorm), but a recorded write
        kit.initialize(model, dict(type="Constant", val=1, bias=0, layer="BatchNorm1d"))


def _error(kit, model):
    kit.initialize(model, dict(type="Normal", std=-1 if kit is OURS else 1, layer="Linear"))


@pytest.mark.parametrize("action, message", [
    (_bytes, "bytes differ"), (_sign, "bytes differ"), (_rng, "RNG state differs"),
    (_writer, "last writers differ"), (_error, "initdsl raised, mmengine did not")])
def test_compare_detects(action, message):
    with pytest.raises(AssertionError, match=message):
        compare(_build, action)


def test_true_writers_are_restored():
    from mmengine.registry import WEIGHT_INITIALIZERS

    calls = {name: cls.__dict__.get("__call__") for name, cls in
             WEIGHT_INITIALIZERS.module_dict.items()}
    compare(_build, lambda kit, model: kit.initialize(model, dict(type="Normal",
                                                                  layer="Linear")))
    assert calls == {name: cls.__dict__.get("__call__") for name, cls in
                     WEIGHT_INITIALIZERS.module_dict.items()}
