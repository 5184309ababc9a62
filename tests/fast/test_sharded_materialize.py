"""materialize on a model torch.distributed has sharded on meta: each rank writes its shards,
and the gathered model equals single-process materialize bit for bit (gloo, on the CPU)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import initdsl
from initdsl import zoo

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

REPO = Path(__file__).resolve().parents[2]

POLICY = """Linear -> trunc_normal(std=0.02, sampler=torch)
Embedding -> normal(std=0.02) then zero_row(module.padding_idx)
*Norm -> ones
param blocks.{i}.attn.proj.weight -> normal(std=0.02 / sqrt(2 * (i + 1)))
param head.weight -> normal(std=tensor.fan_in ** -0.5) then scale(0.5)
"""

SCRIPT = '''
import os, sys, torch, torch.distributed as dist
sys.path.insert(0, {repo!r})
from initdsl import zoo
import initdsl

POLICY = {policy!r}

def build():
    model = zoo.gpt(vocab=300, dim=64, depth=3, heads=4, mlp=128, max_len=32)
    model.tok_emb.padding_idx = 5
    return model

def shard(model, mesh, how):
    if how == "fsdp":
        from torch.distributed.fsdp import fully_shard
        for block in model.blocks:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
    else:
        from torch.distributed.tensor.parallel import (
            ColwiseParallel, RowwiseParallel, parallelize_module)
        for block in model.blocks:
            parallelize_module(block, mesh, {{"mlp.fc1": ColwiseParallel(),
                                              "mlp.fc2": RowwiseParallel(),
                                              "attn.qkv": ColwiseParallel()}})
        parallelize_module(model, mesh, {{"head": ColwiseParallel()}})

def main(rank, world, how, out, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        model = build()
    shard(model, mesh, how)
    initdsl.materialize(model, POLICY, seed=3)
    local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel()
                for p in model.parameters())
    full = {{name: (p.full_tensor() if hasattr(p, "full_tensor") else p.detach()).clone()
            for name, p in model.named_parameters()}}
    if rank == 0:
        torch.save(dict(full=full, local=local), out)
    dist.destroy_process_group()

if __name__ == "__main__":
    import torch.multiprocessing as mp
    world, how, out, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    mp.spawn(main, args=(world, how, out, port), nprocs=world)
'''


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _single() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        model = zoo.gpt(vocab=300, dim=64, depth=3, heads=4, mlp=128, max_len=32)
    model.tok_emb.padding_idx = 5
    initdsl.materialize(model, POLICY, seed=3)
    return {name: p.detach() for name, p in model.named_parameters()}


@pytest.mark.parametrize("how", ["fsdp", "tp"])
@pytest.mark.parametrize("world", [2, 4])
def test_sharded_materialize_equals_one_process(tmp_path, world, how):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(repo=str(REPO), policy=POLICY))
    out = tmp_path / "full.pt"
    result = subprocess.run([sys.executable, str(script), str(world), how, str(out),
                             str(_port())], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = torch.load(out)
    expected = _single()
    assert sorted(got["full"]) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(got["full"][name], tensor), name
    total = sum(t.numel() for t in expected.values())
    if how == "fsdp":  # each rank holds about 1/world of the model
        assert got["local"] <= total / world + 2 * 64 * 3 + 300



EXACT = """
import os, sys, torch, torch.distributed as dist
sys.path.insert(0, {repo!r})
import initdsl
from initdsl import zoo

def main(rank, world, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    model = zoo.gpt(vocab=50, dim=16, depth=1, heads=2, mlp=32, max_len=8)
    fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
    try:
        initdsl.apply(model, "Linear -> normal(std=0.02)")
    except initdsl.InitValueError as error:
        assert "initdsl.materialize" in str(error), error
    else:
        raise AssertionError("exact mode ran on a sharded model")
    dist.destroy_process_group()

if __name__ == "__main__":
    import torch.multiprocessing as mp
    mp.spawn(main, args=(2, int(sys.argv[1])), nprocs=2)
"""


def test_exact_mode_on_a_sharded_model_says_what_to_do_instead(tmp_path):
    script = tmp_path / "exact.py"
    script.write_text(EXACT.format(repo=str(REPO)))
    result = subprocess.run([sys.executable, str(script), str(_port())], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
