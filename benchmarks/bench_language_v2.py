"""What the language v2 constructs cost, each side by side with its baseline.

    python benchmarks/bench_language_v2.py              # ≈ 3 min on 2 cores
    python benchmarks/bench_language_v2.py --repeats 9 --quick

Each figure is the median of ``--repeats`` runs in this process, the two
contenders interleaved run by run, so machine noise hits both alike:

* ``compile``: parse + check + compile of 10,000 generated rules with the new
  constructs in the mix (lets, expressions, captures, class-name patterns,
  modifiers; one in five rules each) against 10,000 plain layer rules
  (target: under 0.5 s);
* ``explain``: resolving against a 48-layer, width-8,192 GPT built on the
  meta device a policy with globs, captures and computed values (GPT-2's
  residual scaling, an output cut from the tensor's fan) against, first, the
  plain layer-rule policy of that model (two rules: less work, not the
  same initialization) and, second, the same initialization written as the
  language before v2 had to: one hand-computed scope per block (target:
  within 2x);
* ``materialize``: fast mode with a peer policy (examples/peers/timm_vit.init)
  on a ViT-B/16 built on meta, against the single-stream one-fill floor of
  bench_fast.py (``to_empty`` + one torch fill per tensor with the same
  distributions);
* ``exact vs peer``: exact mode applying a peer policy to a built model,
  against the peer's own init code on the same model: timm's ViT init
  (replayed as tests/peers/reference.py replays it) on a ViT-B/16, and HF
  GPT-2 (12 layers, width 768) whose own init cost is its construction with
  init minus its construction under ``transformers.initialization.no_init_weights``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from interleaved import medians  # noqa: E402
from torch import nn  # noqa: E402

import initdsl  # noqa: E402
from initdsl import zoo  # noqa: E402
from initdsl.language.compiler import compile_policy  # noqa: E402
from initdsl.tools.explain import explain  # noqa: E402

N = 10_000
PEERS = ROOT / "examples" / "peers"


def plain_rules(n: int) -> str:
    return "\n".join(f"Layer{i} -> normal(std=0.02, bias={i % 7})" for i in range(n))


def v2_rules(n: int) -> str:
    kinds = [
        lambda i: f"let s{i} = 0.02 / sqrt(2 * {i % 48 + 1})",
        lambda i: f"Layer{i} -> normal(std=model.config.initializer_range * {i % 5 + 1})",
        lambda i: f"param blocks.{{i}}.m{i}.weight -> normal(std=0.02 / sqrt(2 * (i + 1)))",
        lambda i: f"*Norm{i}* -> ones",
        lambda i: f"Emb{i} -> normal(std=0.02) then zero_row(module.padding_idx)",
    ]
    return "\n".join(kinds[i % len(kinds)](i) for i in range(n))


PLAIN_GPT = "Linear, Embedding -> normal(std=0.02, bias=0)\nLayerNorm -> constant(1, bias=0)\n"
V2_GPT = """let std = 0.02
Linear -> normal(std=std)
Embedding -> normal(std=std) then zero_row(module.padding_idx)
*LayerNorm* -> ones
param blocks.{i}.attn.proj.weight -> normal(std=std / sqrt(2 * (i + 1)))
param **.mlp.fc2.weight -> normal(std=std / sqrt(2 * len(model.blocks)))
let s = tensor.fan_in ** -0.5
param head.weight -> trunc_normal(std=s, a=-3 * s, b=3 * s)
"""


def today_gpt(depth: int, width: int) -> str:
    """V2_GPT's initialization as a policy of the language before v2 could write it: one
    hand-computed scope per block for the residual scaling, the head's numbers spelled out."""
    lines = ["Linear, Embedding -> normal(std=0.02, bias=0)", "LayerNorm -> constant(1, bias=0)"]
    for i in range(depth):
        lines.append(f"scope blocks.{i}.attn {{ name proj -> normal(std="
                     f"{0.02 / (2 * (i + 1)) ** 0.5!r}, bias=0) }}")
        lines.append(f"scope blocks.{i}.mlp {{ name fc2 -> normal(std="
                     f"{0.02 / (2 * depth) ** 0.5!r}, bias=0) }}")
    s = width ** -0.5
    lines.append(f"scope head {{ Linear -> trunc_normal(std={s!r}, a={-3 * s!r}, b={3 * s!r}) }}")
    return "\n".join(lines) + "\n"


