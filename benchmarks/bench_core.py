"""initdsl's core against mmengine and against the replay floor, side by side.

    python benchmarks/bench_core.py            # full sizes, 5 repeats
    python benchmarks/bench_core.py --quick    # tiny sizes, a smoke run (seconds)
    python benchmarks/bench_core.py --repeats 9

For each model, three contenders initialize a fresh copy of the same
architecture from the same seed:

* ``initdsl``  — ``model.init_weights()`` on the model built on initdsl's bases
  (planning, validation, execution and provenance all included);
* ``mmengine`` — ``model.init_weights()`` on the model built on mmengine's
  bases (its logger is set to WARNING so that the per-parameter INFO report
  is not printed; the report's strings are still formatted, as they are in
  any run that logs to a file);
* ``floor``    — the same sequence of draws replayed with bare
  ``torch.nn.init`` calls: the plan is taken from initdsl's planner before the
  clock starts, flattened into ``(initializer, weight, bias)`` and replayed as
  ``initializer.init_weight(weight)`` + ``nn.init.constant_(bias, initializer.bias)``.

Models are built on the meta device and materialized with ``to_empty`` plus a
zero fill outside the clock, so construction (and first-touch page faults)
are not timed. Each repeat runs every contender once per model, in an order
rotated from repeat to repeat; the table reports the median time of each
contender and, for the ratios, the median of the per-repeat ratios (contenders
of one repeat run back to back, so slow phases of a shared machine cancel).

A first, untimed round checks, per model, that the three contenders leave
byte-identical parameters and the same global RNG state, and counts the
torch calls each makes (a ``TorchFunctionMode``): initdsl must make no
full-tensor reduction or read-back (``mean``, ``sum``, ``norm``, ``item`` …).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import logging
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initdsl import zoo
from initdsl.core.planner import Block, Call, Load, Planner, Write

# -- the models and their configurations ----------------------------------------------------

#: mmdet's ResNet defaults (zero_init_residual=True) plus Normal on the classifier.
RESNET_CFG = [
    dict(type="Kaiming", layer="Conv2d"),
    dict(type="Constant", val=1, bias=0, layer=["_BatchNorm", "GroupNorm"]),
    dict(type="Normal", std=0.01, layer="Linear"),
]
RESNET_BLOCK_CFG = dict(type="Constant", val=0, override=dict(name="bn3"))

#: Every ViT block carries its own cfg; the root writes the patch embedding, head and final norm.
VIT_BLOCK_CFG = [
    dict(type="TruncNormal", std=0.02, layer="Linear"),
    dict(type="Constant", val=1, bias=0, layer="LayerNorm"),
]
VIT_CFG = [
    dict(type="Kaiming", layer="Conv2d", mode="fan_in", nonlinearity="linear"),
    dict(type="TruncNormal", std=0.02, override=dict(name="head")),
    dict(type="Constant", val=1, bias=0, override=dict(name="norm")),
]

#: Each level of the chain: Kaiming on every Linear below it, override on its own norm.
CHAIN_CFG = dict(type="Kaiming", layer="Linear",
                 override=dict(name="norm", type="Constant", val=1, bias=0))

#: Each of the sibling blocks.
LEAF_CFG = [
    dict(type="Normal", std=0.02, layer="Linear"),
    dict(type="Constant", val=1, bias=0, layer="LayerNorm"),
]

FULL = {
    "resnet": dict(depths=(3, 4, 6, 3), width=64),
    "vit": dict(img_size=224, depth=12, dim=768, heads=12),
    "chain": dict(depth=64, width=16),
    "siblings": dict(count=4096, width=8),
}
QUICK = {
    "resnet": dict(depths=(1, 1, 1, 1), width=8),
    "vit": dict(img_size=32, depth=2, dim=64, heads=2),
    "chain": dict(depth=8, width=16),
    "siblings": dict(count=64, width=8),
}

FLOOR_TARGET = 1.05  # initdsl ≤ 1.05 × floor on the real models
SPEEDUP_TARGET = 3.0  # initdsl ≥ 3 × faster than mmengine on the stress shapes


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    kind: str  # "real": judged against the floor; "stress": judged against mmengine
    build: Callable[[zoo.Bases], nn.Module]


def cases(sizes: dict[str, dict[str, Any]]) -> list[Case]:
    r, v, c, s = sizes["resnet"], sizes["vit"], sizes["chain"], sizes["siblings"]
    return [
        Case("resnet", f"ResNet{'-50' if r == FULL['resnet'] else ' (tiny)'}", "real",
             lambda b: zoo.resnet(r["depths"], r["width"], base=b, init_cfg=RESNET_CFG,
                                  block_init_cfg=RESNET_BLOCK_CFG)),
        Case("vit", f"ViT-B/16{'' if v == FULL['vit'] else ' (tiny)'}", "real",
             lambda b: zoo.vit_b16(img_size=v["img_size"], depth=v["depth"], dim=v["dim"],
                                   heads=v["heads"], base=b, init_cfg=VIT_CFG,
                                   block_init_cfg=VIT_BLOCK_CFG)),
        Case("chain", f"chain x{c['depth']}", "stress",
             lambda b: zoo.nested_chain(c["depth"], c["width"], base=b, init_cfg=CHAIN_CFG)),
        Case("siblings", f"siblings x{s['count']}", "stress",
             lambda b: zoo.siblings(s["count"], s["width"], base=b, block_init_cfg=LEAF_CFG)),
    ]


def fresh(case: Case, bases: zoo.Bases) -> nn.Module:
    """A new model: built on meta, materialized on CPU, every tensor zeroed (untimed)."""
    with torch.device("meta"):
        model = case.build(bases)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()
    return model


# -- the replay floor -----------------------------------------------------------------------


def flatten(steps) -> list[tuple[Any, Any, Any]]:
    """The plan's writes in execution order, as ``(initializer, weight, bias)``."""
    writes: list[tuple[Any, Any, Any]] = []
    for step in steps:
        if type(step) is Write:
            module = step.module
            writes.append((step.initializer, getattr(module, "weight", None),
                           getattr(module, "bias", None)))
        elif type(step) is Block:
            writes.extend(flatten(step.steps))
        elif isinstance(step, (Call, Load)):
            raise RuntimeError(f"the floor replays writes only; got {type(step).__name__}")
    return writes


