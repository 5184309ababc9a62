"""Sharded initialization with initdsl: FSDP2 or tensor parallel, the values of one process.

    torchrun --nproc-per-node 2 examples/distributed/sharded_init.py fsdp
    torchrun --nproc-per-node 2 examples/distributed/sharded_init.py tp

Builds the model on the meta device, shards it the way torchtitan does,
and lets ``initdsl.materialize`` allocate and write each rank's shards.
Then, to show what that means, it gathers every parameter and compares it
with a single-process ``materialize`` of the same model and seed (a check
for this example: a real run would not gather the model).
gloo on the CPU; nccl when every rank has a GPU.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh

import initdsl
from initdsl import zoo

EXAMPLES = Path(__file__).resolve().parents[1]


def build():
    """A small Llama 3 in torchtitan's layout (``initdsl.zoo``), on meta: no memory yet."""
    with torch.device("meta"):
        return zoo.titan_llama3(vocab=1024, dim=256, n_layers=4, heads=8, kv_heads=4,
                                hidden=768)


def shard_fsdp(model, mesh):
    from torch.distributed.fsdp import fully_shard

    for layer in model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def shard_tp(model, mesh):
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    for layer in model.layers:
        parallelize_module(layer, mesh, {
            "attention.qkv_linear.wqkv": ColwiseParallel(), "attention.wo": RowwiseParallel(),
            "feed_forward.w1": ColwiseParallel(), "feed_forward.w2": RowwiseParallel(),
            "feed_forward.w3": ColwiseParallel()})
    parallelize_module(model, mesh, {"lm_head": ColwiseParallel()})


def main(layout: str) -> None:
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ["WORLD_SIZE"])
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    run(layout, cuda)
    # Leave together, with every tensor of the run already freed: gloo may abort a
    # rank that tears down before its peers, or whose collectives' tensors are only
    # released while the interpreter shuts down.
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


def run(layout: str, cuda: bool) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cuda" if cuda else "cpu", (world,))
    policy = initdsl.load(os.path.relpath(EXAMPLES / "peers" / "titan_llama3.init"))

    model = build()
    (shard_fsdp if layout == "fsdp" else shard_tp)(model, mesh)
    initdsl.materialize(model, policy, seed=0)  # each rank: its shards only

    params = dict(model.named_parameters())
    # Under TP the embeddings and norms stay plain (replicated) tensors: each rank holds them.
    local = {name: p.to_local() if hasattr(p, "to_local") else p for name, p in params.items()}
    mine = sum(t.numel() for t in local.values())
    held = [None] * world
    dist.all_gather_object(held, mine)
    shown = ["layers.0.attention.qkv_linear.wqkv.weight", "layers.0.attention.wo.weight"]
    shapes = [None] * world
    dist.all_gather_object(shapes, [tuple(local[name].shape) for name in shown])
    full = {name: (p.full_tensor() if hasattr(p, "full_tensor") else p).cpu()  # collective
            for name, p in params.items()}

    if rank == 0:
        total = sum(t.numel() for t in full.values())
        print(f"{layout}: world {world}, {total:,} parameters; "
              f"each rank holds {', '.join(f'{n:,}' for n in held)}")
        for i, name in enumerate(shown):
            print(f"{name} {tuple(params[name].shape)}: local shards "
                  f"{', '.join(str(rank_shapes[i]) for rank_shapes in shapes)}")
        one = build()
        initdsl.materialize(one, policy, seed=0)  # one process, the whole model
        same = all(torch.equal(full[name], p) for name, p in one.named_parameters())
        print(f"equal to one process, bit for bit: {same}")
        # Every rank can explain every parameter, as one process would.
        rows = initdsl.plan(model, policy).explain().splitlines()
        print("\n".join([rows[0], *(r for r in rows if r.startswith("layers.3.feed_forward"))]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fsdp")