def timm_vit_replay(model: nn.Module) -> None:
    from tests.peers.reference import timm_vit
    timm_vit(model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller models (a smoke run)")
    args = parser.parse_args(argv)
    logging.getLogger("initdsl").setLevel(logging.ERROR)
    rows: list[tuple[str, str, float, str, float]] = []

    plain, v2 = plain_rules(N), v2_rules(N)
    result = medians({"plain": lambda: compile_policy(plain, "p.init"),
                      "v2": lambda: compile_policy(v2, "p.init")}, args.repeats)
    rows.append(("compile 10,000 rules", "layer rules", result["plain"], "v2 mix",
                 result["v2"]))

    depth, width = (4, 512) if args.quick else (48, 8192)
    with torch.device("meta"):
        gpt = zoo.gpt(vocab=50257, dim=width, depth=depth, heads=64, mlp=4 * width,
                      max_len=2048)
    plain_policy, v2_policy = compile_policy(PLAIN_GPT, "a.init"), compile_policy(V2_GPT, "b.init")
    result = medians({"plain": lambda: explain(gpt, plain_policy),
                      "v2": lambda: explain(gpt, v2_policy)}, args.repeats)
    rows.append((f"explain GPT {depth} x {width} (meta)", "layer rules", result["plain"],
                 "globs+captures+expr", result["v2"]))
    today = compile_policy(today_gpt(depth, width), "today.init")
    result = medians({"today": lambda: explain(gpt, today),
                      "v2": lambda: explain(gpt, v2_policy)}, args.repeats)
    rows.append((f"explain GPT {depth} x {width}, same init", "per-layer scopes",
                 result["today"], "globs+captures+expr", result["v2"]))

    vit_size = dict(depth=2, dim=192, heads=3) if args.quick else {}
    timm_vit_policy = (PEERS / "timm_vit.init").read_text()
    with torch.device("meta"):
        floor_model = zoo.vit_b16(**vit_size)
    # bench_fast.py's single-stream floor: to_empty, then one torch fill per tensor
    # with the distribution the peer policy resolves it to.
    import bench_fast

    from initdsl.fast.schedule import Draw

    def floor_for(policy: str) -> Callable[[], None]:
        schedule = initdsl.plan(floor_model, policy)
        fills = [(t.name, t.final_planned.dist if isinstance(t.final_planned, Draw) else None)
                 for t in schedule.targets]

        def run() -> None:
            floor_model.to_empty(device="cpu")
            tensors = dict(floor_model.named_parameters())
            with torch.no_grad():
                for name, dist in fills:
                    bench_fast.fill_once(tensors[name], dist)
        return run

    def fast_with(policy: str) -> Callable[[], None]:
        def run() -> None:
            with torch.device("meta"):
                model = zoo.vit_b16(**vit_size)
            initdsl.materialize(model, policy, seed=0)
        return run

    # The same ViT init written without v2 (LayerNorms written, the rest left out).
    v1_vit = ("param pos_embed -> trunc_normal(std=0.02)\nparam cls_token -> normal(std=1e-06)\n"
              "Linear -> trunc_normal(std=0.02, bias=0)\nLayerNorm -> constant(1, bias=0)\n")
    result = medians({"floor": floor_for(timm_vit_policy), "fast": fast_with(timm_vit_policy),
                      "floor v1": floor_for(v1_vit), "fast v1": fast_with(v1_vit)},
                     args.repeats)
    rows.append(("materialize ViT-B/16, timm_vit", "one-fill floor", result["floor"],
                 "fast materialize", result["fast"]))
    rows.append(("materialize ViT-B/16, v1 policy", "one-fill floor", result["floor v1"],
                 "fast materialize", result["fast v1"]))

    built = zoo.vit_b16(**vit_size)
    result = medians({"timm": lambda: timm_vit_replay(built),
                      "exact": lambda: initdsl.apply(built, timm_vit_policy)},
                     args.repeats, setup=lambda: torch.manual_seed(0))
    rows.append(("exact vs timm init, ViT-B/16", "timm's init", result["timm"],
                 "exact timm_vit", result["exact"]))

    try:
        import transformers as T
        from transformers.initialization import no_init_weights
    except ImportError:
        print("transformers is not installed: the HF GPT-2 figure is skipped")
    else:
        layers, dim = (2, 128) if args.quick else (12, 768)
        config = T.GPT2Config(n_layer=layers, n_embd=dim, n_head=12 if dim % 12 == 0 else 4)
        gpt2 = T.GPT2LMHeadModel(config)
        hf_policy = (PEERS / "hf_gpt2.init").read_text()

        def without_init() -> None:
            with no_init_weights():
                T.GPT2LMHeadModel(config)
        result = medians({"with": lambda: T.GPT2LMHeadModel(config),
                          "without": without_init,
                          "exact": lambda: initdsl.apply(gpt2, hf_policy)}, args.repeats,
                         setup=lambda: torch.manual_seed(0))
        rows.append((f"exact vs HF init, GPT-2 {layers} x {dim}", "HF's init",
                     result["with"] - result["without"], "exact hf_gpt2", result["exact"]))

    print(f"median of {args.repeats}, seconds; ratio = right / left")
    for what, a, ta, b, tb in rows:
        print(f"{what:34s} {a:>16s} {ta:8.3f}   {b:>20s} {tb:8.3f}   ratio {tb / ta:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
