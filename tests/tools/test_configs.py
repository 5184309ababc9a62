"""Whole mmengine config files to one policy: ``initdsl decompile CONFIG.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import initdsl
from initdsl.tools.configs import config_init_cfgs, config_policy, model_dict_policy
from tests.tools.conftest import cli

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
CHAIN = FIXTURES / "chain"


@pytest.mark.mmengine
def test_base_chain_resolves_through_mmengine_to_one_policy():
    pytest.importorskip("mmengine")
    text = config_policy(str(CHAIN / "child.py"))
    assert text == (CHAIN / "child.init").read_text()
    # one scope per component, each saying which config key it came from
    assert "# from model.neck.init_cfg\nscope neck {" in text
    assert 'load "open-mmlab://resnet50_v1c"' in text  # the child's override of its base
    initdsl.compile(text)


@pytest.mark.mmengine
def test_cli_decompiles_a_config_and_a_part_of_it():
    pytest.importorskip("mmengine")
    whole = cli("decompile", str(CHAIN / "child.py"))
    assert whole.returncode == 0 and whole.stdout == (CHAIN / "child.init").read_text()
    part = cli("decompile", str(CHAIN / "child.py"), "--key", "model.bbox_head")
    assert part.returncode == 0
    assert part.stdout.endswith("Conv2d -> normal(std=0.01)\n"
                                "name retina_cls -> normal(std=0.01, bias_prob=0.01)\n")
    missing = cli("decompile", str(CHAIN / "child.py"), "--key", "model.roi_head")
    assert missing.returncode == 1 and "no 'model.roi_head'" in missing.stderr


def test_without_mmengine_base_configs_say_what_they_need(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmengine.config", None)
    with pytest.raises(initdsl.MissingDependencyError, match="needs mmengine"):
        config_policy(str(CHAIN / "child.py"))
    # a config without _base_ is read as data, mmengine or not
    text = config_policy(str(CHAIN / "base_model.py"))
    assert 'load "torchvision://resnet50"' in text


def test_init_cfgs_are_found_at_any_depth_and_in_lists():
    model = {"type": "CascadeRCNN", "init_cfg": {"type": "Xavier", "layer": "Conv2d"},
             "roi_head": {"bbox_head": [{"init_cfg": {"type": "Normal", "layer": "Linear"}},
                                        {"type": "Shared2FCBBoxHead"}]},
             "backbone": {"init_cfg": None}}
    found = list(config_init_cfgs(model))
    assert [(path, where) for path, where, _ in found] == [
        ("", "model.init_cfg"), ("roi_head.bbox_head.0", "model.roi_head.bbox_head.0.init_cfg")]


class _Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.retina_cls = nn.Conv2d(4, 4, 1)
        self.reg = nn.Conv2d(4, 4, 1)
        # A module whose code sets its own init_cfg default, as RetinaHead does.
        self.init_cfg = dict(type="Normal", layer="Conv2d", std=0.01,
                             override=dict(type="Normal", name="retina_cls", std=0.01,
                                           bias_prob=0.01))


class _Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3))
        self.neck = nn.Conv2d(4, 4, 1)
        self.bbox_head = _Head()


def test_with_the_model_scopes_are_checked_and_code_defaults_added():
    model_dict = {"backbone": {"init_cfg": {"type": "Kaiming", "layer": "Conv2d"}},
                  "neck": {"type": "FPN"}}
    text = model_dict_policy(model_dict, "det.py", model=_Detector())
    assert "# from the code of _Head (its default)\nscope bbox_head {" in text
    assert "name retina_cls -> normal(std=0.01, bias_prob=0.01)" in text
    # the policy runs on the model
    initdsl.apply(_Detector(), text)
    with pytest.raises(initdsl.InitValueError, match="'neck.fpn' is not a module"):
        model_dict_policy({"neck": {"fpn": {"init_cfg": {"type": "Kaiming"}}}}, "det.py",
                          model=_Detector())


REAL = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("fixture", REAL, ids=[p.stem for p in REAL])
def test_real_configs_decompile_to_policies_that_compile(fixture):
    document = json.loads(fixture.read_text())
    text = model_dict_policy(document["model"], fixture.name)
    golden = fixture.with_suffix(".init")
    if golden.exists():
        assert text == golden.read_text()
    compiled = initdsl.compile(text)
    found = list(config_init_cfgs(document["model"]))
    assert found, "a real config fixture has at least one init_cfg"
    scoped = compiled if isinstance(compiled, dict) else {"": compiled}
    assert {path for path, _, _ in found} <= set(scoped)
    torch.manual_seed(0)
