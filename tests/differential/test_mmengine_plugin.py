"""initdsl.mmengine: policies and initdsl's types running inside real mmengine 0.10.7.

The same policy through ``initdsl.apply`` and through mmengine's own
``BaseModule.init_weights`` with ``init_cfg=dict(type='Policy', ...)`` must
give the same bytes and leave torch's RNG in the same state; so must
``initdsl.compile`` output that uses initdsl's types; and a config file, old
style and lazy-import style, must build and initialize a model through
mmengine's registry.
"""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest
import torch
from torch import nn

pytest.importorskip("mmengine")

from mmengine.model import BaseModule, ModuleList  # noqa: E402

import initdsl  # noqa: E402
import initdsl.mmengine  # noqa: E402,F401 - registers the plugin

pytestmark = [pytest.mark.mmengine]


class Block(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)


class Net(BaseModule):
    def __init__(self, init_cfg=None, block_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 8, 3)
        self.emb = nn.Embedding(10, 8, padding_idx=2)
        self.blocks = ModuleList(Block(block_cfg) for _ in range(3))
        self.pos = nn.Parameter(torch.zeros(1, 8))
        self.head = nn.Linear(8, 4)


POLICY = """
Conv2d -> kaiming(mode=fan_out)
Linear -> normal(std=0.02)
Embedding -> normal(std=0.02) then zero_row(module.padding_idx)
*Norm -> ones
param blocks.{i}.fc.weight -> normal(std=0.02 / sqrt(2 * (i + 1)))
param pos -> trunc_normal(std=0.02, sampler=torch)
name head -> zeros
"""


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                b.state_dict().values()))


def _through_mmengine(init_cfg, block_cfg=None) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = Net(init_cfg, block_cfg)
    model.init_weights()
    return model, torch.get_rng_state()


def _through_initdsl(policy) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = Net()
    initdsl.apply(model, policy)
    return model, torch.get_rng_state()


def test_policy_text_runs_through_mmengines_init_weights():
    ours, state = _through_initdsl(POLICY)
    theirs, their_state = _through_mmengine(dict(type="Policy", policy=POLICY))
    assert _same(ours, theirs) and torch.equal(state, their_state)


def test_policy_file_runs_through_mmengines_init_weights(tmp_path):
    path = tmp_path / "net.init"
    path.write_text(POLICY)
    ours, state = _through_initdsl(POLICY)
    theirs, their_state = _through_mmengine(dict(type="Policy", file=str(path)))
    assert _same(ours, theirs) and torch.equal(state, their_state)


def test_compiled_extensions_run_in_mmengine_as_in_initdsl():
    """initdsl compile output (Select, Ones, computed values, modifiers) as a plain
    init_cfg in mmengine, with the plugin imported."""
    init_cfg = initdsl.compile(POLICY)
    assert any(cfg["type"] == "Select" for cfg in init_cfg)
    ours, state = _through_initdsl(POLICY)
    theirs, their_state = _through_mmengine(init_cfg)
    assert _same(ours, theirs) and torch.equal(state, their_state)


def test_children_with_their_own_init_cfg_still_chain():
    block_cfg = dict(type="Constant", layer="LayerNorm", val=3)
    torch.manual_seed(0)
    ours = Net(block_cfg=block_cfg)
    initdsl.apply(ours, POLICY)
    theirs, _ = _through_mmengine(dict(type="Policy", policy=POLICY), block_cfg)
    assert _same(ours, theirs)
    assert torch.all(theirs.blocks[0].norm.weight == 3)  # the child's own cfg ran after


def test_mmengines_log_names_the_policy_rule(tmp_path):
    path = tmp_path / "net.init"
    path.write_text(POLICY)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _through_mmengine(dict(type="Policy", file=str(path)))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = "\n".join(records)
    assert f"(policy rule {path}:3:1)" in text  # Linear -> normal(std=0.02)
    assert f"(policy rule {path}:6:1)" in text  # the capture rule


def test_a_bad_policy_fails_when_mmengine_builds_the_initializer():
    with pytest.raises(initdsl.PolicyError):
        _through_mmengine(dict(type="Policy", policy="Linear -> nope"))
    with pytest.raises(TypeError, match="exactly one"):
        _through_mmengine(dict(type="Policy"))


MODELS_FILE = '''
import torch
from torch import nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS


@MODELS.register_module(force=True)
class PluginNet(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)
'''

OLD_STYLE = '''
custom_imports = dict(imports=["initdsl.mmengine", "plugin_models"], allow_failed_imports=False)
model = dict(type="PluginNet", init_cfg=dict(type="Policy", file="net.init"))
'''

LAZY_STYLE = '''
from initdsl.mmengine import PolicyInit
from plugin_models import PluginNet

model = dict(type=PluginNet, init_cfg=dict(type=PolicyInit, file="net.init"))
'''


@pytest.mark.parametrize("style", [OLD_STYLE, LAZY_STYLE], ids=["custom_imports", "lazy"])
def test_config_file_builds_and_initializes_through_mmengines_registry(tmp_path, monkeypatch,
                                                                       style):
    from mmengine.config import Config
    from mmengine.registry import MODELS

    policy = "Conv2d -> kaiming(mode=fan_in)\nLinear -> normal(std=0.5, bias=1)\n"
    (tmp_path / "plugin_models.py").write_text(textwrap.dedent(MODELS_FILE))
    (tmp_path / "net.init").write_text(policy)
    (tmp_path / "config.py").write_text(textwrap.dedent(style))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("plugin_models", None)
    cfg = Config.fromfile(str(tmp_path / "config.py"))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    import plugin_models

    torch.manual_seed(0)
    reference = plugin_models.PluginNet()
    initdsl.apply(reference, policy)
    assert _same(model, reference)
    assert torch.all(model.fc.bias == 1)
