"""Sharded initialization on torch.distributed (gloo, on the CPU) equals one process.

Every scenario of ``sharded_scenarios.py`` — FSDP2, tensor parallel, 2-D
FSDP x TP, explicit ``distribute_tensor`` placements, loads from
``.safetensors`` and ``.pt``, fast mode on an allocated sharded model, and
exact mode's initialize-on-rank-0-and-scatter — runs on 1, 2 and 4
processes; every parameter and buffer, gathered, equals the single-process
run bit for bit, each rank explains every parameter as one process does,
and messages come from rank 0 only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from . import sharded_scenarios as scenarios

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")
pytest.importorskip("safetensors")

SCRIPT = Path(scenarios.__file__)


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("checkpoints")
    scenarios.checkpoints(str(directory))
    return directory


@pytest.fixture(scope="module")
def single(checkpoint_dir):
    return {name: scenarios.run(name, 0, str(checkpoint_dir)) for name in scenarios.available()}


_RUNS: dict[int, dict] = {}


def _provenance(got, name):
    """The sharded run's provenance as the single-process reference states it. Exact mode's
    reference is a model built on the CPU, whose LayerNorms keep their constructor values
    ("not written"); on meta those come from the module default, which provenance says."""
    records = json.loads(got["provenance"])
    if name == "exact-scatter":
        for record in records["parameters"].values():
            if (record["origin"] or {}).get("via") == "default":
                record.update(writer=None, args={}, origin=None,
                              text="not written by any initializer")
    return records


def _sharded(world, checkpoint_dir, tmp_path_factory):
    if world not in _RUNS:
        out = tmp_path_factory.mktemp(f"world{world}") / "results.pt"
        result = subprocess.run([sys.executable, str(SCRIPT), str(world), str(out),
                                 str(checkpoint_dir)],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        _RUNS[world] = torch.load(out, weights_only=False)
    return _RUNS[world]


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
@pytest.mark.parametrize("world", [1, 2, 4])
def test_sharded_equals_one_process(world, name, single, checkpoint_dir, tmp_path_factory):
    if name not in single:
        pytest.skip("needs transformers")
    got = _sharded(world, checkpoint_dir, tmp_path_factory)[name]
    expected = single[name]
    assert sorted(got["full"]) == sorted(expected["full"])
    for tensor_name, tensor in expected["full"].items():
        assert torch.equal(got["full"][tensor_name], tensor), tensor_name
    # Provenance, plan and load reports: the same on every rank, and as on one process.
    assert got["same_on_every_rank"]
    assert _provenance(got, name) == json.loads(expected["provenance"])
    assert got["explain"] == expected["explain"]
    assert got["loads"] == expected["loads"]
    # Warnings and the load mismatch report: once, from rank 0.
    assert got["reported_by"] == ([0] if expected["warnings"] or expected["mismatch"] else [])
    assert got["mismatch"] == expected["mismatch"]


@pytest.mark.parametrize("world", [2, 4])
def test_fsdp_ranks_hold_about_one_world_th(world, single, checkpoint_dir, tmp_path_factory):
    got = _sharded(world, checkpoint_dir, tmp_path_factory)["gpt-fsdp"]
    total = single["gpt-fsdp"]["local"]
    assert sum(got["locals"]) == total
    assert max(got["locals"]) <= total / world + 301  # uneven shards: at most a row more each
