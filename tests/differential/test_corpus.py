"""The 398 real init_cfgs of ../shared/corpus/: decompile, compile back, same bytes as mmengine.

Each cfg that mmengine accepts must decompile to a policy, compile back, and
initialize a model with the same bytes through initdsl as the original
through real mmengine 0.10.7. The model is made for the cfg: one module of
each class it names, and a child for each name its overrides name. Cfgs that
load a checkpoint (most name `torchvision://` or `open-mmlab://` models,
which no test can download) are checked by the round trip alone. The ones
mmengine itself rejects must get initdsl's own clear error.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

mmengine = pytest.importorskip("mmengine")

import initdsl  # noqa: E402

# The project's shared folder sits beside the checkout (../shared); $INITDSL_SHARED
# names it for a checkout elsewhere (a CI clone).
_CANDIDATES = [Path(os.environ["INITDSL_SHARED"])] if os.environ.get("INITDSL_SHARED") else []
_CANDIDATES += [Path(__file__).resolve().parents[2].parent / "shared", Path("/work/shared")]
CORPUS = next((c / "corpus" / "init_cfgs.jsonl" for c in _CANDIDATES
               if (c / "corpus" / "init_cfgs.jsonl").exists()), None)
ROWS = [json.loads(line) for line in CORPUS.read_text().splitlines()] if CORPUS else []

pytestmark = [pytest.mark.mmengine,
              pytest.mark.skipif(not ROWS, reason="../shared/corpus is not here")]


def _classes(value: Any) -> Any:
    """``{"$class": "mmengine.model.PretrainedInit"}`` → the class, everywhere in ``value``."""
    if isinstance(value, dict):
        if set(value) == {"$class"}:
            module, _, name = value["$class"].rpartition(".")
            return getattr(importlib.import_module(module), name)
        return {k: _classes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_classes(v) for v in value]
    return value


def _walk(cfg: Any):
    for entry in cfg if isinstance(cfg, list) else [cfg]:
        if isinstance(entry, dict):
            yield entry
            override = entry.get("override")
            yield from _walk(override) if override is not None else ()


LAYERS = {"Conv1d": lambda: nn.Conv1d(4, 4, 3), "Conv2d": lambda: nn.Conv2d(4, 4, 3),
          "Conv3d": lambda: nn.Conv3d(4, 4, 3), "Linear": lambda: nn.Linear(4, 4),
          "ConvTranspose2d": lambda: nn.ConvTranspose2d(4, 4, 3),
          "BatchNorm2d": lambda: nn.BatchNorm2d(4), "BatchNorm1d": lambda: nn.BatchNorm1d(4),
          "BatchNorm3d": lambda: nn.BatchNorm3d(4), "GroupNorm": lambda: nn.GroupNorm(2, 4),
          "LayerNorm": lambda: nn.LayerNorm(4), "Embedding": lambda: nn.Embedding(6, 4),
          "_BatchNorm": lambda: nn.BatchNorm2d(4), "_ConvNd": lambda: nn.Conv2d(4, 4, 3),
          "SyncBatchNorm": lambda: nn.SyncBatchNorm(4)}


def _model(cfg: Any) -> nn.Module:
    """An mmengine BaseModule (the cfg is its init_cfg, as in the configs) with the
    classes and children the cfg names."""
    from mmengine.model import BaseModule

    model = BaseModule(init_cfg=None)
    for index, (name, build) in enumerate(LAYERS.items()):
        model.add_module(f"layer{index}", build())
    for entry in _walk(cfg):
        name = entry.get("name")
        if isinstance(name, str) and name.isidentifier() and not hasattr(model, name):
            child = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Linear(4, 4), nn.BatchNorm2d(4))
            model.add_module(name, child)
    return model


def _loads(cfg: Any) -> bool:
    return any(entry.get("type") in ("Pretrained", mmengine.model.PretrainedInit)
               for entry in _walk(cfg))


@pytest.mark.parametrize("row", ROWS, ids=[f"cfg{i}" for i in range(len(ROWS))])
def test_corpus_cfg(row):
    cfg = _classes(row["cfg"])
    template = _model(cfg)
    theirs = copy.deepcopy(template)
    theirs.init_cfg = copy.deepcopy(cfg)
    torch.manual_seed(0)
    try:
        if not _loads(cfg):
            theirs.init_weights()  # what mmengine does with the config's init_cfg
        else:  # mmengine builds each initializer, the checkpoint is read last
            from mmengine.registry import WEIGHT_INITIALIZERS

            for entry in _walk(cfg):
                if "type" in entry:
                    WEIGHT_INITIALIZERS.build({k: v for k, v in entry.items()
                                               if k != "override"})
    except Exception:  # noqa: BLE001 - mmengine's own refusal, whatever it is
        with pytest.raises(initdsl.InitError):
            policy = initdsl.decompile(copy.deepcopy(cfg))
            initdsl.apply(copy.deepcopy(template), policy)
        return
    policy = initdsl.decompile(copy.deepcopy(cfg))
    back = initdsl.compile(policy)
    assert initdsl.decompile(back) == policy  # the round trip is stable
    if _loads(cfg):
        return
    ours = copy.deepcopy(template)
    torch.manual_seed(0)
    initdsl.apply(ours, policy)
    for (name, a), (_, b) in zip(theirs.state_dict().items(), ours.state_dict().items()):
        assert torch.equal(a, b), (name, row["sources"][0], policy)
