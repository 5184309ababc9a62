"""User code in fast mode: it runs as in exact mode, after the planned writes before it."""

from __future__ import annotations

import torch
from torch import nn

import initdsl
from initdsl.fast.rng import stream_seed

from .models import by_name, fast, meta


class Scaled(initdsl.BaseModule):
    """Its own init_weights reads what the parent's rule wrote and rescales it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1536, 1024)

    def init_weights(self):
        with torch.no_grad():
            self.fc.weight.mul_(0.5)


class Chaining(initdsl.BaseModule):
    """Its own init_weights chains into its init_cfg, then rescales."""

    def __init__(self):
        super().__init__(init_cfg=dict(type="Normal", std=1.0, layer="Linear"))
        self.fc = nn.Linear(64, 32)

    def init_weights(self):
        super().init_weights()
        with torch.no_grad():
            self.fc.weight.mul_(0.5)


class Noisy(initdsl.BaseModule):
    """Its own init_weights draws from torch's global generator."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def init_weights(self):
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(8, 8))


class Parent(initdsl.BaseModule):
    def __init__(self, child: type = Scaled):
        super().__init__(init_cfg=dict(type="Constant", val=3, layer="Linear"))
        self.child = child()
        self.noisy = Noisy()
        self.out = nn.Linear(8, 2)


def test_user_code_sees_the_planned_writes_before_it():
    model = fast(Parent(Scaled), None, seed=0)
    assert torch.all(model.child.fc.weight == 1.5)  # the parent's constant(3), halved
    assert torch.all(model.child.fc.bias == 0)
    prov = initdsl.provenance(model)
    assert prov["child.fc.weight"].writer == "Scaled.init_weights"
    assert prov["child.fc.bias"].writer == "Constant"
    assert prov["out.weight"].writer == "Constant"
    exact = Parent(Scaled)
    exact.init_weights()
    flags = lambda m: [(n, x.is_init) for n, x in m.named_modules()  # noqa: E731
                       if isinstance(x, initdsl.BaseModule)]
    assert flags(model) == flags(exact)


def test_what_user_code_chains_into_runs_in_exact_mode_from_a_keyed_state():
    model = fast(Parent(Chaining), None, seed=0)
    reference = Chaining()
    torch.manual_seed(stream_seed(0, "user|child"))
    reference.init_weights()
    assert torch.equal(model.child.fc.weight, reference.fc.weight)
    assert initdsl.provenance(model)["child.fc.weight"].writer == "Chaining.init_weights"


def test_user_draws_are_keyed_and_the_global_state_is_restored():
    a, b = Parent(), Parent()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    fast(a, None, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)  # another global state: same values
    fast(b, None, seed=4)
    assert by_name(a) == by_name(b)
    assert initdsl.provenance(a)["noisy.fc.weight"].writer == "Noisy.init_weights"


def test_materialize_runs_user_code_after_allocation():
    done = initdsl.materialize(meta(Parent), seed=4)
    built = fast(Parent(), None, seed=4)
    for name in ("child.fc.weight", "child.fc.bias", "noisy.fc.weight", "out.weight"):
        assert torch.equal(dict(done.named_parameters())[name],
                           dict(built.named_parameters())[name]), name


def test_a_models_own_init_weights_is_one_barrier():
    class Root(initdsl.BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type="Constant", val=1, layer="Linear"))
            self.fc = nn.Linear(4, 4)

        def init_weights(self):
            super().init_weights()
            with torch.no_grad():
                self.fc.bias.fill_(7)

    schedule = initdsl.plan(Root())
    assert schedule.user_root and len(schedule.barriers) == 1
    model = fast(Root(), None)
    assert torch.all(model.fc.weight == 1) and torch.all(model.fc.bias == 7)
