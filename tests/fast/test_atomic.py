"""A plan that fails fails before the first write: every byte is left as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit

from .models import POLICY, Net, by_name, meta


@pytest.fixture
def exploding():
    name = "FastTestExploding"

    @WEIGHT_INITIALIZERS.register_module(name=name)
    class Exploding(BaseInit):
        def init_weight(self, weight):
            raise RuntimeError("boom")

    yield name
    WEIGHT_INITIALIZERS._classes.pop(name)


def bad_policies(tmp_path, exploding):
    torch.save(Net().state_dict(), tmp_path / "net.pth")
    return {
        "unknown initializer": POLICY + "Linear -> nope\n",
        "bad argument": POLICY + "Linear -> normal(std=-1)\n",
        "missing module": POLICY + "name nothing -> constant(0)\n",
        "kaiming on 1-d": [dict(type="Normal", layer="Linear"),
                           dict(type="Kaiming", layer="LayerNorm")],
        "missing checkpoint": POLICY + f'load "{tmp_path / "absent.pth"}"\n',
        "prefix matches nothing": POLICY + f'load "{tmp_path / "net.pth"}" prefix "nope."\n',
        "initializer raises": [dict(type="Normal", layer="Linear"),
                               dict(type=exploding, layer="Conv2d")],
    }


CASES = ["unknown initializer", "bad argument", "missing module", "kaiming on 1-d",
         "missing checkpoint", "prefix matches nothing", "initializer raises"]


@pytest.mark.parametrize("case", CASES)
def test_fast_apply_failure_leaves_every_byte(case, tmp_path, exploding):
    policy = bad_policies(tmp_path, exploding)[case]
    model = Net()
    before = by_name(model)
    versions = [t._version for t in (*model.parameters(), *model.buffers())]
    with pytest.raises(Exception):
        if isinstance(policy, str):
            initdsl.apply(model, policy, mode="fast", seed=0)
        else:
            initdsl.fast.executor.apply(model, policy, seed=0)
    assert by_name(model) == before
    assert [t._version for t in (*model.parameters(), *model.buffers())] == versions
    assert all(r.writer is None for r in initdsl.provenance(model).values())


@pytest.mark.parametrize("case", CASES)
def test_materialize_failure_leaves_the_model_on_meta(case, tmp_path, exploding):
    policy = bad_policies(tmp_path, exploding)[case]
    model = meta(Net)
    with pytest.raises(Exception):
        initdsl.materialize(model, policy, seed=0)
    assert all(t.is_meta for t in (*model.parameters(), *model.buffers()))


def test_unwritten_error_refuses_before_allocating():
    class WithToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.token = nn.Parameter(torch.zeros(4))

    model = meta(WithToken)
    with pytest.raises(initdsl.InitError, match="token"):
        initdsl.materialize(model, "Linear -> normal", unwritten="error")
    assert model.fc.weight.is_meta


def test_materialize_refuses_a_built_model():
    model = Net()
    before = by_name(model)
    with pytest.raises(ValueError, match="meta"):
        initdsl.materialize(model, POLICY)
    assert by_name(model) == before
