"""Scenarios run on every rank of a gloo group (``python sharded_scenarios.py WORLD OUT
CKPT_DIR``) and in one process (``single(...)``) by tests/fast/test_sharded_materialize.py.

Each scenario builds a model on meta, shards it (or not, ``world=0``: the
single-process reference), initializes it, and returns every parameter and
buffer in full (``full_tensor()``) with what each rank saw: its local
element count, the provenance, ``plan(...).explain()`` and the load reports.
"""

from __future__ import annotations

import io
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import initdsl  # noqa: E402
from initdsl import zoo  # noqa: E402

PEERS = Path(__file__).resolve().parents[2] / "examples" / "peers"

GPT = """Linear -> trunc_normal(std=0.02, sampler=torch)
Embedding -> normal(std=0.02) then zero_row(module.padding_idx)
param blocks.{i}.attn.proj.weight -> normal(std=0.02 / sqrt(2 * (i + 1)))
param head.weight -> normal(std=tensor.fan_in ** -0.5) then scale(0.5)
"""  # LayerNorms: no rule, their reset_parameters (a module default on shards)

PLACED = """param a -> normal(std=1.0)
param b -> uniform(a=-1, b=1) then zero_row(3)
param c -> orthogonal(gain=2.0)
param d -> trunc_normal(std=0.5)
param e -> normal(std=0.1)
"""


def _gpt():
    model = zoo.gpt(vocab=301, dim=64, depth=3, heads=4, mlp=136, max_len=32)  # uneven shards
    model.tok_emb.padding_idx = 5
    return model


