"""Checkpoint names (torchvision://, open-mmlab://, mmcls://), resolved as mmengine resolves
them and read from a fake torch hub cache: right file, wrong hash, missing without network."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

import initdsl
from initdsl.core import checkpoint
from initdsl.core.checkpoint_names import resolve_name

mmengine = pytest.importorskip("mmengine")
pytestmark = [pytest.mark.mmengine]


def _mmengine_url(source: str) -> str:
    """What mmengine's own loaders would fetch for ``source``."""
    from mmengine.runner import checkpoint as mm

    scheme, _, name = source.partition("://")
    if scheme == "torchvision":
        return mmengine.load(os.path.join(mmengine.__path__[0], "hub/torchvision_0.12.json"))[name]
    if scheme == "mmcls":
        return mm.get_mmcls_models()[name]
    name = mm.get_deprecated_model_names().get(name, name)
    return mm.get_external_models()[name]


@pytest.mark.parametrize("source", ["torchvision://resnet50", "torchvision://vgg16",
                                    "open-mmlab://resnet50_v1c", "open-mmlab://msra/hrnetv2_w32",
                                    "mmcls://resnet50", "open-mmlab://resnet50_caffe"])
def test_names_resolve_to_mmengines_urls(source):
    assert resolve_name(source) == _mmengine_url(source)


def test_unknown_name_says_the_closest():
    with pytest.raises(initdsl.CheckpointNotFoundError, match="did you mean torchvision://resnet50"):
        resolve_name("torchvision://resnet5")


def _cache(torch_home, url: str, state: dict, *, right_hash: bool) -> str:
    """Put ``state`` in the hub cache under ``url``'s file name (its hash made to match)."""
    directory = torch_home / "hub" / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    scratch = directory / "scratch.pth"
    torch.save(state, scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    name = os.path.basename(url)
    stem, _, suffix = name.rpartition(".")
    base = stem.rsplit("-", 1)[0]
    # The file name carries the hash prefix, as torch hub names do.
    hashed = f"{base}-{digest[:8] if right_hash else '00000000'}.{suffix}"
    path = directory / hashed
    scratch.rename(path)
    return str(path), f"{url.rsplit('/', 1)[0]}/{hashed}"


def test_named_checkpoint_loads_from_the_cache(torch_home, monkeypatch):
    source = nn.Linear(3, 2)
    path, url = _cache(torch_home, "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                       source.state_dict(), right_hash=True)
    monkeypatch.setattr(checkpoint, "resolve_name", lambda name: url)
    model = nn.Linear(3, 2)
    initdsl.apply(model, 'load "torchvision://resnet50"')
    assert torch.equal(model.weight, source.weight)


def test_a_wrong_hash_is_refused(torch_home, monkeypatch):
    path, url = _cache(torch_home, "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                       nn.Linear(3, 2).state_dict(), right_hash=False)
    monkeypatch.setattr(checkpoint, "resolve_name", lambda name: url)
    model = nn.Linear(3, 2)
    before = model.weight.clone()
    with pytest.raises(initdsl.InitError, match="SHA-256 starts"):
        initdsl.apply(model, 'load "torchvision://resnet50"')
    assert torch.equal(model.weight, before)


def test_missing_without_network_fails_fast_and_names_the_cache_path(torch_home, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(initdsl.InitError) as raised:
        initdsl.apply(nn.Linear(3, 2), 'load "torchvision://resnet50"')
    message = str(raised.value)
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-0676ba61.pth") in message


def test_mmcls_checkpoints_keep_the_backbone_keys(torch_home, monkeypatch):
    backbone = nn.Linear(3, 2)
    state = {"state_dict": {**{f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                            "head.fc.weight": torch.zeros(1)}}
    path, url = _cache(torch_home, "https://x/resnet50-ea4938fc.pth", state, right_hash=True)
    monkeypatch.setattr(checkpoint, "resolve_name", lambda name: url)
    model = nn.Linear(3, 2)
    report = initdsl.apply(model, 'load "mmcls://resnet50"')
    assert torch.equal(model.weight, backbone.weight)
    assert not report.loads[0].unexpected  # the head's keys were dropped, as mmengine does
