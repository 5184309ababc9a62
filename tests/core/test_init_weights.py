"""``BaseModule.init_weights``: phases, is_init, user init_weights, containers."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit

from .helpers import changed, snapshot

ORDER: list[tuple[str, int]] = []


@pytest.fixture
def recorder():
    """A registered initializer that records (tag, id(weight)) instead of drawing."""

    class Recorder(BaseInit):
        def __init__(self, tag="", **kwargs):
            super().__init__(**kwargs)
            self.tag = tag

        def init_weight(self, weight):
            ORDER.append((self.tag, id(weight)))
            with torch.no_grad():
                weight.fill_(0.5)

    WEIGHT_INITIALIZERS.register_module(name="Recorder", module=Recorder)
    ORDER.clear()
    try:
        yield ORDER
    finally:
        WEIGHT_INITIALIZERS._classes.pop("Recorder", None)


def _names(model):
    return {id(p): n for n, p in model.named_parameters()}


def R(tag, layer="Linear", **kw):
    return dict(type="Recorder", tag=tag, layer=layer, **kw)


def test_phases_own_cfgs_then_children_in_registration_order_then_pretrained(
        recorder, tmp_path):
    class Child(initdsl.BaseModule):
        def __init__(self, tag):
            super().__init__(R(tag))
            self.fc = nn.Linear(2, 2)

    path = tmp_path / "z.pth"
    torch.save({"z.fc.weight": torch.full((2, 2), 9.0), "z.fc.bias": torch.zeros(2)}, path)

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__([dict(type="Pretrained", checkpoint=str(path)),
                              R("parent-1"), R("parent-2")])
            self.z = Child("z")  # registered first although named last
            self.a = Child("a")

    net = Net()
    net.init_weights()
    names = _names(net)
    assert [(tag, names[i]) for tag, i in recorder] == [
        ("parent-1", "z.fc.weight"), ("parent-1", "a.fc.weight"),
        ("parent-2", "z.fc.weight"), ("parent-2", "a.fc.weight"),
        ("z", "z.fc.weight"), ("a", "a.fc.weight")]
    assert torch.all(net.z.fc.weight == 9)  # Pretrained last
    prov = initdsl.provenance(net)
    assert prov["z.fc.weight"].writer == "Pretrained"
    assert prov["a.fc.weight"].writer == "Recorder"
    assert prov["a.fc.weight"].origin == initdsl.Origin("a", None, None)
    assert net.is_init and net.z.is_init and net.a.is_init


def test_parent_phase_one_writes_an_is_init_child(recorder):
    class Child(initdsl.BaseModule):
        def __init__(self):
            super().__init__(R("child"))
            self.fc = nn.Linear(2, 2)

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(R("parent"))
            self.child = Child()

    net = Net()
    net.child.is_init = True
    net.init_weights()
    assert [tag for tag, _ in recorder] == ["parent"]


def test_child_initialized_first_is_clobbered_not_rerun(recorder):
    class Child(initdsl.BaseModule):
        def __init__(self):
            super().__init__(R("child"))
            self.fc = nn.Linear(2, 2)

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=3.0, layer="Linear"))
            self.child = Child()

    net = Net()
    net.child.init_weights()
    net.init_weights()
    assert [tag for tag, _ in recorder] == ["child"]
    assert torch.all(net.child.fc.weight == 3)


def test_init_weights_twice_warns_and_does_nothing(caplog):
    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Normal", layer="Linear"))
            self.fc = nn.Linear(3, 3)

    net = Net()
    net.init_weights()
    before = snapshot(net)
    state = torch.get_rng_state()
    with caplog.at_level(logging.WARNING, logger="initdsl"):
        net.init_weights()
    assert changed(before, snapshot(net)) == []
    assert torch.equal(state, torch.get_rng_state())
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "init_weights of Net has been called more than once."]


def test_is_init_set_by_hand_skips_everything(caplog):
    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Normal", layer="Linear"))
            self.fc = nn.Linear(3, 3)

    net = Net()
    net.is_init = True
    before = snapshot(net)
    with caplog.at_level(logging.WARNING, logger="initdsl"):
        net.init_weights()
    assert changed(before, snapshot(net)) == []
    assert "called more than once" in caplog.text
    net.is_init = False
    net.init_weights()
    assert changed(before, snapshot(net)) != []


class PlainWithInit(nn.Module):
    calls = 0

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def init_weights(self):
        PlainWithInit.calls += 1
        self.fc.weight.data.normal_()  # through .data: no version bump on the Parameter
        self.scale.data = torch.full((3,), 2.0)  # replaces the data


def test_plain_child_init_weights_is_called_and_attributed():
    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=1.0, layer="Linear"))
            self.child = PlainWithInit()

    PlainWithInit.calls = 0
    net = Net()
    net.init_weights()
    assert PlainWithInit.calls == 1
    assert torch.all(net.child.scale == 2)
    prov = initdsl.provenance(net)
    assert prov["child.fc.weight"].writer == "PlainWithInit.init_weights"
    assert prov["child.scale"].writer == "PlainWithInit.init_weights"
    assert prov["child.fc.bias"].writer == "Constant"  # parent phase 1; the child left it
    assert prov["child.fc.weight"].text == "Initialized by user-defined `init_weights` in " \
                                           "PlainWithInit "
    # plain modules have no is_init: re-run whenever the parent runs
    net.is_init = False
    net.init_weights()
    assert PlainWithInit.calls == 2


def test_basemodule_overriding_init_weights_with_super():
    class Block(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=2.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)
            self.extra = nn.Linear(2, 2)
            self.inner = PlainWithInit()

        def init_weights(self):
            super().init_weights()
            nn.init.zeros_(self.extra.weight)

    class NoSuper(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=5.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            pass

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.nosuper = NoSuper()

    net = Net()
    net.init_weights()
    prov = initdsl.provenance(net)
    assert prov["block.fc.weight"].writer == "Constant"
    assert prov["block.extra.weight"].writer == "Block.init_weights"
    assert prov["block.extra.bias"].writer == "Constant"
    assert prov["block.inner.fc.weight"].writer == "PlainWithInit.init_weights"
    assert prov["nosuper.fc.weight"].writer is None  # its own cfg never ran
    assert net.block.is_init and not net.nosuper.is_init
    assert not torch.all(net.nosuper.fc.weight == 5)


def _inner(cfg=None):
    class Inner(initdsl.BaseModule):
        def __init__(self):
            super().__init__(cfg or dict(type="Constant", val=7.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)

    return Inner()


@pytest.mark.parametrize("container", ["Sequential", "ModuleList", "ModuleDict"])
def test_basemodule_containers_chain(container):
    inners = [_inner(), _inner()]
    if container == "Sequential":
        box = initdsl.Sequential(*inners, init_cfg=dict(type="Constant", val=1.0,
                                                          layer="Linear"))
    elif container == "ModuleList":
        box = initdsl.ModuleList(inners, init_cfg=dict(type="Constant", val=1.0,
                                                       layer="Linear"))
    else:
        box = initdsl.ModuleDict({"a": inners[0], "b": inners[1]},
                                 init_cfg=dict(type="Constant", val=1.0, layer="Linear"))
    box.init_weights()
    assert all(i.is_init and torch.all(i.fc.weight == 7) for i in inners)
    assert box.is_init and "init_cfg=" in repr(box)


@pytest.mark.parametrize("plain", [nn.Sequential, lambda *m: nn.ModuleList(m),
                                   lambda *m: nn.ModuleDict({"x": m[0]})])
def test_plain_containers_block_the_chain(plain):
    inner = _inner()

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=1.0, layer="Linear"))
            self.box = plain(inner)

    net = Net()
    net.init_weights()
    assert not inner.is_init
    assert torch.all(inner.fc.weight == 1)  # the parent's layer matching still reaches it
    assert initdsl.provenance(net)["box." + ("x" if isinstance(net.box, nn.ModuleDict)
                                             else "0") + ".fc.weight"].writer == "Constant"


@pytest.mark.parametrize("cfg", [None, {}, []])
def test_falsy_init_cfg_still_chains(cfg):
    inner = _inner()

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(cfg)
            self.inner = inner

    net = Net()
    net.init_weights()
    assert net.is_init and inner.is_init and torch.all(inner.fc.weight == 7)


def test_tuple_init_cfg_is_iterated_like_mmengine():
    net = _inner((dict(type="Constant", val=4.0, layer="Linear"),
                  dict(type="Constant", val=6.0, bias=1, layer="Linear")))
    net.init_weights()
    assert torch.all(net.fc.weight == 6) and torch.all(net.fc.bias == 1)
    assert initdsl.provenance(net)["fc.weight"].origin.index == 1


def test_init_cfg_is_deep_copied_and_read_at_call_time():
    cfg = [dict(type="Constant", val=1.0, layer=["Linear"])]
    net = _inner(cfg)
    cfg[0]["val"] = 99.0
    net.init_cfg[0]["val"] = 3.0  # read when init_weights runs
    net.init_weights()
    assert torch.all(net.fc.weight == 3)
    assert net.init_cfg == [dict(type="Constant", val=3.0, layer=["Linear"])]


def test_initialize_never_calls_init_weights_nor_touches_is_init():
    net = _inner()
    net.init_weights = lambda: pytest.fail("called")  # noqa: ARG005
    initdsl.initialize(net, dict(type="Normal", layer="Linear"))
    assert not net.is_init


def test_initialize_runs_pretrained_in_place(tmp_path):
    src = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Linear(2, 2))
    path = tmp_path / "s.pth"
    torch.save(src.state_dict(), path)
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Linear(2, 2))
    initdsl.initialize(model, [dict(type="Pretrained", checkpoint=str(path)),
                               dict(type="Constant", val=0.0, layer="Conv2d")])
    assert torch.all(model[0].weight == 0) and torch.equal(model[1].weight, src[1].weight)
    prov = initdsl.provenance(model)
    assert prov["0.weight"].writer == "Constant" and prov["1.weight"].writer == "Pretrained"


def test_failed_run_leaves_is_init_false_and_completed_children_true():
    class Good(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=1.0, layer="Linear"))
            self.fc = nn.Linear(2, 2)

    class Boom(nn.Module):
        def init_weights(self):
            raise RuntimeError("user code failed")

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__()
            self.good = Good()
            self.boom = Boom()

    net = Net()
    with pytest.raises(RuntimeError, match="user code failed"):
        net.init_weights()
    assert net.good.is_init and not net.is_init
