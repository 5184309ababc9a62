"""The language server's diagnostics for a 1,000-line policy: time after a change, no torch.

    python benchmarks/bench_lsp.py [--repeats 15]

Times what the server runs on every ``didChange`` —
:func:`initdsl.tools.lsp.diagnostics_for` (project lookup, parse, check,
the text-only lint rules) — on a generated 1,000-line policy of layer,
param, load, let and scope statements that names only built-in
initializers, without a model (median of ``--repeats`` runs after one
warm-up), and checks that torch was never imported. The target
(issue 15) is under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def policy(lines: int = 1000) -> str:
    """A realistic policy of about ``lines`` lines (comments included)."""
    out = ["# generated for bench_lsp", "let std = 0.02", "seed 0"]
    kinds = [
        "Conv2d -> kaiming(mode=fan_out, nonlinearity=relu)",
        "Linear, Conv1d -> trunc_normal(std=std, a=-2 * std, b=2 * std)",
        "param blocks.{i}.attn.proj{n}.weight -> normal(std=std / sqrt(2 * (i + 1)))",
        "Embedding -> normal(std=std) then zero_row(0)",
        "LayerNorm, *Norm* -> constant(1, bias=0)",
        'load "checkpoints/backbone{n}.pth" prefix "backbone."',
        "scope neck.fpn{n} { Conv2d -> xavier(distribution=uniform) }",
        "# a comment line",
    ]
    n = 0
    while len(out) < lines:
        out.append(kinds[n % len(kinds)].replace("{n}", str(n)))
        n += 1
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    start = time.perf_counter()
    from initdsl.tools import lsp
    imported = time.perf_counter() - start
    text = policy()
    uri = (Path.cwd() / "bench.init").as_uri()
    found = lsp.diagnostics_for(uri, text)  # warm-up: the first call reads the registry
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        lsp.diagnostics_for(uri, text)
        times.append(time.perf_counter() - start)
    print(f"{len(text.splitlines())}-line policy, {len(found)} diagnostics "
          f"({', '.join(sorted({d.code for d in found}))})")
    print(f"diagnostics after a change: median {statistics.median(times) * 1000:.1f} ms, "
          f"min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
          f"({args.repeats} runs)")
    print(f"importing the server: {imported * 1000:.0f} ms; torch imported: "
          f"{'torch' in sys.modules}")


if __name__ == "__main__":
    main()
