"""Exact provenance: writer, args, origin; user writes; JSON; the per-parameter log report."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from torch import nn

import initdsl


class Head(initdsl.BaseModule):
    def __init__(self):
        super().__init__([dict(type="Normal", std=0.01, layer="Linear"),
                          dict(type="Constant", val=0, bias_prob=0.01, layer="Linear",
                               override=[dict(name="fc"), dict(type="Uniform", name="cls")])])
        self.fc = nn.Linear(3, 3)
        self.cls = nn.Linear(3, 2)


class Net(initdsl.BaseModule):
    def __init__(self):
        super().__init__(dict(type="Kaiming", layer="Conv2d", mode="fan_in"))
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.head = Head()
        self.untouched = nn.Linear(2, 2)


def test_writer_args_origin_per_parameter():
    net = Net()
    net.init_weights()
    prov = initdsl.provenance(net)
    assert list(prov) == [n for n, _ in net.named_parameters()]
    conv = prov["conv.weight"]
    assert conv.writer == "Kaiming"
    assert conv.args == {"a": 0, "mode": "fan_in", "nonlinearity": "relu",
                         "distribution": "normal", "bias": 0}
    assert conv.origin == initdsl.Origin("", None, None) and str(conv.origin) == "init_cfg"
    fc = prov["head.fc.weight"]
    assert fc.writer == "Constant" and fc.args == {"val": 0, "bias": -4.59511985013459}
    assert fc.origin == initdsl.Origin("head", 1, 0)
    assert str(fc.origin) == "init_cfg[1].override[0] of 'head'"
    cls = prov["head.cls.bias"]
    assert cls.writer == "Uniform" and cls.args == {"a": 0, "b": 1, "bias": 0}
    assert cls.text == "UniformInit: a=0, b=1, bias=0"
    assert prov["untouched.weight"] is initdsl.provenance(net)["untouched.weight"]
    assert prov["untouched.weight"].writer is None and prov["bn.weight"].writer is None
    assert prov.shape("conv.weight") == (3, 2, 3, 3)
    assert repr(prov) == "<Provenance: 6/10 parameters written>"
    assert len(prov) == 10


def test_write_leaving_the_mean_unchanged_is_attributed():
    """Constant(1, 0) on a fresh BatchNorm: mmengine's log says 'The value is the same'."""
    class M(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=1, bias=0, layer="_BatchNorm"))
            self.bn = nn.BatchNorm2d(4)

    m = M()
    before = m.bn.weight.clone()
    m.init_weights()
    assert torch.equal(m.bn.weight, before)
    prov = initdsl.provenance(m)
    assert prov["bn.weight"].writer == "Constant" and prov["bn.bias"].writer == "Constant"


class UserWrites(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)
        self.c = nn.Linear(2, 2)
        self.d = nn.Linear(2, 2)

    def init_weights(self):
        self.a.weight.data.normal_()  # through .data
        self.b.weight.data = torch.zeros(2, 2)  # replacing .data
        with torch.no_grad():
            self.c.weight.mul_(1.0)  # in place, value unchanged
        self.d.weight.data.copy_(self.d.weight.data)  # through .data, value unchanged


def test_user_init_weights_writes_are_attributed_however_made():
    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__()
            self.user = UserWrites()

    net = Net()
    net.init_weights()
    prov = initdsl.provenance(net)
    for name in ("a", "b", "c", "d"):
        assert prov[f"user.{name}.weight"].writer == "UserWrites.init_weights", name
        assert prov[f"user.{name}.bias"].writer is None
    assert prov["user.a.weight"].origin == initdsl.Origin("user", via="init_weights")
    assert str(prov["user.a.weight"].origin) == "init_weights of 'user'"


def test_initializer_called_inside_user_code_keeps_its_name():
    class Child(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            initdsl.initialize(self, dict(type="Xavier", layer="Conv2d"))
            nn.init.ones_(self.fc.weight)

    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=3.0, layer=["Conv2d", "Linear"]))
            self.child = Child()

    net = Net()
    net.init_weights()
    prov = initdsl.provenance(net)
    assert prov["child.conv.weight"].writer == "Xavier"
    assert prov["child.conv.weight"].origin == initdsl.Origin("child", None, None)
    assert prov["child.fc.weight"].writer == "Child.init_weights"
    assert prov["child.fc.bias"].writer == "Constant"