class Placed(nn.Module):
    """Parameters with explicit DTensor placements (what distribute_tensor users write)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.empty(1100, 1000))  # 1.05 blocks: across a block edge
        self.b = nn.Parameter(torch.empty(7, 33))       # 7 rows over 2 or 4 ranks
        self.c = nn.Parameter(torch.empty(48, 40))      # orthogonal: a whole-tensor initializer
        self.d = nn.Parameter(torch.empty(64, 96))
        self.e = nn.Parameter(torch.empty(40, 30))


def _place(model, world):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    flat = init_device_mesh("cpu", (world,), mesh_dim_names=("x",))
    grid = init_device_mesh("cpu", (2, world // 2) if world >= 2 else (1, 1),
                            mesh_dim_names=("p", "q"))
    plans = {"a": (flat, [Shard(1)]), "b": (flat, [Shard(0)]), "c": (flat, [Shard(0)]),
             "d": (grid, [Shard(0), Shard(1)]), "e": (grid, [Shard(0), Shard(0)])}
    for name, (mesh, placements) in plans.items():
        old = getattr(model, name)
        setattr(model, name, nn.Parameter(distribute_tensor(old, mesh, placements)))
    model.r = nn.Parameter(distribute_tensor(torch.empty(5, 6, device="meta"), flat,
                                             [Replicate()]))


def _fsdp(model, blocks, mesh):
    from torch.distributed.fsdp import fully_shard
    for block in blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _llama_tp(model, mesh):
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


def _full(model):
    out = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor.detach()
        out[name] = full.detach().clone()
    return out


def _local(model):
    return sum((p.to_local() if hasattr(p, "to_local") else p).numel()
               for p in model.parameters())


def _loads(prov):
    return [(r.module, r.checkpoint, r.loaded, r.missing, r.unexpected, r.mismatched)
            for r in prov.loads]


def run(name, world, ckpt_dir):
    """One scenario; ``world=0`` is the single-process reference."""
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (world,)) if world else None
    policy, seed, how = GPT, 3, "materialize"
    if name == "gpt-fsdp":
        with torch.device("meta"):
            model = _gpt()
        if world:
            _fsdp(model, model.blocks, mesh)
    elif name == "hf-gpt2-fsdp":
        import transformers as T
        config = T.GPT2Config(n_layer=3, n_embd=64, n_head=4, vocab_size=97, n_positions=32,
                              bos_token_id=0, eos_token_id=0)
        with torch.device("meta"):
            # GPT2Model, not GPT2LMHeadModel: the head model's child ``transformer`` has HF's
            # own init_weights, which mmengine's chaining runs — user code, refused on shards.
            model = T.GPT2Model(config)
        if world:
            _fsdp(model, model.h, mesh)
        policy = (PEERS / "hf_gpt2.init").read_text()
    elif name in ("llama-tp", "llama-2d"):
        with torch.device("meta"):
            model = zoo.titan_llama3(vocab=260, dim=64, n_layers=2, heads=4, hidden=192)
        if world and name == "llama-tp":
            _llama_tp(model, mesh)
        elif world:
            grid = init_device_mesh("cpu", (2, world // 2) if world >= 2 else (1, 1),
                                    mesh_dim_names=("dp", "tp"))
            _llama_tp(model, grid["tp"])
            _fsdp(model, model.layers, grid["dp"])
        policy = (PEERS / "titan_llama3.init").read_text()
    elif name == "vit-fsdp":
        with torch.device("meta"):
            model = zoo.vit(num_classes=10, img_size=32, patch_size=8, depth=2, dim=64,
                            heads=4, mlp_ratio=2)
        if world:
            _fsdp(model, model.blocks, mesh)
        policy = (PEERS / "timm_vit.init").read_text()  # keep: module defaults on shards
    elif name == "placements":
        with torch.device("meta"):
            model = Placed()
        if world:
            _place(model, world)
        else:
            model.r = nn.Parameter(torch.empty(5, 6, device="meta"))
        policy = PLACED + "param r -> normal(std=3.0)\n"
    elif name in ("load-safetensors", "load-pt"):
        with torch.device("meta"):
            model = _gpt()
        if world:
            _fsdp(model, model.blocks, mesh)
        suffix = "safetensors" if name == "load-safetensors" else "pt"
        policy = GPT + f'load "{ckpt_dir}/gpt.{suffix}"\n'
    elif name == "fast-apply":  # an allocated sharded model, rewritten in fast mode
        with torch.device("meta"):
            model = _gpt()
        if world:
            _fsdp(model, model.blocks, mesh)
        how = "apply-fast"
    elif name == "exact-scatter":
        if world:
            with torch.device("meta"):
                model = _gpt()
            _fsdp(model, model.blocks, mesh)
        else:
            model = _gpt()
        how = "exact"
    else:
        raise ValueError(name)

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("initdsl").addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if how == "materialize":
            initdsl.materialize(model, policy, seed=seed)
        elif how == "apply-fast":
            if world:
                model.to_empty(device="cpu")
                initdsl.apply(model, policy, mode="fast", seed=seed)
            else:
                initdsl.materialize(model, policy, seed=seed)
        else:
            initdsl.apply(model, policy, seed=seed, scatter=bool(world))
    logging.getLogger("initdsl").removeHandler(handler)
    prov = initdsl.provenance(model)
    return dict(
        full=_full(model), local=_local(model),
        provenance=prov.to_json(),
        loads=_loads(prov),
        explain=initdsl.plan(model, policy).explain() if how != "exact" else "",
        warnings=sorted({str(w.message)[:60] for w in caught
                         if "materialize" in str(w.message) or "match" in str(w.message)}),
        mismatch="do not match exactly" in log.getvalue(),
    )


SCENARIOS = ["gpt-fsdp", "hf-gpt2-fsdp", "llama-tp", "llama-2d", "vit-fsdp", "placements",
             "load-safetensors", "load-pt", "fast-apply", "exact-scatter"]


def available():
    try:
        import transformers  # noqa: F401
    except ImportError:
        return [s for s in SCENARIOS if s != "hf-gpt2-fsdp"]
    return SCENARIOS


def checkpoints(directory):
    """A checkpoint of the gpt with one unexpected key, as .safetensors and .pt."""
    model = _gpt()
    state = {k: torch.randn_like(v) for k, v in model.state_dict().items()
             if not k.startswith("blocks.2.")}  # blocks.2 stays with the policy's draws
    state["extra.weight"] = torch.ones(3)
    torch.save(state, f"{directory}/gpt.pt")
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, f"{directory}/gpt.safetensors")


def main(rank, world, out, ckpt_dir):
    import torch.distributed as dist
    # A file rendezvous: no port to pick and lose to another process.
    dist.init_process_group("gloo", init_method=f"file://{out}.store", rank=rank,
                            world_size=world)
    results = {}
    for name in available():
        result = run(name, world, ckpt_dir)
        seen = [None] * world
        dist.all_gather_object(seen, {k: result[k] for k in ("provenance", "explain", "loads",
                                                              "local")})
        result["same_on_every_rank"] = all(
            {k: s[k] for k in ("provenance", "explain", "loads")}
            == {k: seen[0][k] for k in ("provenance", "explain", "loads")} for s in seen)
        result["locals"] = [s["local"] for s in seen]
        reports = [None] * world
        dist.all_gather_object(reports, (result["warnings"], result["mismatch"]))
        result["reported_by"] = [i for i, (w, m) in enumerate(reports) if w or m]
        results[name] = result
    if rank == 0:
        torch.save(results, out)
    # Every rank leaves together, with the scenarios' tensors freed while the interpreter
    # is whole: gloo can abort a process whose peer has torn down first, or whose
    # collectives' tensors are released during interpreter shutdown.
    import gc

    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp
    world, out, ckpt_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    mp.spawn(main, args=(world, out, ckpt_dir), nprocs=world)
