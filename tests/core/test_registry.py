"""The initializer registry: names, lookup errors, user initializers, ``type`` as a class."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initdsl
from initdsl import WEIGHT_INITIALIZERS, BaseInit

BUILTINS = {
    "Constant": initdsl.ConstantInit,
    "Xavier": initdsl.XavierInit,
    "Normal": initdsl.NormalInit,
    "TruncNormal": initdsl.TruncNormalInit,
    "Uniform": initdsl.UniformInit,
    "Kaiming": initdsl.KaimingInit,
    "Caffe2Xavier": initdsl.Caffe2XavierInit,
    "Pretrained": initdsl.PretrainedInit,
}


def test_builtin_names():
    for name, cls in BUILTINS.items():
        assert name in WEIGHT_INITIALIZERS
        assert WEIGHT_INITIALIZERS.get(name) is cls
        assert WEIGHT_INITIALIZERS.name_of(cls) == name
    assert issubclass(initdsl.Caffe2XavierInit, initdsl.KaimingInit)
    assert not issubclass(initdsl.PretrainedInit, BaseInit)


@pytest.mark.parametrize("name, suggestion", [
    ("KaimingInit", "Kaiming"), ("kaiming", "Kaiming"), ("Kaimnig", "Kaiming"),
    ("normal", "Normal"), ("TruncatedNormal", "TruncNormal"), ("pretrained", "Pretrained"),
])
def test_unknown_type_is_key_error_with_did_you_mean(name, suggestion):
    with pytest.raises(KeyError) as info:
        initdsl.initialize(nn.Linear(2, 2), dict(type=name, layer="Linear"))
    assert isinstance(info.value, initdsl.InitKeyError)
    text = str(info.value)
    assert f"did you mean {suggestion!r}" in text and repr(name) in text
    assert not text.startswith("\"")  # not KeyError's quoted repr


def test_unknown_type_without_close_match_lists_registered():
    with pytest.raises(initdsl.InitKeyError, match="registered: Constant"):
        WEIGHT_INITIALIZERS.lookup("Zzzzzz")


def test_unknown_argument_suggests_close_name():
    with pytest.raises(initdsl.InitTypeError, match="did you mean 'std'"):
        initdsl.initialize(nn.Linear(2, 2), dict(type="Normal", sdt=0.1, layer="Linear"))


def test_type_given_as_class():
    torch.manual_seed(0)
    a = nn.Linear(3, 3)
    torch.manual_seed(0)
    b = nn.Linear(3, 3)
    torch.manual_seed(1)
    initdsl.initialize(a, dict(type=initdsl.NormalInit, std=0.5, layer="Linear"))
    torch.manual_seed(1)
    initdsl.initialize(b, dict(type="Normal", std=0.5, layer="Linear"))
    assert torch.equal(a.weight, b.weight)
    assert initdsl.provenance(a)["weight"].writer == "Normal"


class _Calls:
    """A plain callable initializer (not a BaseInit): mmengine calls it on the target."""

    seen: list = []

    def __init__(self, scale=1.0):
        self.scale = scale

    def __call__(self, module):
        _Calls.seen.append((type(module).__name__, getattr(self, "wholemodule", None)))
        for p in module.parameters():
            with torch.no_grad():
                p.fill_(self.scale)


def test_type_given_as_plain_callable_class():
    _Calls.seen = []
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    initdsl.initialize(model, dict(type=_Calls, scale=3.0, override=dict(type=_Calls, name="1",
                                                                          scale=4.0)))
    assert _Calls.seen == [("Sequential", False), ("Linear", True)]
    assert torch.all(model[0].weight == 3) and torch.all(model[1].weight == 4)
    prov = initdsl.provenance(model)
    assert prov["0.weight"].writer == "_Calls" and prov["1.bias"].writer == "_Calls"


@pytest.fixture
def orthogonal():
    """A user initializer registered the documented way; unregistered afterwards."""

    @WEIGHT_INITIALIZERS.register_module()
    class UserOrthogonal(BaseInit):
        def __init__(self, gain=1.0, **kwargs):
            super().__init__(**kwargs)
            self.gain = gain

        def init_weight(self, weight):
            nn.init.orthogonal_(weight, gain=self.gain)

        def check_weight(self, weight):
            return None if weight.dim() >= 2 else "Orthogonal needs a >= 2-D weight"

    try:
        yield UserOrthogonal
    finally:
        WEIGHT_INITIALIZERS._classes.pop("UserOrthogonal", None)


def _orthogonal_reference(shape, gain, seed):
    torch.manual_seed(seed)
    w = torch.empty(shape)
    nn.init.orthogonal_(w, gain=gain)
    return w


def test_user_initializer_in_initialize(orthogonal):
    lin = nn.Linear(4, 4)
    torch.manual_seed(3)
    initdsl.initialize(lin, dict(type="UserOrthogonal", gain=0.5, bias=1, layer="Linear"))
    assert torch.equal(lin.weight, _orthogonal_reference((4, 4), 0.5, 3))
    assert torch.all(lin.bias == 1)
    record = initdsl.provenance(lin)["weight"]
    assert record.writer == "UserOrthogonal" and record.args == {"gain": 0.5, "bias": 1}
    assert record.text == "UserOrthogonal: gain=0.5, bias=1"


def test_user_initializer_in_basemodule_and_overrides(orthogonal):
    class Net(initdsl.BaseModule):
        def __init__(self):
            super().__init__(dict(type="UserOrthogonal", layer="Conv2d",
                                  override=[dict(name="head"),
                                            dict(type="UserOrthogonal", name="fc", gain=2.0)]))
            self.conv = nn.Conv2d(2, 2, 1)
            self.head = nn.Linear(3, 3)
            self.fc = nn.Linear(3, 3)
            self.other = nn.Linear(3, 3)

    net = Net()
    net.init_weights()
    prov = initdsl.provenance(net)
    assert {k: r.writer for k, r in prov.items()} == {
        "conv.weight": "UserOrthogonal", "conv.bias": "UserOrthogonal", "head.weight": "UserOrthogonal",
        "head.bias": "UserOrthogonal", "fc.weight": "UserOrthogonal", "fc.bias": "UserOrthogonal",
        "other.weight": None, "other.bias": None}
    w = net.fc.weight
    assert torch.allclose(w @ w.T, 4 * torch.eye(3), atol=1e-5)  # gain 2, orthogonal rows
    assert prov["head.weight"].args["gain"] == 1.0  # name-only: the parent's args


def test_user_initializer_argument_errors(orthogonal):
    with pytest.raises(initdsl.InitTypeError, match="did you mean 'gain'"):
        initdsl.initialize(nn.Linear(2, 2), dict(type="UserOrthogonal", gian=1, layer="Linear"))
    with pytest.raises(initdsl.InitValueError, match="Orthogonal needs"):
        initdsl.initialize(nn.LayerNorm(2), dict(type="UserOrthogonal", layer="LayerNorm"))


def test_user_initializer_constructor_errors_keep_their_class():
    @WEIGHT_INITIALIZERS.register_module(name="Picky")
    class Picky(BaseInit):
        def __init__(self, level=0, **kwargs):
            super().__init__(**kwargs)
            if level < 0:
                raise ValueError("level must be >= 0")
            if level > 10:
                raise KeyError("level")

        def init_weight(self, weight):
            weight.data.zero_()

    try:
        for level, error in ((-1, ValueError), (11, KeyError)):
            lin = nn.Linear(2, 2)
            before = lin.weight.clone()
            with pytest.raises(error) as info:
                initdsl.initialize(lin, [dict(type="Constant", val=1, layer="Linear"),
                                         dict(type="Picky", level=level, layer="Linear")])
            assert isinstance(info.value, initdsl.InitError)
            assert "init_cfg[1]" in str(info.value)
            assert torch.equal(lin.weight, before)
    finally:
        WEIGHT_INITIALIZERS._classes.pop("Picky", None)


def test_register_twice_needs_force():
    class A(BaseInit):
        pass

    class B(BaseInit):
        pass

    WEIGHT_INITIALIZERS.register_module(name="TmpInit", module=A)
    try:
        WEIGHT_INITIALIZERS.register_module(name="TmpInit", module=A)  # same class: fine
        with pytest.raises(KeyError, match="already registered"):
            WEIGHT_INITIALIZERS.register_module(name="TmpInit", module=B)
        WEIGHT_INITIALIZERS.register_module(name="TmpInit", module=B, force=True)
        assert WEIGHT_INITIALIZERS.get("TmpInit") is B
    finally:
        WEIGHT_INITIALIZERS._classes.pop("TmpInit", None)


def test_registry_container_protocol():
    names = list(WEIGHT_INITIALIZERS)
    assert names[:8] == list(BUILTINS)
    assert len(WEIGHT_INITIALIZERS) == len(names)
    assert dict(WEIGHT_INITIALIZERS.items())["Normal"] is initdsl.NormalInit
    assert "Normal" in repr(WEIGHT_INITIALIZERS)
    assert "KaimingInit" not in WEIGHT_INITIALIZERS and "kaiming" not in WEIGHT_INITIALIZERS


def test_build_does_not_mutate_cfg():
    cfg = dict(type="Normal", std=0.1, layer=["Linear"])
    copy = {k: (list(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    WEIGHT_INITIALIZERS.build(cfg)
    initdsl.initialize(nn.Linear(2, 2), cfg)
    assert cfg == copy


class _Forgot(BaseInit):
    """A subclass that defines neither init_weight nor __call__."""


class _Callable(BaseInit):
    """mmengine's way: called on the module."""

    def __call__(self, module):  # given the module that holds the cfg, as mmengine does
        for sub in module.modules():
            if isinstance(sub, nn.Linear):
                torch.nn.init.zeros_(sub.weight)


@pytest.mark.parametrize("kind, label", [(BaseInit, "BaseInit"), (_Forgot, "_Forgot")])
def test_an_abstract_initializer_is_refused_before_anything_is_written(kind, label):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(initdsl.InitTypeError, match=f"{label} is an abstract initializer"):
        initdsl.initialize(model, [dict(type="Constant", layer="Linear", val=3.0),
                                   dict(type=kind, layer="Linear")])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_callable_subclass_without_init_weight_is_not_abstract():
    model = nn.Sequential(nn.Linear(2, 2))
    initdsl.initialize(model, dict(type=_Callable, layer="Linear"))
    assert torch.equal(model[0].weight, torch.zeros(2, 2))
