"""``override``: dict/list, name-only vs typed entries, whole-module mode, Pretrained entries."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initdsl

from .helpers import sign_bit


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 4, 3)
        self.reg = nn.Conv2d(4, 2, 3)
        self.cls = nn.Sequential(nn.Conv2d(4, 3, 1), nn.BatchNorm2d(3), nn.LayerNorm(3))
        self.fc = nn.Linear(3, 3)


def writers(model):
    return {k: r.writer for k, r in initdsl.provenance(model).items()}


def test_dict_override_runs_after_its_cfg():
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=1, bias=2, layer="Conv2d",
                                 override=dict(type="Constant", name="reg", val=3, bias=4)))
    assert torch.all(net.feat.weight == 1) and torch.all(net.feat.bias == 2)
    assert torch.all(net.reg.weight == 3) and torch.all(net.reg.bias == 4)
    assert torch.all(net.cls[0].weight == 1)


def test_list_override_in_order():
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=1, layer="Conv2d", override=[
        dict(type="Constant", name="reg", val=3), dict(type="Constant", name="fc", val=5),
        dict(type="Constant", name="reg", val=6)]))
    assert torch.all(net.reg.weight == 6) and torch.all(net.fc.weight == 5)
    prov = initdsl.provenance(net)
    assert prov["reg.weight"].origin.override == 2 and prov["fc.weight"].origin.override == 1


def test_name_only_inherits_parent_args_but_not_layer():
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=7, bias=-1, layer="Linear",
                                 override=dict(name="cls")))
    # whole module: the conv, the BatchNorm and the LayerNorm all get val=7, bias=-1
    for m in net.cls:
        assert torch.all(m.weight == 7) and torch.all(m.bias == -1)
    assert torch.all(net.fc.weight == 7)
    assert not torch.all(net.feat.weight == 7)


def test_name_only_inherits_bias_prob():
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=0, bias_prob=0.5,
                                 override=dict(name="fc")))
    assert all(sign_bit(v) for v in net.fc.bias.tolist())
    assert initdsl.provenance(net)["fc.bias"].args["bias"] == 0 and sign_bit(
        initdsl.provenance(net)["fc.bias"].args["bias"])


def test_typed_entry_inherits_nothing():
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=1, bias=9, layer="Conv2d",
                                 override=dict(type="Constant", name="reg", val=3)))
    assert torch.all(net.reg.bias == 0)  # the default bias, not the parent's 9
    torch.manual_seed(0)
    net2 = Net()
    initdsl.initialize(net2, dict(type="Normal", std=100.0, bias=5, layer="Linear",
                                  override=dict(type="Normal", name="fc")))
    assert net2.fc.weight.abs().max() < 10 and torch.all(net2.fc.bias == 0)


def test_whole_module_mode_writes_norms_and_ignores_layer():
    net = Net()
    initdsl.initialize(net, dict(type="Normal", layer="Conv2d",
                                 override=dict(type="Constant", name="cls", val=2,
                                               layer="Conv3d")))
    for m in net.cls:
        assert torch.all(m.weight == 2) and torch.all(m.bias == 0)
    assert [k for k, v in writers(net).items() if v is None] == ["fc.weight", "fc.bias"]


def test_override_without_parent_layer_still_runs():
    net = Net()
    initdsl.initialize(net, dict(type="Uniform", a=2, b=3, override=dict(name="fc")))
    assert net.fc.weight.min() >= 2
    assert writers(net)["feat.weight"] is None


def test_override_redraws_after_parent():
    """The parent cfg draws for fc, then the override draws again: two draws, the last wins."""
    torch.manual_seed(0)
    net = Net()
    torch.manual_seed(1)
    initdsl.initialize(net, dict(type="Normal", layer="Linear", override=dict(name="fc")))
    torch.manual_seed(0)
    ref = Net()
    torch.manual_seed(1)
    ref.fc.weight.data.normal_()
    ref.fc.weight.data.normal_()
    assert torch.equal(net.fc.weight, ref.fc.weight)


def test_override_runs_before_next_cfg():
    net = Net()
    initdsl.initialize(net, [dict(type="Constant", val=1, layer="Linear",
                                  override=dict(type="Constant", name="fc", val=2)),
                             dict(type="Constant", val=3, layer="Linear")])
    assert torch.all(net.fc.weight == 3)
    assert initdsl.provenance(net)["fc.weight"].origin.index == 1


def test_override_container_child_names():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    initdsl.initialize(seq, dict(type="Constant", val=1, layer="Linear",
                                 override=[dict(name="2", type="Constant", val=4)]))
    assert torch.all(seq[0].weight == 1) and torch.all(seq[2].weight == 4)


def test_override_inside_basemodule_cfg():
    class Head(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Normal", std=0.01, layer="Linear",
                                  override=dict(name="cls", type="Constant", val=0,
                                                bias_prob=0.01)))
            self.fc = nn.Linear(3, 3)
            self.cls = nn.Linear(3, 2)

    head = Head()
    head.init_weights()
    assert torch.all(head.cls.weight == 0)
    assert torch.allclose(head.cls.bias, torch.full((2,), -4.59511985013459))
    assert initdsl.provenance(head)["cls.bias"].origin == initdsl.Origin("", None, 0)


def test_pretrained_override_loads_into_named_child(tmp_path):
    src = Net()
    nn.init.constant_(src.fc.weight, 42.0)
    path = tmp_path / "net.pth"
    torch.save(src.state_dict(), path)
    net = Net()
    initdsl.initialize(net, dict(type="Constant", val=0, layer="Linear",
                                 override=dict(type="Pretrained", name="fc", checkpoint=str(path),
                                               prefix="fc")))
    assert torch.all(net.fc.weight == 42)
    assert torch.equal(net.fc.bias, src.fc.bias)
    prov = initdsl.provenance(net)
    assert prov["fc.weight"].writer == "Pretrained"
    (load,) = prov.loads
    assert load.module == "fc" and set(load.loaded) == {"weight", "bias"} and load.clean


def test_name_only_override_under_pretrained_reloads_whole_checkpoint(tmp_path, caplog):
    src = Net()
    path = tmp_path / "net.pth"
    torch.save(src.state_dict(), path)
    net = Net()
    with caplog.at_level("WARNING", logger="initdsl"):
        initdsl.initialize(net, dict(type="Pretrained", checkpoint=str(path),
                                     override=dict(name="fc")))
    assert torch.equal(net.feat.weight, src.feat.weight)
    loads = initdsl.provenance(net).loads
    assert [r.module for r in loads] == ["", "fc"]
    assert loads[1].missing == ("weight", "bias") and "fc.weight" in loads[1].unexpected
    assert any("missing keys in source state_dict: weight, bias" in r.getMessage()
               for r in caplog.records)


def test_override_errors_name_the_entry():
    net = Net()
    with pytest.raises(RuntimeError, match=r"init_cfg\.override\[1\].*did you mean 'reg'"):
        initdsl.initialize(net, dict(type="Normal", layer="Linear",
                                     override=[dict(name="fc"), dict(name="rge")]))
    with pytest.raises(RuntimeError, match="dotted paths"):
        initdsl.initialize(net, dict(type="Normal", override=dict(name="cls.0")))


def test_inf_bias_through_override():
    net = Net()
    with pytest.warns(RuntimeWarning):
        initdsl.initialize(net, dict(type="Constant", val=0, bias_prob=1.0,
                                     override=dict(name="fc")))
    assert torch.all(net.fc.bias == math.inf)
