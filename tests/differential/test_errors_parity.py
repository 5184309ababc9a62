"""Every §11 error condition against real mmengine.

mmengine raises lazily and leaves partial writes; initdsl must raise an
``InitError`` that is an instance of the very class mmengine raised, with no
byte changed and nothing drawn (checked by ``harness.compare``).
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmengine")

from . import models as M  # noqa: E402
from .harness import compare, init_weights, initialize_with  # noqa: E402

pytestmark = pytest.mark.mmengine

GOOD = dict(type="Normal", layer=["Conv2d", "Linear"])
GOOD2 = dict(type="Constant", val=2.0, layer="_BatchNorm")


class Meta:
    pass


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    torch.save({"fc.weight": torch.ones(3, 3)}, root / "good.pth")
    torch.save([torch.ones(3)], root / "list.pth")
    torch.save(torch.ones(3), root / "tensor.pth")
    torch.save({"state_dict": [torch.ones(3)]}, root / "sdlist.pth")
    torch.save({"state_dict": {"fc.weight": torch.ones(3, 3)}, "meta": Meta()},
               root / "unsafe.pth")
    return {n: str(root / f"{n}.pth")
            for n in ("good", "list", "tensor", "sdlist", "unsafe", "missing")}


def P(name, **kw):
    return lambda f: dict(type="Pretrained", checkpoint=f[name], **kw)


# id: (entry point, init_cfg, child_cfg, extra child class); the exception class is mmengine's
CASES = {
    "initialize-not-dict-or-list": ("initialize", "Normal", None, None),
    "initialize-tuple": ("initialize", (GOOD,), None, None),
    "list-item-string": ("initialize", [GOOD, "Normal"], None, None),
    "list-item-list": ("initialize", [GOOD, [GOOD2]], None, None),
    "initialize-empty-dict": ("initialize", {}, None, None),
    "cfg-without-type-later": ("initialize", [GOOD, dict(layer="Linear")], None, None),
    "own-list-item-not-dict": ("init_weights", [GOOD, "Normal"], None, None),
    "own-string-init-cfg": ("init_weights", "Normal", None, None),
    "own-int-init-cfg": ("init_weights", 5, None, None),
    "own-entry-without-type": ("init_weights", [GOOD, dict(layer="Linear")], None, None),
    "unknown-type": ("initialize", [GOOD, dict(type="Kaimnig", layer="Conv2d")], None, None),
    "class-name-as-type": ("initialize", dict(type="KaimingInit", layer="Conv2d"), None, None),
    "lower-case-type": ("init_weights", [GOOD, dict(type="kaiming", layer="Conv2d")], None,
                        None),
    "unknown-argument": ("initialize", [GOOD, dict(type="Normal", sdt=0.1, layer="Linear")],
                         None, None),
    "constant-without-val": ("initialize", [GOOD, dict(type="Constant", layer="Linear")], None,
                             None),
    "pretrained-without-checkpoint": ("init_weights", [GOOD, dict(type="Pretrained")], None,
                                      None),
    "bias-not-number": ("initialize", [GOOD, dict(type="Normal", bias="0", layer="Linear")],
                        None, None),
    "bias-prob-int": ("initialize", [GOOD, dict(type="Normal", bias_prob=1, layer="Linear")],
                      None, None),
    "layer-tuple": ("initialize", [GOOD, dict(type="Normal", layer=("Linear",))], None, None),
    "layer-unhashable-entry": ("initialize", [GOOD, dict(type="Normal", layer=[["Linear"]])],
                               None, None),
    "bias-prob-zero": ("initialize", [GOOD, dict(type="Normal", bias_prob=0.0, layer="Linear")],
                       None, None),
    **{f"caffe2xavier-{k}": ("initialize", [GOOD, dict(type="Caffe2Xavier", layer="Conv2d",
                                                       **{k: v})], None, None)
       for k, v in [("a", 1), ("mode", "fan_in"), ("nonlinearity", "relu"),
                    ("distribution", "uniform")]},
    **{f"pretrained-{k}": ("init_weights", [GOOD, dict(type="Pretrained", checkpoint="x.pth",
                                                       **{k: v})], None, None)
       for k, v in [("layer", "Linear"), ("bias", 0)]},
    "override-not-dict-or-list": ("initialize", [GOOD, dict(type="Normal", override="fc")],
                                  None, None),
    "override-entry-without-name": ("initialize", dict(type="Normal", layer="Linear", override=[
        dict(name="fc"), dict(type="Constant", val=1)]), None, None),
    "override-args-without-type": ("initialize", dict(type="Normal", layer="Linear", override=[
        dict(name="fc"), dict(name="conv", std=2)]), None, None),
    "override-name-missing": ("init_weights", dict(type="Normal", layer="Linear", override=[
        dict(name="fc"), dict(name="head")]), None, None),
    "override-dotted-name": ("initialize", [GOOD, dict(type="Normal",
                                                       override=dict(name="child.fc"))],
                             None, None),
    "override-name-not-str": ("initialize", dict(type="Normal", override=dict(name=0)), None,
                              None),
    "override-name-is-parameter": ("initialize", dict(type="Normal", layer="Linear",
                                                      override=[dict(name="fc"),
                                                                dict(name="_is_init")]),
                                   None, None),
    "override-nested-override": ("initialize", dict(type="Normal", layer="Linear", override=dict(
        type="Normal", name="fc", override=dict(name="fc"))), None, None),
    "override-entry-string": ("initialize", dict(type="Normal", override=[dict(name="fc"),
                                                                          "conv"]), None, None),
    "xavier-bad-distribution": ("initialize", [GOOD, dict(type="Xavier", distribution="g",
                                                          layer="Linear")], None, None),
    "kaiming-bad-distribution": ("initialize", [GOOD, dict(type="Kaiming", distribution="g",
                                                           layer="Conv2d")], None, None),
    "kaiming-bad-mode": ("initialize", [GOOD, dict(type="Kaiming", mode="fan_avg",
                                                   layer="Conv2d")], None, None),
    "kaiming-mode-not-str": ("initialize", [GOOD, dict(type="Kaiming", mode=1,
                                                       layer="Conv2d")], None, None),
    "kaiming-bad-nonlinearity": ("initialize", [GOOD, dict(type="Kaiming", nonlinearity="gelu",
                                                           layer="Conv2d")], None, None),
    "kaiming-leaky-relu-str-a": ("initialize", [GOOD, dict(
        type="Kaiming", nonlinearity="leaky_relu", a="0.1", layer="Conv2d")], None, None),
    "kaiming-leaky-relu-bool-a": ("initialize", [GOOD, dict(
        type="Kaiming", nonlinearity="leaky_relu", a=True, layer="Conv2d")], None, None),
    "kaiming-layernorm-via-override": ("initialize", dict(type="Kaiming", layer="Conv2d",
                                                          override=[dict(name="fc"),
                                                                    dict(name="ln")]),
                                       None, None),
    "xavier-on-batchnorm": ("initialize", [GOOD, dict(type="Xavier", layer="_BatchNorm")],
                            None, None),
    "rnn-bool-bias": ("initialize", [GOOD, dict(type="Normal", layer="LSTM")], None, None),
    "rnn-via-override": ("init_weights", dict(type="Constant", val=1, layer="Linear",
                                              override=dict(name="lstm")), None, None),
    "normal-negative-std": ("initialize", [GOOD, dict(type="Normal", std=-1, layer="Linear")],
                            None, None),
    "normal-nan-std": ("initialize", [GOOD, dict(type="Normal", std=float("nan"),
                                                 layer="Linear")], None, None),
    "uniform-a-greater-than-b": ("initialize", [GOOD, dict(type="Uniform", a=1, b=0,
                                                           layer="Linear")], None, None),
    "truncnormal-a-greater-than-b": ("initialize", [GOOD, dict(type="TruncNormal", a=1, b=-1,
                                                               layer="Linear")], None, None),
    "truncnormal-std-zero": ("initialize", [GOOD, dict(type="TruncNormal", std=0,
                                                       layer="Linear")], None, None),
    "constant-non-numeric-val": ("initialize", [GOOD, dict(type="Constant", val="1",
                                                           layer="Linear")], None, None),
    "constant-none-val": ("initialize", [GOOD, dict(type="Constant", val=None,
                                                    layer="Linear")], None, None),
    "pretrained-missing-file": ("init_weights", [GOOD, P("missing")], None, None),
    "pretrained-not-a-dict": ("initialize", [GOOD, P("list")], None, None),
    "pretrained-list-with-prefix": ("initialize", [GOOD, P("list", prefix="fc")], None, None),
    "pretrained-tensor-with-prefix": ("initialize", [GOOD, P("tensor", prefix="fc")], None,
                                      None),
    "pretrained-state-dict-entry-not-a-dict": ("init_weights", [GOOD, P("sdlist")], None, None),
    "pretrained-state-dict-entry-not-a-dict-prefix": ("initialize",
                                                      [GOOD, P("sdlist", prefix="fc")], None,
                                                      None),
    "pretrained-prefix-matches-nothing": ("init_weights", [GOOD, P("good", prefix="backbone")],
                                          None, None),
    "pretrained-unsafe-objects": ("init_weights", [GOOD, P("unsafe")], None, None),
    "error-in-child-cfg": ("init_weights", [GOOD, GOOD2], [dict(type="Normal", layer="Linear"),
                                                           dict(type="Uniform", a=2, b=1,
                                                                layer="Linear")], None),
    "error-in-child-override": ("init_weights", GOOD, dict(type="Normal", layer="Linear",
                                                           override=dict(name="nope")), None),
    "child-init-weights-needs-arguments": ("init_weights", GOOD, None, M.NeedsArgs),
}


def _resolve(cfg, files):
    if isinstance(cfg, list):
        return [_resolve(c, files) for c in cfg]
    return cfg(files) if callable(cfg) else cfg


@pytest.mark.parametrize("case", list(CASES))
def test_error_matches_mmengine(case, files):
    entry, cfg, child_cfg, extra = CASES[case]
    cfg = _resolve(cfg, files)
    if entry == "init_weights":
        ours, theirs = compare(lambda kit: M.err_net(kit, cfg, child_cfg, extra), init_weights)
    else:
        ours, theirs = compare(lambda kit: M.err_net(kit, None, child_cfg, extra),
                               initialize_with(cfg))
    assert theirs.error is not None, "mmengine accepted it: not an error case"
