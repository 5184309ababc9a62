"""initdsl's fast engine against mmengine, exact mode and the one-fill floor, side by side.

    python benchmarks/bench_fast.py                 # full sizes, 5 repeats (≈ 35 min, 2 cores)
    python benchmarks/bench_fast.py --quick         # tiny sizes, 1 repeat: a smoke run (≈ 4 min)
    python benchmarks/bench_fast.py --lm-scale 0.25 # a smaller decoder LM
    python benchmarks/bench_fast.py --models resnet,lm --repeats 7

Every measurement runs in a fresh subprocess (one per contender and repeat,
contenders rotated from repeat to repeat), so first-touch page faults are
paid as in a real program and peak RSS (``ru_maxrss``) belongs to one
contender. Initialization contenders, per model:

* ``mmengine``  — construct the model on mmengine's ``BaseModule`` (torch's
  default init runs in the constructors) + ``init_weights()``;
* ``exact``     — initdsl's exact mode: ``init_weights()`` of the model built
  on initdsl's bases, allocated and zeroed before the clock;
* ``replay``    — the replay floor of exact mode: the same draws replayed with
  bare ``torch.nn.init`` calls (plan taken before the clock), as
  ``benchmarks/bench_core.py`` does;
* ``fast``      — ``initdsl.materialize(meta_model, seed=0)``: planning,
  allocation and writing all timed;
* ``floor``     — the single-stream one-fill floor: ``to_empty`` + one
  ``torch.nn.init`` fill per tensor with its final writer's distribution
  (the fill list is computed before the clock).

Load contenders (a checkpoint of the model saved with ``torch.save`` first):

* ``mm-load``    — mmengine: construct + ``init_weights()`` with a ``Pretrained`` init_cfg;
* ``exact-load`` — initdsl exact mode: ``to_empty`` + ``initialize(model, Pretrained)``
  (a copy from the memory-mapped checkpoint);
* ``fast-load``  — ``initdsl.materialize(meta_model, 'load "ckpt"')`` (assigns the mapped tensors);
* ``plain-load`` — ``torch.load(mmap=True, weights_only=True)`` +
  ``load_state_dict(assign=True)`` on the meta model.

Load times stop when the model is usable; then every parameter is read
(a float64 sum, untimed, also used to check that all load contenders hold the
same values) and peak RSS is taken: ``(ru_maxrss − RSS before the load) /
model bytes``. Finally two planning measurements: ``initdsl.plan`` + text
explanation (and the CLI's ``initdsl.tools.explain.explain`` when present) of the
full-size 1.3B LM on meta, and parse + compile of a generated 10,000-rule
policy.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_core  # noqa: E402 - the core benchmark's configurations and replay floor

import initdsl  # noqa: E402
from initdsl import zoo  # noqa: E402
from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform  # noqa: E402
from initdsl.core.planner import Planner  # noqa: E402 - the core's planner (initdsl.plan is the function)
from initdsl.fast.schedule import Draw  # noqa: E402

# -- models ---------------------------------------------------------------------------------

#: GPT-2's initialization: N(0, 0.02) for every Linear and Embedding, unit LayerNorms.
LM_CFG = [
    dict(type="Normal", std=0.02, layer=["Linear", "Embedding"]),
    dict(type="Constant", val=1, bias=0, layer="LayerNorm"),
]
LM_POLICY = "Linear, Embedding -> normal(std=0.02)\nLayerNorm -> constant(1, bias=0)\n"
LM_FULL = dict(vocab=32000, dim=2048, depth=24, heads=16, mlp=8192, max_len=2048)

INIT_CONTENDERS = ("mmengine", "exact", "replay", "fast", "floor")
LOAD_CONTENDERS = ("mm-load", "exact-load", "fast-load", "plain-load")

FAST_TARGET = 1.8    # fast materialize >= 1.8x faster than the one-fill floor
EXACT_TARGET = 1.05  # exact <= 1.05x the replay floor
LOAD_TIME_TARGET = 1.2  # fast-load <= 1.2x plain mmap + assign
LOAD_RSS_TARGET = 1.1   # fast-load peak RSS <= 1.1x the model's bytes
PLAN_TARGET = 1.0    # plan + explain of the 1.3B LM on meta < 1 s
COMPILE_TARGET = 0.5  # parse + compile of 10,000 rules < 0.5 s


def lm_sizes(scale: float) -> dict[str, int]:
    heads = LM_FULL["heads"]
    dim = max(heads, int(round(LM_FULL["dim"] * scale / heads)) * heads)
    return dict(LM_FULL, dim=dim, mlp=max(1, int(round(LM_FULL["mlp"] * scale))))


def sizes_for(quick: bool, lm_scale: float) -> dict[str, dict[str, Any]]:
    base = dict(bench_core.QUICK if quick else bench_core.FULL)
    base["lm"] = (dict(vocab=512, dim=64, depth=2, heads=4, mlp=256, max_len=64) if quick
                  else lm_sizes(lm_scale))
    return base


def build(name: str, sizes: dict[str, Any], base: str, *, cfg: bool = True,
          init_cfg: Any = None) -> nn.Module:
    """Model ``name`` on ``base``; with ``cfg`` it carries the benchmark's init_cfgs."""
    bases = zoo.mmengine_bases() if base == "mmengine" else zoo.resolve_bases(base)
    s = sizes[name]
    if name == "resnet":
        return zoo.resnet(s["depths"], s["width"], base=bases,
                          init_cfg=bench_core.RESNET_CFG if cfg else init_cfg,
                          block_init_cfg=bench_core.RESNET_BLOCK_CFG if cfg else None)
    if name == "vit":
        return zoo.vit_b16(img_size=s["img_size"], depth=s["depth"], dim=s["dim"],
                           heads=s["heads"], base=bases,
                           init_cfg=bench_core.VIT_CFG if cfg else init_cfg,
                           block_init_cfg=bench_core.VIT_BLOCK_CFG if cfg else None)
    if name == "lm":
        return zoo.gpt(s["vocab"], s["dim"], s["depth"], s["heads"], s["mlp"], s["max_len"],
                       base=bases, init_cfg=LM_CFG if cfg else init_cfg)
    if name == "chain":
        return zoo.nested_chain(s["depth"], s["width"], base=bases, init_cfg=bench_core.CHAIN_CFG)
    if name == "siblings":
        return zoo.siblings(s["count"], s["width"], base=bases,
                            block_init_cfg=bench_core.LEAF_CFG)
    raise ValueError(name)


