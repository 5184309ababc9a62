"""Loads in fast mode: planned per tensor, never drawn, assigned zero-copy on materialize."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import initdsl
from initdsl.fast.schedule import Copy

from .models import POLICY, Net, by_name, fast, meta


def save(state: dict, path) -> str:
    if str(path).endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return str(path)


def mapped_files(tensor: torch.Tensor) -> set[str]:
    """Files whose memory mapping contains ``tensor``'s data (Linux)."""
    address = tensor.data_ptr()
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, stop = (int(x, 16) for x in fields[0].split("-"))
            if start <= address < stop and len(fields) >= 6:
                found.add(fields[5])
    return found


linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")


@pytest.fixture
def source():
    torch.manual_seed(1)
    model = Net()
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point():
                t.normal_()
    return model


@linux
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_materialize_assigns_the_memory_mapped_checkpoint(tmp_path, source, suffix):
    path = save(source.state_dict(), tmp_path / f"net{suffix}")
    model = initdsl.materialize(meta(Net), POLICY + f'load "{path}"\n', seed=0)
    assert by_name(model) == by_name(source)
    assert os.path.realpath(path) in mapped_files(model.fc.weight)
    assert initdsl.provenance(model)["fc.weight"].writer == "Pretrained"
    # the file is mapped copy-on-write: writing the model leaves the checkpoint intact
    with torch.no_grad():
        model.fc.weight.zero_()
    reread = initdsl.materialize(meta(Net), f'load "{path}"', seed=0)
    assert torch.equal(reread.fc.weight, source.fc.weight)


@linux
def test_materialize_copies_when_asked_or_when_the_dtype_differs(tmp_path, source):
    path = save(source.state_dict(), tmp_path / "net.pt")
    copied = initdsl.materialize(meta(Net), f'load "{path}"', seed=0, assign=False)
    assert by_name(copied) == by_name(source)
    assert os.path.realpath(path) not in mapped_files(copied.fc.weight)
    half = initdsl.materialize(meta(Net), f'load "{path}"', seed=0, dtype=torch.bfloat16)
    assert torch.equal(half.fc.weight, source.fc.weight.to(torch.bfloat16))
    assert half.bn.num_batches_tracked.dtype == torch.long


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_fast_load_equals_exact_load(tmp_path, source, suffix):
    path = save(source.state_dict(), tmp_path / f"net{suffix}")
    policy = POLICY + f'load "{path}"\n'
    exact = Net()
    initdsl.apply(exact, policy)
    ours = fast(Net(), policy)
    assert by_name(ours) == by_name(exact) == by_name(source)
    assert initdsl.provenance(ours).loads == initdsl.provenance(exact).loads
    assert dict(initdsl.provenance(ours)) == dict(initdsl.provenance(exact))


def test_loaded_tensors_are_never_drawn(tmp_path, source):
    path = save({k: v for k, v in source.state_dict().items() if k.startswith("fc.")},
                tmp_path / "fc.pt")
    schedule = initdsl.plan(meta(Net), POLICY + f'load "{path}"\n')
    assert isinstance(schedule["fc.weight"].final, Copy)
    drawn = {t.name for phase in schedule.phases for t, w in phase.writes
             if not isinstance(w, Copy)}
    assert "fc.weight" not in drawn and "fc.bias" not in drawn
    assert schedule.summary()["values_loaded"] == 1536 * 1024 + 1024


def test_prefix_scope_and_mismatch_are_as_in_exact_mode(tmp_path, source, caplog):
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["backbone.head.weight"] = torch.zeros(5, 5)
    path = save(state, tmp_path / "bb.pt")
    policy = POLICY + f'load "{path}" prefix "backbone."\n'
    exact = Net()
    initdsl.apply(exact, policy)
    exact_warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    caplog.clear()
    ours = fast(Net(), policy)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == exact_warnings
    assert "size mismatch for head.weight" in exact_warnings[0]
    assert initdsl.provenance(ours).loads == initdsl.provenance(exact).loads
    assert torch.equal(ours.fc.weight, source.fc.weight)
    assert not torch.equal(ours.head.weight, source.head.weight)  # the rule's draw stands


def test_custom_loading_code_runs_as_a_barrier(tmp_path, source):
    class Doubling(nn.Linear):
        def _load_from_state_dict(self, state_dict, prefix, *args):
            key = prefix + "weight"
            if key in state_dict:
                state_dict[key] = state_dict[key] * 2
            super()._load_from_state_dict(state_dict, prefix, *args)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = Doubling(1536, 1024)

    path = save({"fc.weight": source.fc.weight.detach(), "fc.bias": source.fc.bias.detach()},
                tmp_path / "fc.pt")
    schedule = initdsl.plan(Model(), f'Linear -> normal\nload "{path}"')
    assert len(schedule.barriers) == 1
    model = fast(Model(), f'Linear -> normal\nload "{path}"')
    assert torch.equal(model.fc.weight, 2 * source.fc.weight)
    assert initdsl.provenance(model)["fc.weight"].writer == "Pretrained"
