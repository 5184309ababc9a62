"""What parameter rules (`param ...`, `Class.param ...`) cost, side by side with layer rules.

    python benchmarks/bench_param_rules.py              # ≈ 1 min on 2 cores
    python benchmarks/bench_param_rules.py --repeats 9

Two measurements, each the median of ``--repeats`` runs in this process,
the two contenders interleaved run by run:

* ``compile``: parse + check + compile of 10,000 generated rules, layer
  rules alone against the same count with every other rule a ``param`` rule
  with a glob (``param blocks.*.m{i}.weight -> normal(std=0.02)``);
* ``explain``: resolving a policy against a 48-layer, width-8,192 GPT built
  on the meta device (nothing allocated), layer rules alone against the
  same initialization written with class-qualified rules and a ``**`` glob.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from interleaved import medians  # noqa: E402

from initdsl import zoo  # noqa: E402
from initdsl.language.compiler import compile_policy  # noqa: E402
from initdsl.tools.explain import explain  # noqa: E402

N = 10_000
LAYER_TEXT = "\n".join(f"Layer{i} -> normal(std=0.02, bias={i % 7})" for i in range(N))
MIXED_TEXT = "\n".join(f"Layer{i} -> normal(std=0.02, bias={i % 7})" if i % 2 else
                       f"param blocks.*.m{i}.weight -> normal(std=0.02)" for i in range(N))
LAYER_POLICY = "Linear, Embedding -> normal(std=0.02, bias=0)\nLayerNorm -> constant(1, bias=0)\n"
PARAM_POLICY = ("Linear.weight -> normal(std=0.02)\nLinear.bias -> constant(0)\n"
                "Embedding -> normal(std=0.02)\nLayerNorm -> constant(1, bias=0)\n"
                "param **.proj.weight -> normal(std=0.002)\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    compiled = medians({"layer rules": lambda: compile_policy(LAYER_TEXT, "p.init"),
                        "half param rules": lambda: compile_policy(MIXED_TEXT, "p.init")},
                       args.repeats)
    with torch.device("meta"):
        model = zoo.gpt(vocab=50257, dim=8192, depth=48, heads=64, mlp=4 * 8192, max_len=2048)
    layer, param = compile_policy(LAYER_POLICY, "a.init"), compile_policy(PARAM_POLICY, "b.init")
    explained = medians({"layer rules": lambda: explain(model, layer),
                         "param rules": lambda: explain(model, param)}, args.repeats)
    print(f"median of {args.repeats}, seconds")
    for what, result in (("compile 10,000 rules", compiled),
                         ("explain GPT 48 x 8192 (meta)", explained)):
        (a, ta), (b, tb) = result.items()
        print(f"{what:30s} {a} {ta:.3f}   {b} {tb:.3f}   ratio {tb / ta:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
