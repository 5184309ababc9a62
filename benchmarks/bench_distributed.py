"""Sharded materialize: per-rank memory and time on gloo, planning time at simulated scale.

    python benchmarks/bench_distributed.py            # both parts
    python benchmarks/bench_distributed.py --ranks    # world 1, 2, 4 on this machine
    python benchmarks/bench_distributed.py --plan     # 70B Llama planning, world 8 … 1024

**Ranks.** Two ``zoo.gpt`` shapes (:data:`MODELS`: GPT-2 small, 124M
parameters, and a wide one, 0.67B) are built on meta, sharded with FSDP2 on
a gloo group of 1, 2 and 4 processes and materialized with GPT-2's rules;
the single-process reference materializes the unsharded model. Rounds
interleave the four configurations; each reports the median over rounds
of the slowest rank's time (the group is as fast as its slowest rank) and
of its peak resident memory added by ``materialize`` (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``, less ``VmRSS`` before).
Threads per process: the machine's cores divided by the processes, at
least one.

**Planning.** A Llama-3-70B-shaped ``zoo.titan_llama3`` (dim 8192, 80
layers, 64 heads, 8 KV heads, FFN 28672, vocab 128256: 70.6B parameters)
on meta, ``fully_shard`` per layer and at the root on a fake process group
(``torch.testing``'s ``FakeStore``: no other rank exists, nothing is sent)
of world 8 to 1024, and as 2-D FSDP x TP with TP 8. Timed per rank:
``plan`` (the policy against the model) and ``plan_shards`` (this rank's
part of every tensor) — what a rank does before it allocates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import initdsl  # noqa: E402
from initdsl import zoo  # noqa: E402

GPT = """Linear -> trunc_normal(std=0.02, sampler=torch)
Embedding -> normal(std=0.02)
LayerNorm -> ones
param blocks.{i}.attn.proj.weight -> normal(std=0.02 / sqrt(2 * 12))
"""
LLAMA = (ROOT / "examples" / "peers" / "titan_llama3.init").read_text()


#: name -> (what it is, build). GPT-2 small's tensors are 0.6-2.4M elements, so
#: a rank's shard at world 4 is smaller than one 2**20-element block, which the
#: rank draws whole; the wide one's are 16-67M, the regime sharding is for.
MODELS = {
    "gpt2-small": ("GPT-2-small-shaped zoo.gpt (dim 768, 12 layers)", lambda: zoo.gpt(
        vocab=50257, dim=768, depth=12, heads=12, mlp=3072, max_len=1024)),
    "wide": ("wide zoo.gpt (dim 4096, 2 layers, FFN 16384)", lambda: zoo.gpt(
        vocab=32000, dim=4096, depth=2, heads=32, mlp=16384, max_len=2048)),
}


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _measure(materialize):
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    start = time.perf_counter()
    materialize()
    seconds = time.perf_counter() - start
    return seconds, _status("VmHWM") - before


def _rank(rank, world, name, out, threads):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{out}.store", rank=rank,
                            world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        model = MODELS[name][1]()
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    dist.barrier()
    seconds, peak = _measure(lambda: initdsl.materialize(model, GPT, seed=0, threads=threads))
    local = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    results = [None] * world
    dist.all_gather_object(results, (seconds, peak, local))
    if rank == 0:
        torch.save(results, out)
    # Every rank leaves together: gloo can abort a process whose peer has torn down first.
    dist.barrier()
    dist.destroy_process_group()


def _single(name, out, threads):
    torch.set_num_threads(threads)
    with torch.device("meta"):
        model = MODELS[name][1]()
    seconds, peak = _measure(lambda: initdsl.materialize(model, GPT, seed=0, threads=threads))
    local = sum(p.numel() * p.element_size() for p in model.parameters())
    torch.save([(seconds, peak, local)], out)


def _one(name: str, config: str, out: str) -> list:
    """One configuration, in fresh processes (a fresh peak and no warm allocator)."""
    import subprocess

    Path(f"{out}.store").unlink(missing_ok=True)  # a FileStore must start fresh
    done = subprocess.run([sys.executable, __file__, "--child", name, config, out],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} {config}: failed\n{done.stderr[-3000:]}")
    return torch.load(out)


def ranks(rounds: int) -> None:
    configs = ["single", "1", "2", "4"]
    print(f"median of {rounds} interleaved rounds, {os.cpu_count()} cores; threads per "
          "process: cores / processes")
    with tempfile.TemporaryDirectory() as tmp:
        _one("gpt2-small", "1", f"{tmp}/warm.pt")  # warm the file cache for the imports
        for name, (title, _) in MODELS.items():
            seen: dict[str, list] = {c: [] for c in configs}
            for _ in range(rounds):
                for config in configs:
                    seen[config].append(_one(name, config, f"{tmp}/{config}.pt"))
            _report(title, seen)


def _report(title: str, seen: dict[str, list]) -> None:
    model_bytes = seen["single"][0][0][2]
    base = statistics.median(max(r[0] for r in run) for run in seen["single"])
    print(f"\n{title}: {model_bytes / 2**20:,.0f} MiB of parameters")
    print(f"{'processes':<26}{'time (slowest rank)':>20}{'vs one process':>16}"
          f"{'peak added / rank':>20}{'shard / rank':>15}{'peak / model':>14}")
    for config, runs in seen.items():
        seconds = statistics.median(max(r[0] for r in run) for run in runs)
        peak = statistics.median(max(r[1] for r in run) for run in runs)
        local = max(r[2] for r in runs[0])
        label = "one process (no DTensor)" if config == "single" else f"world {config} (FSDP2)"
        print(f"{label:<26}{seconds:>18.2f} s{base / seconds:>15.2f}x"
              f"{peak / 2**20:>16,.0f} MiB{local / 2**20:>11,.0f} MiB"
              f"{peak / model_bytes:>14.2f}")


def _child(name: str, config: str, out: str) -> None:
    cores = os.cpu_count() or 1
    if config == "single":
        _single(name, out, cores)
        return
    import torch.multiprocessing as mp

    world = int(config)
    mp.spawn(_rank, args=(world, name, out, max(1, cores // world)), nprocs=world)


def plan_scale(repeats: int) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from initdsl.fast.sharded import plan_shards

    def build(world, tp):
        dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
        with torch.device("meta"):
            model = zoo.titan_llama3(vocab=128256, dim=8192, n_layers=80, heads=64,
                                     kv_heads=8, hidden=28672, max_seq_len=8192)
        start = time.perf_counter()
        if tp > 1:
            grid = init_device_mesh("cpu", (world // tp, tp), mesh_dim_names=("dp", "tp"))
            for layer in model.layers:
                parallelize_module(layer, grid["tp"], {
                    "attention.qkv_linear.wqkv": ColwiseParallel(),
                    "attention.wo": RowwiseParallel(), "feed_forward.w1": ColwiseParallel(),
                    "feed_forward.w2": RowwiseParallel(), "feed_forward.w3": ColwiseParallel()})
            mesh = grid["dp"]
        else:
            mesh = init_device_mesh("cpu", (world,))
        for layer in model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model, time.perf_counter() - start

    print("Llama-3-70B-shaped zoo.titan_llama3 on meta, planning on one rank of a fake group; "
          f"median of {repeats}")
    print(f"{'world':>6}{'layout':>14}{'shard (torch)':>15}{'plan':>10}{'plan_shards':>13}"
          f"{'initdsl total':>15}{'local GiB':>11}")
    params = None
    for world, tp in [(8, 1), (64, 1), (256, 1), (1024, 1), (64, 8), (1024, 8)]:
        shard_times, plan_times, part_times = [], [], []
        local = 0
        for _ in range(repeats):
            model, shard_seconds = build(world, tp)
            params = params or sum(p.numel() for p in model.parameters())
            start = time.perf_counter()
            schedule = initdsl.plan(model, LLAMA)
            planned = time.perf_counter()
            shards = plan_shards(schedule)
            done = time.perf_counter()
            shard_times.append(shard_seconds)
            plan_times.append(planned - start)
            part_times.append(done - planned)
            local = shards.local_numel * 4
            dist.destroy_process_group()
            del model, schedule, shards
        p, s = statistics.median(plan_times), statistics.median(part_times)
        layout = "FSDP" if tp == 1 else f"FSDP x TP{tp}"
        print(f"{world:>6}{layout:>14}{statistics.median(shard_times):>13.2f} s{p:>8.2f} s"
              f"{s:>11.2f} s{p + s:>13.2f} s{local / 2**30:>11.2f}")
    print(f"({params / 1e9:.1f}B parameters, {params * 4 / 2**30:.0f} GiB in float32)")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", action="store_true", help="only world 1, 2, 4 on gloo")
    parser.add_argument("--plan", action="store_true", help="only planning at scale")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.plan:
        ranks(args.rounds)
    if not args.ranks:
        plan_scale(max(1, args.rounds // 2))


if __name__ == "__main__":
    main()
