"""Pretrained against real mmengine: deferred vs in place, prefixes, overrides, mismatches."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

pytest.importorskip("mmengine")

from . import models as M  # noqa: E402
from .harness import OURS, LogCapture, compare, initialize_with  # noqa: E402

pytestmark = pytest.mark.mmengine


@pytest.fixture
def ckpt(tmp_path):
    """Checkpoint files made from a differently seeded ``nested`` model (with BN buffers)."""
    torch.manual_seed(1234)
    source = M.nested(OURS)
    for name, buf in source.named_buffers():
        if buf.is_floating_point():
            buf.uniform_(0.5, 1.5)
    sd = source.state_dict()
    files = {}

    def save(name, obj):
        path = tmp_path / name
        torch.save(obj, path)
        files[name] = str(path)

    save("plain.pth", sd)
    save("wrapped.pth", {"state_dict": sd, "meta": {"epoch": 3, "note": "x"}})
    save("ddp.pth", OrderedDict((f"module.{k}", v) for k, v in sd.items()))
    save("no_metadata.pth", {k: v for k, v in sd.items() if "num_batches_tracked" not in k})
    partial = OrderedDict(sd)
    del partial["head.cls.weight"]  # missing
    partial["head.extra.weight"] = torch.ones(2)  # unexpected
    partial["head.fc.weight"] = torch.ones(7, 4)  # shape mismatch
    partial["backbone.stem.bias"] = torch.ones(4, dtype=torch.float64)  # dtype cast
    save("partial.pth", partial)
    return files


def P(path, **kw):
    return dict(type="Pretrained", checkpoint=path, **kw)


CASES = {
    # top-level Pretrained is deferred after the children (beats the blocks' cfg)
    "deferred-top-level": lambda f: dict(
        net_cfg=[P(f["plain.pth"]), dict(type="Normal", layer="Conv2d")],
        block_cfg=dict(type="Constant", val=0.0, layer=["Conv2d", "BatchNorm2d"])),
    "deferred-dict-cfg": lambda f: dict(net_cfg=P(f["wrapped.pth"]),
                                        head_cfg=dict(type="Uniform", layer="Linear")),
    "deferred-before-other-in-list": lambda f: dict(
        net_cfg=[dict(type="Kaiming", layer="Conv2d"), P(f["ddp.pth"]),
                 dict(type="Constant", val=1.0, layer="Linear")]),
    "prefix-no-dot": lambda f: dict(backbone_cfg=P(f["plain.pth"], prefix="backbone"),
                                    net_cfg=dict(type="Normal", layer="Conv2d")),
    "prefix-with-dot": lambda f: dict(head_cfg=P(f["wrapped.pth"], prefix="head.")),
    "prefix-deeper": lambda f: dict(layers_cfg=P(f["plain.pth"], prefix="backbone.layers")),
    "override-pretrained-runs-in-phase-1": lambda f: dict(
        net_cfg=dict(type="Constant", val=0.0, layer="Linear",
                     override=dict(type="Pretrained", name="head", checkpoint=f["plain.pth"],
                                   prefix="head")),
        head_cfg=dict(type="Normal", layer="Linear", override=dict(name="cls"))),
    "override-name-only-under-pretrained": lambda f: dict(
        net_cfg=dict(type="Pretrained", checkpoint=f["plain.pth"],
                     override=dict(name="head"))),
    "mismatch-missing-unexpected": lambda f: dict(
        net_cfg=[P(f["partial.pth"]), dict(type="Normal", layer="Linear")]),
    "no-metadata-batchnorm": lambda f: dict(net_cfg=P(f["no_metadata.pth"])),
    "map-location-none": lambda f: dict(net_cfg=P(f["plain.pth"], map_location=None)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pretrained_init_weights(case, ckpt):
    cfgs = CASES[case](ckpt)
    with LogCapture() as logs:
        compare(lambda kit: M.nested(kit, **cfgs))
    ours = [m for m in logs.messages["initdsl"] if "do not match" in m]
    theirs = [m for m in logs.messages["mmengine"] if "do not match" in m]
    assert ours == theirs


def test_pretrained_type_given_as_class_is_deferred(ckpt):
    def build(kit):
        return M.nested(kit, net_cfg=[dict(type=kit.PretrainedInit, checkpoint=ckpt["plain.pth"]),
                                      dict(type="Normal", layer="Conv2d")],
                        block_cfg=dict(type="Constant", val=0.0, layer="Conv2d"))
    compare(build)


@pytest.mark.parametrize("order", ["pretrained-first", "pretrained-last"])
def test_pretrained_in_initialize_runs_in_place(order, ckpt):
    cfg = [P(ckpt["plain.pth"]), dict(type="Kaiming", layer="Conv2d")]
    if order == "pretrained-last":
        cfg = cfg[::-1]
    compare(lambda kit: M.nested(kit), initialize_with(cfg))


def test_exact_reload_is_a_write(ckpt):
    """Loading values equal to the current ones still counts as the last write."""
    def action(kit, model):
        kit.initialize(model, P(ckpt["plain.pth"]))
        model.init_weights()
    compare(lambda kit: M.nested(kit, net_cfg=P(ckpt["plain.pth"])), action)


def test_pretrained_warning_text_matches(ckpt):
    with LogCapture() as logs:
        compare(lambda kit: M.nested(kit), initialize_with(P(ckpt["partial.pth"])))
    ours = [m for m in logs.messages["initdsl"] if "do not match" in m]
    theirs = [m for m in logs.messages["mmengine"] if "do not match" in m]
    assert len(ours) == 1 and ours == theirs
    assert "size mismatch for head.fc.weight" in ours[0]
    assert "unexpected key in source state_dict: head.extra.weight" in ours[0]
    assert "missing keys in source state_dict: head.cls.weight" in ours[0]
