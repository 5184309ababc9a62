"""Checkpoints that cannot be read, devices that cannot be read onto, downloads that fail.

Each bad file goes through every entry point that reads checkpoints — exact
``initdsl.apply``, fast mode, ``initdsl.plan``, ``initdsl.materialize`` of a
meta model, and the ``init_cfg`` form through ``initdsl.initialize`` — and
each must refuse it while planning: one ``E133`` diagnostic at the path
(``CheckpointFormatError`` for the ``init_cfg``), naming the file, with the
model unchanged.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import pytest
import torch
from torch import nn

import initdsl

from .helpers import changed, snapshot


def _model(device: str = "cpu") -> nn.Module:
    torch.manual_seed(0)
    with torch.device(device):
        return nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))


def _random_bytes(count: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(count)


def _good_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return dict(_model().state_dict())


def _write_safetensors_header(path, header: bytes, length: int | None = None) -> None:
    """A safetensors file: an 8-byte little-endian header length, then the header."""
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header)


def _make(name: str, directory) -> str:
    """Write the bad checkpoint ``name`` (a key of BAD_FILES) into ``directory``."""
    path = directory / BAD_FILES[name][0]
    if name == "empty-pth" or name == "empty-safetensors":
        path.write_bytes(b"")
    elif name == "truncated-pth":
        good = directory / "good.pth"
        torch.save(_good_state(), good)
        path.write_bytes(good.read_bytes()[:100])
    elif name in ("random-pth", "random-pth-weights_only-false"):
        path.write_bytes(_random_bytes(512, seed=1))
    elif name == "truncated-safetensors":
        from safetensors.torch import save_file

        good = directory / "good.safetensors"
        save_file({k: v.contiguous() for k, v in _good_state().items()}, str(good))
        path.write_bytes(good.read_bytes()[:100])
    elif name == "random-safetensors":
        path.write_bytes(_random_bytes(512, seed=2))
    elif name == "header-past-the-end":
        _write_safetensors_header(path, b"{}", length=1 << 20)
    elif name == "header-not-json":
        _write_safetensors_header(path, b"this is not json at all")
    elif name == "sparse-tensor":
        state = _good_state()
        state["0.weight"] = state["0.weight"].to_sparse()
        torch.save(state, path)
    else:  # pragma: no cover - a name missing from the table
        raise AssertionError(name)
    return path.name


#: name → (file name, load options)
BAD_FILES = {
    "empty-pth": ("empty.pth", ""),
    "truncated-pth": ("truncated.pth", ""),
    "random-pth": ("random.pth", ""),
    "random-pth-weights_only-false": ("random_trusted.pth", " weights_only false"),
    "empty-safetensors": ("empty.safetensors", ""),
    "truncated-safetensors": ("truncated.safetensors", ""),
    "random-safetensors": ("random.safetensors", ""),
    "header-past-the-end": ("past_end.safetensors", ""),
    "header-not-json": ("not_json.safetensors", ""),
    "sparse-tensor": ("sparse.pth", ""),
}

#: An earlier rule that writes: the load's failure must leave its writes undone too.
EARLIER = "Linear -> constant(1)\n"


def _policy(file_name: str, options: str) -> str:
    return f'{EARLIER}load "{file_name}"{options}\n'


def _run(entry: str, model: nn.Module, text: str) -> None:
    if entry == "exact":
        initdsl.apply(model, text)
    elif entry == "fast":
        initdsl.apply(model, text, mode="fast", seed=0)
    elif entry == "plan":
        initdsl.plan(model, text)
    else:
        initdsl.materialize(model, text, seed=0)


ENTRIES = ["exact", "fast", "plan", "materialize"]


def _meta_unchanged(model: nn.Module) -> bool:
    return all(t.device.type == "meta" for t in model.state_dict().values())


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_unreadable_checkpoint_is_e133_at_its_path(tmp_path, monkeypatch, bad, entry):
    """One E133 at the path's span, naming the file; nothing written or allocated."""
    monkeypatch.chdir(tmp_path)
    file_name = _make(bad, tmp_path)
    text = _policy(file_name, BAD_FILES[bad][1])
    model = _model("meta" if entry == "materialize" else "cpu")
    before = None if entry == "materialize" else snapshot(model)
    with pytest.raises(initdsl.PolicyError) as info:
        _run(entry, model, text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E133"
    column = text.splitlines()[1].index('"') + 1
    span = diagnostic.span
    assert (span.line, span.column, span.end_column) == (2, column,
                                                         column + len(file_name) + 2)
    assert file_name in diagnostic.message
    if entry == "materialize":
        assert _meta_unchanged(model)
    else:
        assert changed(before, snapshot(model)) == []


@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_unreadable_checkpoint_in_init_cfg_is_checkpoint_format_error(tmp_path, monkeypatch,
                                                                      bad):
    """The init_cfg form through initialize: CheckpointFormatError naming the file."""
    monkeypatch.chdir(tmp_path)
    file_name = _make(bad, tmp_path)
    pretrained = dict(type="Pretrained", checkpoint=file_name)
    if "weights_only false" in BAD_FILES[bad][1]:
        pretrained["weights_only"] = False
    model = _model()
    before = snapshot(model)
    with pytest.raises(initdsl.CheckpointFormatError) as info:
        initdsl.initialize(model, [dict(type="Constant", layer="Linear", val=1), pretrained])
    assert info.value.code == "E133"
    assert file_name in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert changed(before, snapshot(model)) == []


# -- map_location ----------------------------------------------------------------------

#: value as written → why; each is E132 at the option while planning (the model is needed)
LOCATIONS_REFUSED_WHILE_PLANNING = {
    '"cuda"': "CUDA",
    '"cuda:1"': "CUDA",
    '"banana"': "not a device",
    '"meta"': "reads no tensor data",
}

#: value as written → E132 from compile already (the Pretrained constructor refuses it)
LOCATIONS_REFUSED_BY_COMPILE = ['""', '"9"', "0", "3.5", "-1", "true"]


@pytest.fixture
def good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(_good_state(), tmp_path / "good.pth")
    return "good.pth"


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("location", list(LOCATIONS_REFUSED_WHILE_PLANNING))
def test_map_location_this_machine_cannot_read_onto_is_e132_while_planning(
        good_checkpoint, location, entry):
    """E132 at the option's value; nothing written."""
    if location.startswith('"cuda') and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    text = f'{EARLIER}load "{good_checkpoint}" map_location {location}\n'
    initdsl.compile(text)  # valid without a model
    model = _model("meta" if entry == "materialize" else "cpu")
    before = None if entry == "materialize" else snapshot(model)
    with pytest.raises(initdsl.PolicyError) as info:
        _run(entry, model, text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E132"
    line = text.splitlines()[1]
    column = line.index(location) + 1
    assert (diagnostic.span.line, diagnostic.span.column, diagnostic.span.end_column) == \
        (2, column, column + len(location))
    assert LOCATIONS_REFUSED_WHILE_PLANNING[location] in diagnostic.message
    if entry == "materialize":
        assert _meta_unchanged(model)
    else:
        assert changed(before, snapshot(model)) == []


@pytest.mark.parametrize("location", LOCATIONS_REFUSED_WHILE_PLANNING)
def test_map_location_refused_in_init_cfg_is_checkpoint_format_error(good_checkpoint,
                                                                     location):
    """The init_cfg form: CheckpointFormatError with code E132 and the argument named."""
    if location.startswith('"cuda') and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model = _model()
    before = snapshot(model)
    with pytest.raises(initdsl.CheckpointFormatError) as info:
        initdsl.initialize(model, [dict(type="Constant", layer="Linear", val=1),
                                   dict(type="Pretrained", checkpoint=good_checkpoint,
                                        map_location=location.strip('"'))])
    assert (info.value.code, info.value.argument) == ("E132", "map_location")
    assert changed(before, snapshot(model)) == []


@pytest.mark.parametrize("location", LOCATIONS_REFUSED_BY_COMPILE)
def test_map_location_that_is_no_device_is_e132_from_compile(location):
    """What the constructor refuses is E132 without a model, at the value."""
    text = f'load "good.pth" map_location {location}'
    with pytest.raises(initdsl.PolicyError) as info:
        initdsl.compile(text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E132"
    column = text.index(location, len('load "good.pth"')) + 1
    assert (diagnostic.span.line, diagnostic.span.column, diagnostic.span.end_column) == \
        (1, column, column + len(location))


@pytest.mark.parametrize("location", ['"cpu"', "none"])
def test_map_location_that_works_still_loads(good_checkpoint, location):
    """The negative case: a readable device loads the checkpoint."""
    model = _model()
    initdsl.apply(model, f'load "{good_checkpoint}" map_location {location}')
    assert snapshot(model) == snapshot(_good_model())


def _good_model() -> nn.Module:
    model = _model()
    model.load_state_dict(_good_state())
    return model


# -- a download that fails --------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


DOWNLOADS = {
    "exact": lambda m, url: initdsl.apply(m, f'load "{url}"'),
    "fast": lambda m, url: initdsl.apply(m, f'load "{url}"', mode="fast", seed=0),
    "plan": lambda m, url: initdsl.plan(m, f'load "{url}"'),
    "initialize": lambda m, url: initdsl.initialize(
        m, [dict(type="Constant", layer="Linear", val=1),
            dict(type="Pretrained", checkpoint=url)]),
}


@pytest.mark.parametrize("entry", list(DOWNLOADS))
def test_download_from_a_closed_port_fails_fast_and_names_the_cache_file(
        torch_home, closed_port, entry):
    """CheckpointNotFoundError within seconds, naming where to put the file; no partial file."""
    url = f"http://127.0.0.1:{closed_port}/x.pth"
    model = _model()
    before = snapshot(model)
    started = time.monotonic()
    with pytest.raises(initdsl.CheckpointNotFoundError) as info:
        DOWNLOADS[entry](model, url)
    assert time.monotonic() - started < 10
    cache = torch_home / "hub" / "checkpoints"
    assert str(cache / "x.pth") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    left = [p for p in cache.rglob("*")] if cache.exists() else []
    assert left == []
    assert changed(before, snapshot(model)) == []
    assert not os.path.exists(cache / "x.pth")