def test_provenance_is_relative_to_the_queried_module():
    net = Net()
    net.init_weights()
    sub = initdsl.provenance(net.head)
    assert list(sub) == ["fc.weight", "fc.bias", "cls.weight", "cls.bias"]
    assert sub["fc.weight"] == initdsl.provenance(net)["head.fc.weight"]


def test_later_runs_update_the_record():
    lin = nn.Linear(2, 2)
    initdsl.initialize(lin, dict(type="Normal", layer="Linear"))
    initdsl.initialize(lin, dict(type="Constant", val=1, layer="Linear"))
    assert initdsl.provenance(lin)["weight"].writer == "Constant"


def test_json_round_trip(tmp_path):
    path = tmp_path / "c.pth"
    torch.save({"fc.weight": torch.ones(3, 3), "junk": torch.ones(1)}, path)

    class M(initdsl.BaseModule):
        def __init__(self):
            super().__init__([dict(type="Normal", layer="Linear", bias_prob=1.0),
                              dict(type="Pretrained", checkpoint=str(path))])
            self.fc = nn.Linear(3, 3)
            self.other = nn.Linear(3, 3)

    m = M()
    with pytest.warns(RuntimeWarning):
        m.init_weights()
    prov = initdsl.provenance(m)

    def no_constants(token):
        raise AssertionError(f"not strict JSON: {token}")

    text = prov.to_json(sort_keys=True)
    data = json.loads(text, parse_constant=no_constants)
    assert data == prov.to_dict()
    params = data["parameters"]
    assert params["fc.weight"] == {
        "shape": [3, 3], "writer": "Pretrained",
        "args": {"checkpoint": str(path), "prefix": None, "map_location": "cpu"},
        "origin": {"owner": "", "index": 1, "override": None, "source": None,
                   "via": "init_cfg"},
        "text": f"PretrainedInit: load from {path}"}
    assert params["other.bias"]["args"]["bias"] == "inf"  # non-finite floats become strings
    assert math.isinf(prov["other.bias"].args["bias"])
    assert data["loads"][0]["unexpected"] == ["junk"]
    assert data["loads"][0]["missing"] == ["fc.bias", "other.weight", "other.bias"]


def _report_records(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "initdsl" and r.levelno == logging.INFO and " - torch.Size" in
            r.getMessage()]


def test_per_parameter_report_shape(caplog):
    net = Net()
    with caplog.at_level(logging.INFO, logger="initdsl"):
        net.init_weights()
    lines = _report_records(caplog)
    assert len(lines) == 10
    assert lines[0] == ("\nconv.weight - torch.Size([3, 2, 3, 3]): \nKaimingInit: a=0, "
                        "mode=fan_in, nonlinearity=relu, distribution =normal, bias=0 \n ")
    assert lines[-1] == ("\nuntouched.bias - torch.Size([2]): \nThe value is the same before "
                         "and after calling `init_weights` of Net  \n ")


def test_report_only_for_top_level_init_weights(caplog):
    net = Net()
    with caplog.at_level(logging.INFO, logger="initdsl"):
        initdsl.initialize(net, dict(type="Normal", layer="Linear"))
    assert _report_records(caplog) == []
    with caplog.at_level(logging.INFO, logger="initdsl"):
        net.head.init_weights()
    assert len(_report_records(caplog)) == 4  # the head is the top of this run


def test_report_is_silenced_by_logger_level(caplog):
    logger = logging.getLogger("initdsl")
    level = logger.level
    caplog.set_level(logging.INFO)  # root/handler would accept INFO
    logger.setLevel(logging.WARNING)
    try:
        Net().init_weights()
    finally:
        logger.setLevel(level)
    assert _report_records(caplog) == []
