"""``initdsl.plan``: the final writer of every tensor, on the meta device, without writing."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import initdsl
from initdsl import zoo
from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform
from initdsl.fast.schedule import Copy, Draw, Opaque

from .models import POLICY, Net, by_name, meta

SCOPED = """\
Linear -> normal(std=0.02)
scope fc {
  Linear -> constant(0.5, bias=1)
}
_BatchNorm -> constant(1)
"""

RESNET_CFG = [
    dict(type="Kaiming", layer="Conv2d"),
    dict(type="Constant", val=1, bias=0, layer=["_BatchNorm", "GroupNorm"]),
    dict(type="Normal", std=0.01, layer="Linear"),
]
RESNET_BLOCK_CFG = dict(type="Constant", val=0, override=dict(name="bn3"))


def tiny_resnet(**kwargs) -> nn.Module:
    return zoo.resnet((1, 1, 1, 1), 8, num_classes=10, **kwargs)


def exact_records(model: nn.Module, policy) -> dict:
    torch.manual_seed(0)
    if policy is None:
        model.init_weights()
    elif isinstance(policy, str):
        initdsl.apply(model, policy)
    else:
        initdsl.initialize(model, policy)
    return dict(initdsl.provenance(model))


@pytest.mark.parametrize("policy", [POLICY, SCOPED, [dict(type="Xavier", layer="Linear"),
                                                     dict(type="Constant", val=2,
                                                          layer="Conv2d")]],
                         ids=["policy", "scoped", "init_cfg"])
def test_final_writer_of_every_parameter_on_meta_matches_exact_provenance(policy):
    expected = exact_records(Net(), policy)
    schedule = initdsl.plan(meta(Net), policy)
    for name, record in expected.items():
        assert schedule[name].record == record, name


def test_own_init_cfg_chain_on_meta_matches_exact_provenance():
    kwargs = dict(base="initdsl", init_cfg=RESNET_CFG, block_init_cfg=RESNET_BLOCK_CFG)
    expected = exact_records(tiny_resnet(**kwargs), None)
    schedule = initdsl.plan(meta(tiny_resnet, **kwargs))
    assert {t.name: t.record for t in schedule.parameters} == expected
    # the override on bn3 overwrites the root's BatchNorm rule: one write skipped per block
    assert schedule["layer1.0.bn3.weight"].skipped == 1
    assert schedule["layer1.0.bn3.weight"].final.dist == Constant(0)


def test_distributions_are_resolved_from_the_full_shape():
    schedule = initdsl.plan(meta(Net), POLICY)
    gain = torch.nn.init.calculate_gain("leaky_relu", 0.1)
    assert schedule["conv.weight"].final.dist == Normal(0.0, gain / (3 * 3 * 3) ** 0.5)
    assert schedule["fc.weight"].final.dist == TruncNormal(0, 0.02, -0.04, 0.04)
    assert schedule["fc.bias"].final.dist == Constant(0.1)
    assert schedule["norm.weight"].final.dist == Uniform(-0.5, 0.5)
    head = schedule["head.weight"]
    assert [type(w.dist) for w in head.writes] == [TruncNormal, Normal]
    assert head.skipped == 1 and schedule["head.bias"].final.dist == Constant(0.5)
    assert schedule.unwritten("parameter") == []
    assert set(schedule.unwritten("buffer")) == {"bn.running_mean", "bn.running_var",
                                                 "bn.num_batches_tracked"}
    assert schedule.summary()["skipped"] == 2


def test_plan_reads_and_writes_no_data():
    model = Net()
    before = by_name(model)
    versions = [p._version for p in model.parameters()]
    initdsl.plan(model, POLICY)
    assert by_name(model) == before
    assert [p._version for p in model.parameters()] == versions


def test_loads_are_planned_like_the_core_loads_them(tmp_path):
    source = Net()
    state = dict(source.state_dict())
    state["head.weight"] = torch.zeros(3, 3)  # mismatched: not loaded, reported
    state["extra.weight"] = torch.zeros(1)  # unexpected
    del state["conv.bias"]  # missing
    path = tmp_path / "net.pth"
    torch.save(state, path)
    policy = POLICY + f'load "{path}"\n'
    model = Net()
    expected = exact_records(model, policy)
    schedule = initdsl.plan(meta(Net), policy)
    assert {t.name: t.record for t in schedule.parameters} == expected
    assert isinstance(schedule["fc.weight"].final, Copy)
    assert isinstance(schedule["head.weight"].final, Draw)  # the rule's write stands
    assert isinstance(schedule["conv.bias"].final, Draw)
    assert schedule.loads == initdsl.provenance(model).loads


def test_user_code_is_an_opaque_final_writer():
    class Child(initdsl.BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type="Constant", val=2, layer="Linear"))
            self.fc = nn.Linear(4, 4)

        def init_weights(self):
            super().init_weights()
            nn.init.zeros_(self.fc.bias)

    class Parent(initdsl.BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type="Normal", layer="Linear"))
            self.child = Child()
            self.out = nn.Linear(4, 2)

    schedule = initdsl.plan(meta(Parent))
    final = schedule["child.fc.weight"].final
    assert isinstance(final, Opaque) and final.record.writer == "Child.init_weights"
    assert isinstance(schedule["child.fc.weight"].final_planned.dist, Normal)
    assert isinstance(schedule["out.weight"].final, Draw)
    assert len(schedule.barriers) == 1


def test_plan_is_the_function_and_the_core_planner_lives_in_core():
    assert callable(initdsl.plan) and initdsl.plan.__module__ == "initdsl.fast.schedule"
    from initdsl.core.planner import Planner

    assert importlib.import_module("initdsl.core.planner").Planner is Planner
    assert "plan" in initdsl.__all__ and "materialize" in initdsl.__all__


def test_bad_policies_raise_when_planned():
    with pytest.raises(initdsl.PolicyError):
        initdsl.plan(meta(Net), "Linear -> nope")
    with pytest.raises(initdsl.InitValueError):
        initdsl.plan(meta(Net), [dict(type="Kaiming", layer="LayerNorm")])


def test_explain_lists_every_parameter_with_its_rule():
    text = initdsl.plan(meta(Net), POLICY).explain()
    lines = text.splitlines()
    assert len(lines) == 1 + len(list(Net().parameters()))
    head = next(line for line in lines if line.startswith("head.weight"))
    assert "Normal" in head and "<string>:4:1" in head