def replay(writes: list[tuple[Any, Any, Any]]) -> None:
    constant_ = torch.nn.init.constant_
    for initializer, weight, bias in writes:
        if weight is not None:
            initializer.init_weight(weight)
        if bias is not None:
            constant_(bias, initializer.bias)


# -- contenders -----------------------------------------------------------------------------


@dataclass
class Prepared:
    model: nn.Module
    run: Callable[[], None]
    plan_s: float | None = None


def prepare(contender: str, case: Case, bases: dict[str, zoo.Bases]) -> Prepared:
    if contender == "initdsl":
        model = fresh(case, bases["initdsl"])
        return Prepared(model, model.init_weights)
    if contender == "mmengine":
        model = fresh(case, bases["mmengine"])
        return Prepared(model, model.init_weights)
    model = fresh(case, bases["initdsl"])
    start = time.perf_counter()
    writes = flatten([Planner(model).init_weights(model, "")])
    plan_s = time.perf_counter() - start
    return Prepared(model, lambda: replay(writes), plan_s)


CONTENDERS = ("initdsl", "mmengine", "floor")


def timed(prepared: Prepared) -> float:
    gc.collect()
    torch.manual_seed(0)
    start = time.perf_counter()
    prepared.run()
    return time.perf_counter() - start


# -- verification ---------------------------------------------------------------------------

#: Torch calls that read a whole tensor to produce a statistic or a host value.
REDUCTIONS = frozenset({
    "mean", "sum", "nansum", "nanmean", "prod", "norm", "vector_norm", "matrix_norm", "std",
    "var", "std_mean", "var_mean", "max", "min", "amax", "amin", "aminmax", "argmax", "argmin",
    "median", "nanmedian", "all", "any", "count_nonzero", "equal", "allclose", "isclose",
    "logsumexp", "cumsum", "item", "tolist", "numpy", "clone",
})


class CountCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", None) or repr(func)
        if name == "__get__":  # property access such as .data / .shape
            name = getattr(getattr(func, "__self__", None), "__name__", name)
        self.calls[name] += 1
        return func(*args, **(kwargs or {}))


def digest(model: nn.Module) -> tuple[list[str], str]:
    h = hashlib.sha256()
    names = []
    for name, param in model.named_parameters():
        names.append(name)
        h.update(name.encode())
        h.update(param.detach().contiguous().view(torch.uint8).numpy().tobytes())
    h.update(torch.get_rng_state().numpy().tobytes())
    return names, h.hexdigest()


def verify(all_cases: list[Case], bases: dict[str, zoo.Bases]) -> dict[str, dict[str, Counter]]:
    """Untimed first round: identical bytes and RNG state; initdsl makes no reductions."""
    counts: dict[str, dict[str, Counter]] = {}
    for case in all_cases:
        results = {}
        counts[case.name] = {}
        for contender in CONTENDERS:
            prepared = prepare(contender, case, bases)
            torch.manual_seed(0)
            counter = CountCalls()
            with counter:
                prepared.run()
            counts[case.name][contender] = counter.calls
            results[contender] = digest(prepared.model)
            del prepared
            gc.collect()
        names = {c: r[0] for c, r in results.items()}
        assert names["initdsl"] == names["mmengine"] == names["floor"], (
            f"{case.label}: parameter names differ across bases")
        hashes = {c: r[1] for c, r in results.items()}
        assert len(set(hashes.values())) == 1, (
            f"{case.label}: parameters or RNG state differ: {hashes}")
        reductions = {k: v for k, v in counts[case.name]["initdsl"].items() if k in REDUCTIONS}
        assert not reductions, f"{case.label}: initdsl made full-tensor reductions: {reductions}"
    return counts


# -- reporting ------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(args: argparse.Namespace) -> str:
    import mmengine

    import initdsl

    lines = [
        f"initdsl core benchmark — {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"mode: {'quick (tiny sizes)' if args.quick else 'full'}, {args.repeats} repeats, "
        "medians, contenders interleaved per repeat",
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"mmengine {mmengine.__version__}, initdsl {initdsl.__version__}",
        f"cpu: {cpu_name()} ({os.cpu_count()} logical cpus), torch threads: "
        f"{torch.get_num_threads()}, interop threads: {torch.get_num_interop_threads()}",
        f"platform: {platform.platform()}, load average at start: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "mmengine logger level: WARNING (its per-parameter INFO report is not printed)",
    ]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def paired(xs: list[float], ys: list[float]) -> float:
    """Median of the per-repeat ratios ``x_r / y_r`` (both timed within the same repeat)."""
    return statistics.median(x / y for x, y in zip(xs, ys))