LABELS = {"resnet": "ResNet-50", "vit": "ViT-B/16", "lm": "decoder LM", "chain": "chain x64",
          "siblings": "siblings x4096"}
LOADABLE = ("resnet", "vit", "lm")


def meta_build(name: str, sizes: dict[str, Any], **kwargs: Any) -> nn.Module:
    with torch.device("meta"):
        return build(name, sizes, "initdsl", **kwargs)


# -- one measurement (runs in a subprocess) -------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def checksum(model: nn.Module) -> float:
    with torch.no_grad():
        return float(sum(p.sum(dtype=torch.float64).item() for p in model.parameters()))


def floor_fills(model: nn.Module) -> list[tuple[str, Any]]:
    """``(tensor name, fill)`` with the final writer's distribution, one per tensor."""
    schedule = initdsl.plan(model)
    fills = []
    for target in schedule.targets:
        write = target.final_planned
        dist = write.dist if isinstance(write, Draw) else None
        fills.append((target.name, dist))
    return fills


def fill_once(tensor: torch.Tensor, dist: Any) -> None:
    if isinstance(dist, Normal):
        nn.init.normal_(tensor, dist.mean, dist.std)
    elif isinstance(dist, Uniform):
        nn.init.uniform_(tensor, dist.low, dist.high)
    elif isinstance(dist, TruncNormal):
        initdsl.trunc_normal_(tensor, dist.mean, dist.std, dist.a, dist.b)
    elif isinstance(dist, Constant):
        nn.init.constant_(tensor, dist.value)
    else:  # unwritten buffers (running statistics): one fill as well
        nn.init.zeros_(tensor)


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of the process, user + system) since ``start``."""
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


def run_contender(name: str, contender: str, sizes: dict[str, Any], ckpt: str | None
                  ) -> tuple[nn.Module, tuple[float, float], int]:
    """Run one contender once: ``(model, (wall s, CPU s), RSS before the timed part)``."""
    before = rss_bytes()
    if contender == "mmengine":
        torch.manual_seed(0)
        start = now()
        model = build(name, sizes, "mmengine")
        model.init_weights()
        return model, since(start), before
    if contender in ("exact", "replay"):
        model = bench_core.fresh(_Case(name, sizes), zoo.INITDSL)
        if contender == "replay":
            writes = bench_core.flatten([Planner(model).init_weights(model, "")])
            run = lambda: bench_core.replay(writes)  # noqa: E731
        else:
            run = model.init_weights
        torch.manual_seed(0)
        start = now()
        run()
        return model, since(start), before
    if contender == "fast":
        model = meta_build(name, sizes)
        start = now()
        initdsl.materialize(model, seed=0, unwritten="zeros")
        return model, since(start), before
    if contender == "floor":
        model = meta_build(name, sizes)
        fills = floor_fills(model)
        torch.manual_seed(0)
        start = now()
        model.to_empty(device="cpu")
        tensors = dict(model.named_parameters())
        tensors.update(model.named_buffers())
        with torch.no_grad():
            for tensor_name, dist in fills:
                fill_once(tensors[tensor_name], dist)
        return model, since(start), before
    if contender == "mm-load":
        start = now()
        model = build(name, sizes, "mmengine", cfg=False,
                      init_cfg=dict(type="Pretrained", checkpoint=ckpt))
        model.init_weights()
        return model, since(start), before
    model = meta_build(name, sizes, cfg=False)
    before = rss_bytes()
    if contender == "exact-load":
        start = now()
        model.to_empty(device="cpu")
        initdsl.initialize(model, dict(type="Pretrained", checkpoint=ckpt))
    elif contender == "fast-load":
        start = now()
        initdsl.materialize(model, f'load "{ckpt}"', seed=0)
    elif contender == "plain-load":
        start = now()
        state = torch.load(ckpt, mmap=True, weights_only=True)
        model.load_state_dict(state, assign=True)
        del state
    else:
        raise ValueError(contender)
    return model, since(start), before


def measure(job: dict[str, Any]) -> dict[str, Any]:
    name, contender, sizes = job["model"], job["contender"], job["sizes"]
    logging.getLogger("initdsl").setLevel(logging.ERROR)
    if contender.startswith("mm"):
        from mmengine.logging import MMLogger

        MMLogger.get_current_instance().setLevel(logging.ERROR)
    # Warm the contender's code paths on a tiny model of the same kind (untimed,
    # small RSS): the first call of anything in a fresh process pays imports.
    warm = sizes_for(True, 1.0)
    with tempfile.TemporaryDirectory() as scratch:
        tiny = None
        if contender.endswith("-load"):
            tiny = os.path.join(scratch, "tiny.pt")
            save_checkpoint(dict(model=name, sizes=warm, checkpoint=tiny))
        run_contender(name, contender, warm, tiny)
    gc.collect()

    model, (elapsed, cpu), before = run_contender(name, contender, sizes, job.get("checkpoint"))
    result: dict[str, Any] = {"seconds": elapsed, "cpu_seconds": cpu}
    result["bytes"] = sum(t.numel() * t.element_size()
                          for t in (*model.parameters(), *model.buffers()))
    if contender.endswith("-load"):
        touch = time.perf_counter()
        result["checksum"] = checksum(model)
        result["touch_seconds"] = time.perf_counter() - touch
        result["peak_delta"] = peak_bytes() - before
    elif contender == "fast":
        result["checksum"] = checksum(model)
    result["peak"] = peak_bytes()
    return result


class _Case:
    """What ``bench_core.fresh`` needs: a build function of the bases."""

    def __init__(self, name: str, sizes: dict[str, Any]) -> None:
        self.build = lambda bases: build(name, sizes, "initdsl")


def save_checkpoint(job: dict[str, Any]) -> dict[str, Any]:
    model = meta_build(job["model"], job["sizes"], cfg=True)
    initdsl.materialize(model, seed=1, unwritten="zeros")
    torch.save(model.state_dict(), job["checkpoint"])
    return {"bytes": os.path.getsize(job["checkpoint"])}


# -- planning measurements ------------------------------------------------------------------


def planning(repeats: int, rules: int = 10_000) -> dict[str, Any]:
    with torch.device("meta"):
        lm = zoo.gpt(**LM_FULL)
    params = zoo.parameter_count(lm)
    plan_s, compile_s, cli_s = [], [], []
    cli = None
    try:
        from initdsl.language.compiler import compile_policy
        from initdsl.tools.explain import explain as cli

    except ImportError:
        pass
    for _ in range(repeats):
        start = time.perf_counter()
        schedule = initdsl.plan(lm, LM_POLICY)
        text = schedule.explain()
        plan_s.append(time.perf_counter() - start)
        assert text.count("\n") == len(list(lm.parameters()))
        if cli is not None:
            start = time.perf_counter()
            cli(lm, compile_policy(LM_POLICY))
            cli_s.append(time.perf_counter() - start)
    text = "\n".join(f"Layer{i} -> normal(std=0.02, bias={i % 7})" for i in range(rules))
    for _ in range(repeats):
        start = time.perf_counter()
        initdsl.compile(text)
        compile_s.append(time.perf_counter() - start)
    return {"lm_params": params, "plan_explain": plan_s, "cli_explain": cli_s,
            "compile_10k": compile_s, "rules": rules}


# -- orchestration --------------------------------------------------------------------------


def spawn(job: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"worker {job['model']}/{job.get('contender')} failed:\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def paired(xs: list[float], ys: list[float]) -> float:
    """Median over repeats of the per-repeat ratio ``x / y``."""
    return med([x / y for x, y in zip(xs, ys)])


def report(models: list[str], init: dict, loads: dict, plans: dict[str, Any],
           params: dict[str, tuple[int, int]], sizes: dict[str, Any]) -> tuple[str, bool]:
    met_all = True
    out = []
    rows = [("model", "params", "mmengine", "exact", "replay", "fast", "floor",
             "floor/fast", "exact/replay", "mmengine/fast", "targets")]
    for name in models:
        s = {c: [r["seconds"] for r in init[name][c]] for c in INIT_CONTENDERS}
        speedup = paired(s["floor"], s["fast"])
        exact = paired(s["exact"], s["replay"])
        ok_fast = speedup >= FAST_TARGET
        ok_exact = exact <= EXACT_TARGET
        judged = name in ("resnet", "vit", "lm")
        if judged:
            met_all &= ok_fast and ok_exact
        n, t = params[name]
        rows.append((LABELS[name] if name != "lm" else f"LM d{sizes['lm']['dim']}x"
                     f"{sizes['lm']['depth']}", f"{n / 1e6:,.1f}M ({t})",
                     *(fmt_s(med(s[c])) for c in INIT_CONTENDERS),
                     f"{speedup:.2f}x", f"{exact:.3f}", f"{paired(s['mmengine'], s['fast']):.1f}x",
                     ("fast " + ("PASS" if ok_fast else "MISS") + ", exact "
                      + ("PASS" if ok_exact else "MISS")) if judged else "(stress shape)"))
    out.append("Initialization (medians; ratios are medians of per-repeat ratios)")
    out.append(render(rows))
    sums = {name: {r["checksum"] for r in init[name]["fast"]} for name in models}
    out.append("fast materialize deterministic across repeats: "
               + ", ".join(f"{LABELS[n]} {'yes' if len(v) == 1 else 'NO'}"
                           for n, v in sums.items()))
    spread = []
    for name in models:
        s = {c: [r["seconds"] for r in init[name][c]] for c in INIT_CONTENDERS}
        spread.append(f"  {LABELS[name]}: " + "; ".join(
            f"{c} {fmt_s(min(s[c]))}..{fmt_s(max(s[c]))}" for c in INIT_CONTENDERS))
    out.append("spread (min..max):\n" + "\n".join(spread))
    cores = []
    for name in models:
        cores.append(f"  {LABELS[name]}: " + ", ".join(
            f"{c} {med([r['cpu_seconds'] / r['seconds'] for r in init[name][c]]):.2f}"
            for c in INIT_CONTENDERS))
    out.append("cores busy (CPU seconds of all threads / wall seconds, median):\n"
               + "\n".join(cores))

    if loads:
        rows = [("model", "model bytes", "mm-load", "exact-load", "fast-load", "plain-load",
                 "fast/plain", "peak RSS / model bytes (mm, exact, fast, plain)", "targets")]
        for name, per in loads.items():
            s = {c: [r["seconds"] for r in per[c]] for c in LOAD_CONTENDERS}
            rss = {c: max(r["peak_delta"] for r in per[c]) / per[c][0]["bytes"]
                   for c in LOAD_CONTENDERS}
            ratio = paired(s["fast-load"], s["plain-load"])
            ok = ratio <= LOAD_TIME_TARGET and rss["fast-load"] <= LOAD_RSS_TARGET
            met_all &= ok
            same = len({round(r["checksum"], 3) for c in LOAD_CONTENDERS for r in per[c]}) == 1
            rows.append((LABELS[name], f"{per['fast-load'][0]['bytes'] / 2**20:,.0f} MiB",
                         *(fmt_s(med(s[c])) for c in LOAD_CONTENDERS), f"{ratio:.2f}",
                         ", ".join(f"{rss[c]:.2f}" for c in LOAD_CONTENDERS),
                         ("PASS" if ok else "MISS") + ("" if same else " (VALUES DIFFER)")))
        out.append("\nLoad (time until the model is usable; RSS peak after reading every "
                   "parameter, minus RSS before the load)")
        out.append(render(rows))
        touch = "; ".join(
            f"{LABELS[n]} " + ", ".join(f"{c} {fmt_s(med([r['touch_seconds'] for r in per[c]]))}"
                                        for c in LOAD_CONTENDERS)
            for n, per in loads.items())
        out.append(f"first full read after loading (untimed above): {touch}")

    plan_s = med(plans["plan_explain"])
    compile_s = med(plans["compile_10k"])
    met_all &= plan_s < PLAN_TARGET and compile_s < COMPILE_TARGET
    out.append("\nPlanning")
    out.append(f"  initdsl.plan + explain() of the {plans['lm_params'] / 1e9:.2f}B LM on meta: "
               f"{fmt_s(plan_s)} (target < {PLAN_TARGET:g} s: "
               f"{'PASS' if plan_s < PLAN_TARGET else 'MISS'})")
    if plans["cli_explain"]:
        out.append(f"  initdsl.tools.explain.explain (the CLI's) of the same: "
                   f"{fmt_s(med(plans['cli_explain']))}")
    out.append(f"  parse + compile of a generated {plans['rules']:,}-rule policy: {fmt_s(compile_s)} "
               f"(target < {COMPILE_TARGET:g} s: {'PASS' if compile_s < COMPILE_TARGET else 'MISS'})")
    return "\n".join(out), met_all


def header(args: argparse.Namespace) -> str:
    import mmengine

    lines = [
        f"initdsl fast-engine benchmark — {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"command: python benchmarks/bench_fast.py {' '.join(sys.argv[1:])}".rstrip(),
        f"mode: {'quick (tiny sizes)' if args.quick else 'full'}, {args.repeats} repeats, "
        "one fresh subprocess per measurement, contenders rotated per repeat",
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"mmengine {mmengine.__version__}, initdsl {initdsl.__version__}",
        f"cpu: {bench_core.cpu_name()} ({os.cpu_count()} logical cpus), torch threads "
        f"{torch.get_num_threads()}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats per contender (default 5, --quick 1)")
    parser.add_argument("--models", default="resnet,vit,lm,chain,siblings",
                        help="comma-separated subset of resnet,vit,lm,chain,siblings")
    parser.add_argument("--lm-scale", type=float, default=1.0,
                        help="scale the LM's width and MLP (1.0: dim 2048, MLP 8192, ~1.3B)")
    parser.add_argument("--no-load", action="store_true", help="skip the load contenders")
    parser.add_argument("--workdir", default=None, help="where checkpoints go (default: a temp dir)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        job = json.loads(args.worker)
        result = save_checkpoint(job) if job.get("contender") == "save" else measure(job)
        print(json.dumps(result))
        return 0
    args.repeats = args.repeats or (1 if args.quick else 5)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in LABELS]
    if unknown or not models:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(LABELS)}")
    sizes = sizes_for(args.quick, args.lm_scale)
    print(header(args), flush=True)

    params = {}
    for name in models:
        model = meta_build(name, sizes)
        params[name] = (zoo.parameter_count(model), len(list(model.parameters())))
        print(f"  {LABELS[name]}: {params[name][0]:,} parameters in {params[name][1]} tensors",
              flush=True)

    init: dict[str, dict[str, list]] = {m: {c: [] for c in INIT_CONTENDERS} for m in models}
    loads: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for name in models:
            jobs = [dict(model=name, contender=c, sizes=sizes) for c in INIT_CONTENDERS]
            if name in LOADABLE and not args.no_load:
                ckpt = os.path.join(workdir, f"{name}.pt")
                spawn(dict(model=name, contender="save", sizes=sizes, checkpoint=ckpt))
                loads[name] = {c: [] for c in LOAD_CONTENDERS}
                jobs += [dict(model=name, contender=c, sizes=sizes, checkpoint=ckpt)
                         for c in LOAD_CONTENDERS]
            for repeat in range(args.repeats):
                shift = repeat % len(jobs)
                for job in jobs[shift:] + jobs[:shift]:
                    result = spawn(job)
                    table = init if job["contender"] in INIT_CONTENDERS else loads
                    table[name][job["contender"]].append(result)
                print(f"  {LABELS[name]}: repeat {repeat + 1}/{args.repeats} done",
                      file=sys.stderr, flush=True)
            if name in loads:
                os.remove(os.path.join(workdir, f"{name}.pt"))
    plans = planning(args.repeats, 1_000 if args.quick else 10_000)
    text, met = report(models, init, loads, plans, params, sizes)
    print()
    print(text)
    print(f"\nall targets met: {'yes' if met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
