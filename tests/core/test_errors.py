"""Every §11 error: raised before writing, as an InitError that is also mmengine's exception.

Each row builds a fresh model, snapshots every parameter and buffer as bytes
and the RNG state, runs the failing call, and checks that

* the error is an :class:`initdsl.InitError` and an instance of the exception
  class mmengine raises in that situation,
* its message names the cfg position and the offending key (or value),
* no byte of any parameter or buffer changed and nothing was drawn — also
  when the bad cfg comes after valid ones, in a second override entry, in a
  child's cfg, or matches nothing at all.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import initdsl

from .helpers import changed, snapshot


class Meta:
    """A custom object in a checkpoint (not allow-listed for weights_only loading)."""


class Child(initdsl.BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = nn.Linear(3, 3)


class NeedsArgs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def init_weights(self, pretrained):  # old mmcv signature: called with no arguments
        pass


class BaseNeedsArgs(initdsl.BaseModule):
    def __init__(self):
        super().__init__(dict(type="Constant", val=1.0, layer="Linear"))
        self.fc = nn.Linear(2, 2)

    def init_weights(self, pretrained):
        super().init_weights()


class Net(initdsl.BaseModule):
    def __init__(self, init_cfg=None, child_cfg=None, extra=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.ln = nn.LayerNorm(3)
        self.fc = nn.Linear(3, 3)
        self.lstm = nn.LSTM(2, 2)
        self.child = Child(child_cfg)
        if extra is not None:
            self.extra = extra


GOOD = dict(type="Normal", layer=["Conv2d", "Linear"])  # a valid cfg that writes and draws
GOOD2 = dict(type="Constant", val=2.0, layer="_BatchNorm")


def resolve(cfg, files):
    """Entries may be functions of the checkpoint files (made once per module)."""
    if isinstance(cfg, list):
        return [resolve(c, files) for c in cfg]
    return cfg(files) if callable(cfg) else cfg


def init(cfg):
    """initialize(Net(), cfg)."""
    return (lambda f: Net(), lambda m, f: initdsl.initialize(m, resolve(cfg, f)))


def own(cfg, child_cfg=None, extra=None):
    """Net(init_cfg=cfg).init_weights()."""
    def build(f):
        return Net(resolve(cfg, f), child_cfg, extra() if extra else None)
    return (build, lambda m, f: m.init_weights())


def pre(file):
    return lambda f: f[file]


# id: ((build, act), mmengine's exception, substrings the message must contain)
ROWS = {
    # initialize() / init_cfg containers
    "initialize-not-dict-or-list": (init("Normal"), TypeError, ["init_cfg", "str"]),
    "initialize-tuple": (init((GOOD,)), TypeError, ["init_cfg", "tuple"]),
    "list-item-string": (init([GOOD, "Normal"]), AttributeError, ["init_cfg[1]", "'Normal'"]),
    "list-item-list": (init([GOOD, [GOOD2]]), TypeError, ["init_cfg[1]", "dict"]),
    "initialize-empty-dict": (init({}), KeyError, ["init_cfg", "'type'"]),
    "cfg-without-type-later": (init([GOOD, dict(layer="Linear", std=1)]), KeyError,
                               ["init_cfg[1]", "'type'"]),
    "own-list-item-not-dict": (own([GOOD, "Normal"]), AssertionError, ["init_cfg[1]"]),
    "own-string-init-cfg": (own("Normal"), AssertionError, ["init_cfg", "'N'"]),
    "own-int-init-cfg": (own(5), TypeError, ["init_cfg", "5"]),
    "own-entry-without-type": (own([GOOD, dict(layer="Linear")]), KeyError,
                               ["init_cfg[1]", "'type'"]),
    # registry and constructors
    "unknown-type": (init([GOOD, dict(type="Kaimnig", layer="Conv2d")]), KeyError,
                     ["init_cfg[1]", "type 'Kaimnig'", "did you mean 'Kaiming'"]),
    "class-name-as-type": (init(dict(type="KaimingInit", layer="Conv2d")), KeyError,
                           ["init_cfg", "'KaimingInit'"]),
    "lower-case-type": (own([GOOD, dict(type="kaiming", layer="Conv2d")]), KeyError,
                        ["init_cfg[1]", "'kaiming'"]),
    "unknown-argument": (init([GOOD, dict(type="Normal", sdt=0.1, layer="Linear")]), TypeError,
                         ["init_cfg[1]", "'sdt'", "did you mean 'std'"]),
    "constant-without-val": (init([GOOD, dict(type="Constant", layer="Linear")]), TypeError,
                             ["init_cfg[1]", "'val'"]),
    "pretrained-without-checkpoint": (own([GOOD, dict(type="Pretrained")]), TypeError,
                                      ["init_cfg[1]", "'checkpoint'"]),
    "bias-not-number": (init([GOOD, dict(type="Normal", bias="0", layer="Linear")]), TypeError,
                        ["init_cfg[1]", "'bias'"]),
    "bias-prob-int": (init([GOOD, dict(type="Normal", bias_prob=1, layer="Linear")]), TypeError,
                      ["init_cfg[1]", "'bias_prob'"]),
    "layer-tuple": (init([GOOD, dict(type="Normal", layer=("Linear",))]), TypeError,
                    ["init_cfg[1]", "'layer'"]),
    "layer-unhashable-entry": (init([GOOD, dict(type="Normal", layer=[["Linear"]])]), TypeError,
                               ["init_cfg[1]", "'layer'"]),
    "bias-prob-zero": (init([GOOD, dict(type="Normal", bias_prob=0.0, layer="Linear")]),
                       ZeroDivisionError, ["init_cfg[1]", "'bias_prob'"]),
    **{f"caffe2xavier-{key}": (init([GOOD, dict(type="Caffe2Xavier", layer="Conv2d",
                                                **{key: value})]),
                               TypeError, ["init_cfg[1]", repr(key)])
       for key, value in [("a", 1), ("mode", "fan_in"), ("nonlinearity", "relu"),
                          ("distribution", "uniform")]},
    **{f"pretrained-{key}": (own([GOOD, dict(type="Pretrained", checkpoint="x.pth",
                                             **{key: value})]),
                             TypeError, ["init_cfg[1]", repr(key)])
       for key, value in [("layer", "Linear"), ("bias", 0)]},
    # override structure
    "override-not-dict-or-list": (init([GOOD, dict(type="Normal", override="fc")]), TypeError,
                                  ["init_cfg[1]", "override"]),
    "override-entry-without-name": (
        init(dict(type="Normal", layer="Linear", override=[dict(name="fc"),
                                                           dict(type="Constant", val=1)])),
        ValueError, ["init_cfg.override[1]", "'name'"]),
    "override-args-without-type": (
        init(dict(type="Normal", layer="Linear", override=[dict(name="fc"),
                                                           dict(name="conv", std=2)])),
        ValueError, ["init_cfg.override[1]", "'type'"]),
    "override-name-missing": (
        own(dict(type="Normal", layer="Linear", override=[dict(name="fc"),
                                                          dict(name="head")])),
        RuntimeError, ["init_cfg.override[1]", "'head'"]),
    "override-dotted-name": (
        init([GOOD, dict(type="Normal", override=dict(name="child.fc"))]),
        RuntimeError, ["init_cfg[1].override[0]", "'child.fc'", "dotted"]),
    "override-name-not-str": (init(dict(type="Normal", override=dict(name=0))), TypeError,
                              ["init_cfg.override[0]", "'name'"]),
    "override-name-is-parameter": (
        (lambda f: nn.Linear(2, 2),
         lambda m, f: initdsl.initialize(m, dict(type="Normal", layer="Linear",
                                                 override=dict(name="weight")))),
        AttributeError, ["init_cfg.override[0]", "'weight'", "Parameter"]),
    "override-nested-override": (
        init(dict(type="Normal", layer="Linear", override=dict(
            type="Normal", name="fc", override=dict(name="fc")))),
        TypeError, ["init_cfg.override[0]", "'override'"]),
    "override-entry-string": (init(dict(type="Normal", override=[dict(name="fc"), "conv"])),
                              AttributeError, ["init_cfg.override[1]", "'conv'"]),
    # lazy in mmengine, eager here
    "xavier-bad-distribution": (init([GOOD, dict(type="Xavier", distribution="gaussian",
                                                 layer="Linear")]),
                                AssertionError, ["init_cfg[1]", "'distribution'"]),
    "kaiming-bad-distribution": (init([GOOD, dict(type="Kaiming", distribution="gauss",
                                                  layer="Conv2d")]),
                                 AssertionError, ["init_cfg[1]", "'distribution'"]),
    "kaiming-bad-mode": (init([GOOD, dict(type="Kaiming", mode="fan_avg", layer="Conv2d")]),
                         ValueError, ["init_cfg[1]", "'mode'"]),
    "kaiming-mode-not-str": (init([GOOD, dict(type="Kaiming", mode=1, layer="Conv2d")]),
                             AttributeError, ["init_cfg[1]", "'mode'"]),
    "kaiming-bad-nonlinearity": (init([GOOD, dict(type="Kaiming", nonlinearity="gelu",
                                                  layer="Conv2d")]),
                                 ValueError, ["init_cfg[1]", "'nonlinearity'"]),
    "kaiming-leaky-relu-str-a": (init([GOOD, dict(type="Kaiming", nonlinearity="leaky_relu",
                                                  a="0.1", layer="Conv2d")]),
                                 ValueError, ["init_cfg[1]", "'a'"]),
    "kaiming-leaky-relu-bool-a": (init([GOOD, dict(type="Kaiming", nonlinearity="leaky_relu",
                                                   a=True, layer="Conv2d")]),
                                  ValueError, ["init_cfg[1]", "'a'"]),
    "kaiming-layernorm-via-override": (
        init(dict(type="Kaiming", layer="Conv2d", override=[dict(name="fc"), dict(name="ln")])),
        ValueError, ["init_cfg.override[1]", "ln.weight", "LayerNorm"]),
    "xavier-on-batchnorm": (init([GOOD, dict(type="Xavier", layer="_BatchNorm")]), ValueError,
                            ["init_cfg[1]", "bn.weight"]),
    "rnn-bool-bias": (init([GOOD, dict(type="Normal", layer="LSTM")]), AttributeError,
                      ["init_cfg[1]", "lstm", "'bias'", "bool"]),
    "normal-negative-std": (init([GOOD, dict(type="Normal", std=-1, layer="Linear")]),
                            RuntimeError, ["init_cfg[1]", "'std'"]),
    "normal-nan-std": (init([GOOD, dict(type="Normal", std=float("nan"), layer="Linear")]),
                       RuntimeError, ["init_cfg[1]", "'std'"]),
    "uniform-a-greater-than-b": (init([GOOD, dict(type="Uniform", a=1, b=0, layer="Linear")]),
                                 RuntimeError, ["init_cfg[1]", "a=1", "b=0"]),
    "truncnormal-a-greater-than-b": (init([GOOD, dict(type="TruncNormal", a=1, b=-1,
                                                      layer="Linear")]),
                                     RuntimeError, ["init_cfg[1]", "a=1", "b=-1"]),
    "truncnormal-std-zero": (init([GOOD, dict(type="TruncNormal", std=0, layer="Linear")]),
                             ZeroDivisionError, ["init_cfg[1]", "'std'"]),
    "constant-non-numeric-val": (init([GOOD, dict(type="Constant", val="1", layer="Linear")]),
                                 TypeError, ["init_cfg[1]", "'val'"]),
    # a bad rule that matches nothing (mmengine: no error at all; see DELIBERATE_DIFFERENCES)
    "bad-rule-matching-nothing": (init([GOOD, dict(type="Kaiming", mode="bad",
                                                   layer="Conv3d")]),
                                  ValueError, ["init_cfg[1]", "'mode'"]),
    # Pretrained
    "pretrained-missing-file": (own([GOOD, pre("missing")]), FileNotFoundError,
                                ["init_cfg[1]", "missing.pth", "can not be found"]),
    "pretrained-not-a-dict": (init([GOOD, pre("list")]), RuntimeError,
                              ["init_cfg[1]", "No state_dict found"]),
    "pretrained-list-with-prefix": (
        init([GOOD, lambda f: dict(f["list"], prefix="fc")]), AttributeError,
        ["init_cfg[1]", "list.pth", "list"]),
    "pretrained-tensor-with-prefix": (
        init([GOOD, lambda f: dict(f["tensor"], prefix="fc")]), RuntimeError,
        ["init_cfg[1]", "tensor.pth"]),
    "pretrained-state-dict-entry-not-a-dict": (
        own([GOOD, pre("sdlist")]), AttributeError, ["init_cfg[1]", "sdlist.pth"]),
    "pretrained-prefix-matches-nothing": (
        own([GOOD, lambda f: dict(type="Pretrained", checkpoint=f["good"]["checkpoint"],
                                  prefix="backbone")]),
        AssertionError, ["init_cfg[1]", "backbone.", "not in the pretrained model"]),
    "pretrained-unsafe-objects": (own([GOOD, pre("unsafe")]), pickle.UnpicklingError,
                                  ["init_cfg[1]", "weights_only"]),
    "pretrained-in-override-missing": (
        init(dict(type="Normal", layer="Linear",
                  override=[dict(name="fc"), dict(type="Pretrained", name="conv",
                                                  checkpoint="/nonexistent/x.pth")])),
        FileNotFoundError, ["init_cfg.override[1]", "x.pth"]),
    # where the bad cfg lives
    "error-in-child-cfg": (own([GOOD, GOOD2], child_cfg=[dict(type="Normal", layer="Linear"),
                                                         dict(type="Uniform", a=2, b=1,
                                                              layer="Linear")]),
                           RuntimeError, ["init_cfg[1] of 'child'"]),
    "error-in-child-override": (own(GOOD, child_cfg=dict(type="Normal", layer="Linear",
                                                         override=dict(name="nope"))),
                                RuntimeError, ["init_cfg.override[0] of 'child'", "'nope'"]),
    "child-init-weights-needs-arguments": (own(GOOD, extra=NeedsArgs), TypeError,
                                           ["init_weights of 'extra'", "pretrained"]),
    "child-basemodule-init-weights-needs-arguments": (
        own(GOOD, extra=BaseNeedsArgs), TypeError, ["init_weights of 'extra'", "pretrained"]),
}


def _files(root):
    root.mkdir(exist_ok=True)
    torch.save({"fc.weight": torch.ones(3, 3)}, root / "good.pth")
    torch.save([torch.ones(3)], root / "list.pth")
    torch.save(torch.ones(3), root / "tensor.pth")
    torch.save({"state_dict": [torch.ones(3)]}, root / "sdlist.pth")
    torch.save({"state_dict": {"fc.weight": torch.ones(3, 3)}, "meta": Meta()}, root / "unsafe.pth")
    return {name: dict(type="Pretrained", checkpoint=str(root / f"{name}.pth"))
            for name in ("good", "list", "tensor", "sdlist", "unsafe", "missing")}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("ckpt"))


@pytest.mark.parametrize("row", list(ROWS))
def test_error_is_raised_before_any_write(row, files):
    (build, act), expected, mentions = ROWS[row]
    torch.manual_seed(0)
    model = build(files)
    before = snapshot(model)
    state = torch.get_rng_state()
    with pytest.raises(expected) as info:
        act(model, files)
    error = info.value
    assert isinstance(error, initdsl.InitError), f"{type(error).__mro__}"
    for text in mentions:
        assert text in str(error), f"{text!r} not in {str(error)!r}"
    assert changed(before, snapshot(model)) == []
    assert torch.equal(state, torch.get_rng_state())
    assert not getattr(model, "is_init", False)
    assert all(r.writer is None for r in initdsl.provenance(model).values())


def test_every_error_class_is_its_builtin():
    pairs = {initdsl.InitTypeError: TypeError, initdsl.InitKeyError: KeyError,
             initdsl.InitValueError: ValueError, initdsl.InitAssertionError: AssertionError,
             initdsl.InitRuntimeError: RuntimeError, initdsl.InitAttributeError: AttributeError,
             initdsl.InitZeroDivisionError: ZeroDivisionError,
             initdsl.CheckpointNotFoundError: FileNotFoundError,
             initdsl.CheckpointUnpicklingError: pickle.UnpicklingError,
             initdsl.MissingDependencyError: ImportError}
    for ours, builtin in pairs.items():
        assert issubclass(ours, initdsl.InitError) and issubclass(ours, builtin)
        error = ours("boom", where="init_cfg[2]")
        assert str(error) == "init_cfg[2]: boom"
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is ours and str(again) == str(error)


def test_user_code_errors_cannot_be_validated_ahead():
    """User code runs for real: a Parameter replaced during a chained init_weights is
    reported after the call (as mmengine does); earlier writes stay (no rollback)."""

    class Replacer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def init_weights(self):
            self.fc.weight = nn.Parameter(torch.zeros(2, 2))

    model = Net(GOOD, extra=Replacer())
    before = snapshot(model)
    with pytest.raises(AssertionError, match="Find a new :obj:`Parameter` named `fc.weight`") \
            as info:
        model.init_weights()
    assert isinstance(info.value, initdsl.InitError)
    assert "param:conv.weight" in changed(before, snapshot(model))  # phase 1 ran
    assert model.child.is_init and not model.is_init
