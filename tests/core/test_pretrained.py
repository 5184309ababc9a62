"""``Pretrained``: sources (path, ~, file://, http://), prefixes, reports, safe loading."""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict

import pytest
import torch
from torch import nn

import initdsl

from .helpers import changed, snapshot


class Meta:
    """A custom object pickled into a checkpoint's meta (refused by weights_only loading)."""

    def __init__(self, epoch):
        self.epoch = epoch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
        self.head = nn.Linear(3, 4)


@pytest.fixture
def source():
    torch.manual_seed(99)
    net = Net()
    bn = net.backbone[1]
    for t in (bn.weight.data, bn.bias.data, bn.running_mean, bn.running_var):
        t.uniform_(0.5, 1.5)
    net.backbone[1].num_batches_tracked.fill_(5)
    return net


def _load(model, checkpoint, **kw):
    initdsl.initialize(model, dict(type="Pretrained", checkpoint=checkpoint, **kw))


def _same(model, src, keys=None):
    ours, theirs = model.state_dict(), src.state_dict()
    keys = keys or theirs.keys()
    return all(torch.equal(ours[k], theirs[k]) for k in keys)


def test_local_path_loads_params_and_buffers(tmp_path, source):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    model = Net()
    w = model.head.weight
    _load(model, str(path))
    assert _same(model, source)
    assert model.head.weight is w  # copied in place, same Parameter object
    prov = initdsl.provenance(model)
    assert all(r.writer == "Pretrained" for r in prov.values())
    assert prov["head.weight"].text == f"PretrainedInit: load from {path}"
    (report,) = prov.loads
    assert report.clean and report.module == "" and report.checkpoint == str(path)
    assert "backbone.1.running_mean" in report.loaded


def test_tilde_is_expanded(tmp_path, source, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    torch.save(source.state_dict(), tmp_path / "net.pth")
    model = Net()
    _load(model, "~/net.pth")
    assert _same(model, source)


def test_file_url(tmp_path, source):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    model = Net()
    _load(model, path.as_uri())
    assert path.as_uri().startswith("file://") and _same(model, source)


def test_http_url_is_downloaded_once_into_torch_hub_cache(torch_home, http_server, source):
    root, base, requests = http_server
    torch.save(source.state_dict(), root / "remote.pth")
    url = f"{base}/remote.pth"
    for _ in range(2):
        model = Net()
        _load(model, url)
        assert _same(model, source)
    assert requests == ["/remote.pth"]
    assert (torch_home / "hub" / "checkpoints" / "remote.pth").is_file()
    assert initdsl.provenance(model).loads[0].checkpoint == url


def test_unsupported_scheme():
    with pytest.raises(initdsl.InitValueError, match="s3"):
        _load(Net(), "s3://bucket/net.pth")


@pytest.mark.parametrize("prefix", ["backbone", "backbone."])
def test_prefix_with_or_without_trailing_dot(tmp_path, source, prefix):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    backbone = Net().backbone
    _load(backbone, str(path), prefix=prefix)
    assert _same(backbone, source.backbone)
    report = initdsl.provenance(backbone).loads[0]
    assert report.prefix == prefix and report.clean


def test_module_prefix_is_stripped_without_prefix_only(tmp_path, source):
    path = tmp_path / "ddp.pth"
    torch.save(OrderedDict((f"module.{k}", v) for k, v in source.state_dict().items()), path)
    model = Net()
    _load(model, str(path))
    assert _same(model, source)
    with pytest.raises(AssertionError, match="backbone. is not in the pretrained model"):
        _load(Net().backbone, str(path), prefix="backbone")
    backbone = Net().backbone
    _load(backbone, str(path), prefix="module.backbone")
    assert _same(backbone, source.backbone)


def test_state_dict_key_is_unwrapped(tmp_path, source):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": source.state_dict(), "meta": {"epoch": 3}}, path)
    model = Net()
    _load(model, str(path))
    assert _same(model, source)
    head = Net().head
    _load(head, str(path), prefix="head")
    assert _same(head, source.head)


def test_mismatches_are_reported_not_raised(tmp_path, source, caplog):
    sd = source.state_dict()
    sd["head.weight"] = torch.ones(5, 3)  # shape mismatch
    del sd["head.bias"]  # missing
    del sd["backbone.1.num_batches_tracked"]  # missing but never reported
    sd["extra.weight"] = torch.ones(2)  # unexpected
    path = tmp_path / "partial.pth"
    torch.save(sd, path)
    model = Net()
    before = snapshot(model)
    with caplog.at_level(logging.WARNING, logger="initdsl"):
        _load(model, str(path))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "The model and loaded state dict do not match exactly\n\n"
        "size mismatch for head.weight: copying a param with shape torch.Size([5, 3]) from "
        "checkpoint, the shape in current model is torch.Size([4, 3]).\n"
        "unexpected key in source state_dict: extra.weight\n\n"
        "missing keys in source state_dict: head.bias\n"]
    assert sorted(changed(before, snapshot(model))) == sorted(
        f"{kind}:{k}" for kind, k in [("param", "backbone.0.weight"), ("param", "backbone.0.bias"),
                                      ("param", "backbone.1.weight"), ("param", "backbone.1.bias"),
                                      ("buffer", "backbone.1.running_mean"),
                                      ("buffer", "backbone.1.running_var")])
    prov = initdsl.provenance(model)
    assert prov["head.weight"].writer is None and prov["head.bias"].writer is None
    (report,) = prov.loads
    assert not report.clean
    assert report.missing == ("head.bias",)
    assert report.unexpected == ("extra.weight",)
    assert report.mismatched == (("head.weight", (5, 3), (4, 3)),)
    assert "head.weight" not in report.loaded and "backbone.0.weight" in report.loaded
    assert report.to_dict()["mismatched"] == [
        {"key": "head.weight", "checkpoint_shape": [5, 3], "model_shape": [4, 3]}]