def table(all_cases: list[Case], samples: dict[str, dict[str, list[float]]],
          plans: dict[str, list[float]], params: dict[str, tuple[int, int]]) -> tuple[str, bool]:
    head = ("model", "params", "tensors", "initdsl ms", "mmengine ms", "floor ms",
            "initdsl/mmengine", "initdsl/floor", "target", "result")
    rows = [head]
    all_met = True
    for case in all_cases:
        xs = samples[case.name]
        med = {c: statistics.median(xs[c]) for c in CONTENDERS}
        vs_mm = paired(xs["initdsl"], xs["mmengine"])
        vs_floor = paired(xs["initdsl"], xs["floor"])
        if case.kind == "real":
            target = f"initdsl/floor <= {FLOOR_TARGET:.2f}"
            met = vs_floor <= FLOOR_TARGET
        else:
            target = f">= {SPEEDUP_TARGET:g}x faster than mmengine"
            met = vs_mm <= 1 / SPEEDUP_TARGET
        all_met &= met
        n, t = params[case.name]
        rows.append((case.label, f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}", str(t),
                     ms(med["initdsl"]), ms(med["mmengine"]), ms(med["floor"]),
                     f"{vs_mm:.3f} ({1 / vs_mm:.1f}x faster)", f"{vs_floor:.3f}", target,
                     "PASS" if met else "MISS"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    text.insert(1, "  ".join("-" * w for w in widths))

    detail = ["", "ms columns: medians over the repeats. Ratios: median over the repeats of the "
              "per-repeat ratio (the contenders of one repeat run back to back, so a slow phase "
              "of the machine cancels out).",
              "", "noise check — per model: min / median / max ms of each contender; initdsl's "
              "planning time (median; inside the initdsl column, excluded from the floor); the "
              "ratios again as ratios of medians and as ratios of minima:"]
    for case in all_cases:
        xs = samples[case.name]
        med = {c: statistics.median(xs[c]) for c in CONTENDERS}
        parts = [f"{c} {ms(min(xs[c]))} / {ms(med[c])} / {ms(max(xs[c]))}" for c in CONTENDERS]
        parts.append(f"plan {ms(statistics.median(plans[case.name]))}")
        detail.append(f"  {case.label}: " + "; ".join(parts))
        detail.append(f"  {' ' * len(case.label)}  initdsl/mmengine of medians "
                      f"{med['initdsl'] / med['mmengine']:.3f}, of minima "
                      f"{min(xs['initdsl']) / min(xs['mmengine']):.3f}; initdsl/floor of medians "
                      f"{med['initdsl'] / med['floor']:.3f}, of minima "
                      f"{min(xs['initdsl']) / min(xs['floor']):.3f}")
    return "\n".join(text + detail), all_met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--models", default="resnet,vit,chain,siblings",
                        help="comma-separated subset of resnet,vit,chain,siblings (default: all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads(N) before measuring (default: torch's own)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from mmengine.logging import MMLogger

    MMLogger.get_current_instance().setLevel(logging.WARNING)
    logging.getLogger("initdsl").setLevel(logging.WARNING)

    bases = {"initdsl": zoo.INITDSL, "mmengine": zoo.mmengine_bases()}
    wanted = [name.strip() for name in args.models.split(",") if name.strip()]
    known = {case.name: case for case in cases(QUICK if args.quick else FULL)}
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(known)}")
    all_cases = [known[name] for name in wanted]
    print(header(args), flush=True)

    params = {}
    for case in all_cases:
        with torch.device("meta"):
            model = case.build(bases["initdsl"])
        params[case.name] = (zoo.parameter_count(model), len(list(model.parameters())))

    print("\nverifying (untimed): identical bytes + RNG state, no reductions in initdsl ...",
          flush=True)
    counts = verify(all_cases, bases)
    for case in all_cases:
        mm = {k: v for k, v in counts[case.name]["mmengine"].items() if k in REDUCTIONS}
        own = sum(counts[case.name]["initdsl"].values())
        floor = sum(counts[case.name]["floor"].values())
        print(f"  {case.label}: bytes identical; torch calls initdsl {own:,}, floor {floor:,}; "
              f"initdsl reductions 0, mmengine reductions {dict(sorted(mm.items()))}")

    samples = {c.name: {k: [] for k in CONTENDERS} for c in all_cases}
    plans: dict[str, list[float]] = {c.name: [] for c in all_cases}
    for repeat in range(args.repeats):
        order = CONTENDERS[repeat % 3:] + CONTENDERS[:repeat % 3]
        for case in all_cases:
            for contender in order:
                prepared = prepare(contender, case, bases)
                samples[case.name][contender].append(timed(prepared))
                if prepared.plan_s is not None:
                    plans[case.name].append(prepared.plan_s)
                del prepared
        print(f"  repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    text, all_met = table(all_cases, samples, plans, params)
    print()
    print(text)
    print(f"\nall targets met: {'yes' if all_met else 'NO'}; load average at end: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.quick:
        print("(--quick: tiny sizes where fixed costs dominate; the targets are meant for the "
              "full sizes — this run only shows that everything works)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