def test_loads_report_paths_are_relative_to_the_queried_model(tmp_path, source):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    model = Net()
    initdsl.initialize(model, dict(type="Normal", layer="Linear", override=dict(
        type="Pretrained", name="head", checkpoint=str(path), prefix="head")))
    assert [r.module for r in initdsl.provenance(model).loads] == ["head"]
    assert [r.module for r in initdsl.provenance(model.head).loads] == [""]


def test_one_element_vector_loads_into_scalar_parameter(tmp_path):
    class Scalar(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = nn.Parameter(torch.tensor(1.0))

    path = tmp_path / "s.pth"
    torch.save({"t": torch.tensor([3.0])}, path)
    model = Scalar()
    _load(model, str(path))
    assert model.t.item() == 3.0 and initdsl.provenance(model).loads[0].mismatched == ()


def test_safetensors(tmp_path, source):
    safetensors = pytest.importorskip("safetensors.torch")
    path = tmp_path / "net.safetensors"
    safetensors.save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = Net()
    _load(model, str(path))
    assert _same(model, source)


def test_safetensors_are_read_as_the_file_mapped_into_memory(tmp_path):
    """Every dtype as safetensors reads it, in its order; the tensors are views of the
    mapped file (copy-on-write: writing one leaves the file alone)."""
    safetensors = pytest.importorskip("safetensors.torch")
    from initdsl.core.checkpoint import _read_file

    state = {"w": torch.randn(5, 3), "i8": torch.arange(7, dtype=torch.int8),
             "f64": torch.tensor(3.0, dtype=torch.float64), "empty": torch.zeros(0, 4),
             "mask": torch.tensor([True, False]), "bf16": torch.randn(3).bfloat16()}
    if hasattr(torch, "float8_e4m3fn"):  # no view for it here: safetensors reads it
        state["f8"] = torch.randn(2).to(torch.float8_e4m3fn)
    path = str(tmp_path / "all.safetensors")
    safetensors.save_file(state, path)
    expected = safetensors.load_file(path)
    got = _read_file(path, "cpu", True)
    assert list(got) == list(expected)
    for key, tensor in expected.items():
        assert got[key].dtype == tensor.dtype and got[key].shape == tensor.shape
        assert torch.equal(got[key].reshape(-1).view(torch.uint8),
                           tensor.reshape(-1).view(torch.uint8)), key
    assert got["w"].untyped_storage().nbytes() == 5 * 3 * 4  # its bytes, not the file
    got["w"].add_(1)
    assert torch.equal(safetensors.load_file(path)["w"], expected["w"])


def test_a_slice_of_a_mapped_safetensors_tensor_reads_only_the_slice(tmp_path):
    """What a rank of a sharded load does: rows of a 256 MiB tensor cost their pages."""
    safetensors = pytest.importorskip("safetensors.torch")
    from initdsl.core.checkpoint import _read_file

    def resident() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        pytest.skip("no /proc/self/status")

    path = str(tmp_path / "big.safetensors")
    safetensors.save_file({"w": torch.ones(8192, 8192)}, path)  # 256 MiB
    before = resident()
    tensor = _read_file(path, "cpu", True)["w"]
    rows = tensor.narrow(0, 1024, 1024).clone()  # 1/8 of it: 32 MiB
    grown = resident() - before
    assert rows.sum().item() == 1024 * 8192
    assert grown < 96 * 2**20, f"reading 32 MiB of rows took {grown / 2**20:.0f} MiB"


def test_weights_only_refuses_custom_objects(tmp_path, source):
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": source.state_dict(), "meta": Meta(3)}, path)
    model = Net()
    before = snapshot(model)
    with pytest.raises(initdsl.CheckpointUnpicklingError) as info:
        _load(model, str(path))
    assert isinstance(info.value, pickle.UnpicklingError)
    assert isinstance(info.value, initdsl.InitError)
    assert "weights_only=False" in str(info.value) and "init_cfg" in str(info.value)
    assert changed(before, snapshot(model)) == []
    _load(model, str(path), weights_only=False)
    assert _same(model, source)


def test_non_dict_checkpoint(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.ones(1)], path)
    with pytest.raises(RuntimeError, match="No state_dict found"):
        _load(Net(), str(path))


def test_map_location_is_passed_to_torch_load(tmp_path, source, monkeypatch):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("map_location"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    _load(Net(), str(path), map_location=None)
    _load(Net(), str(path))
    assert seen == [None, "cpu"]


def test_checkpoint_read_once_per_run(tmp_path, source, monkeypatch):
    import importlib

    # `initdsl.plan` is the fast engine's function; the core's module is in sys.modules
    plan = importlib.import_module("initdsl.core.planner")

    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    reads = []
    real = plan.read_checkpoint
    monkeypatch.setattr(plan, "read_checkpoint", lambda *a: reads.append(a) or real(*a))
    model = Net()
    initdsl.initialize(model, [dict(type="Pretrained", checkpoint=str(path)),
                               dict(type="Pretrained", checkpoint=str(path), prefix="head",
                                    override=dict(name="head"))])
    assert len(reads) == 1


def test_load_info_lines(tmp_path, source, caplog):
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="initdsl"):
        _load(Net(), str(path))
        _load(Net().head, str(path), prefix="head")
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"load model from: {path}" in infos
    assert f"load head in model from: {path}" in infos
