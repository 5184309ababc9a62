"""How the cost of reading, checking and reporting a policy grows with its size, bad input included.

    python benchmarks/bench_scaling.py            # sizes up to 40,000 (≈ 2 min, 2 cores)
    python benchmarks/bench_scaling.py --quick    # sizes up to 4,000: a smoke run
    python benchmarks/bench_scaling.py --repeats 5

Every case is a family of texts that grows with ``n``; for each size the
median time of ``--repeats`` runs is taken (in this process, the collector
paused as initdsl pauses it). A cost linear in the input doubles when ``n``
doubles, so the table prints, per case, the time per item (µs) at each size
and the growth ``t(n_max) / t(n_min)`` against the size ratio: a growth equal
to the size ratio is linear, its square quadratic. The cases are those of the
hardening issue:

* ``semantic``  — ``n`` lines ``Linear -> nope`` (``E101`` each): check, then
  render every diagnostic as the command line prints them;
* ``one-by-one``— the same, each diagnostic rendered alone with
  ``Diagnostic.render(text)``, as a user's loop would;
* ``quoted``    — ``n`` lines ``"seed" -> xavier`` (valid; quoted reserved
  words): parse and compile;
* ``syntax``    — ``n`` lines ``Linear -> normal(`` (``E001`` each): parse and
  render every diagnostic;
* ``one-line``  — ``n`` broken statements ``A -> (`` separated by ``;`` on one
  line: parse and render (the rendered size is printed too);
* ``late-error``— ``n`` valid lines and one syntax error at the end, against
  the same ``n`` valid lines: parse (the ratio of the two is printed);
* ``unclosed``  — ``n`` unclosed ``scope a {`` lines: parse.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initdsl.diagnostics import render_all  # noqa: E402
from initdsl.errors import PolicyError  # noqa: E402
from initdsl.language.compiler import compile_policy  # noqa: E402
from initdsl.language.parser import parse_recovering  # noqa: E402

Case = Callable[[int], tuple[str, Callable[[str], int]]]


def _render_check(text: str) -> int:
    try:
        compile_policy(text, "p.init")
    except PolicyError as error:
        return len(render_all(error.diagnostics, text))
    return 0


def _render_each(text: str) -> int:
    # As a user loop would: Diagnostic.render(text) per diagnostic, no shared split.
    try:
        compile_policy(text, "p.init")
    except PolicyError as error:
        return sum(len(d.render(text)) for d in error.diagnostics)
    return 0


def _render_parse(text: str) -> int:
    _, diagnostics = parse_recovering(text, "p.init")
    return len(render_all(diagnostics, text))


def _parse(text: str) -> int:
    _, diagnostics = parse_recovering(text, "p.init")
    return len(diagnostics)


CASES: dict[str, Case] = {
    "semantic": lambda n: ("Linear -> nope\n" * n, _render_check),
    "one-by-one": lambda n: ("Linear -> nope\n" * n, _render_each),
    "quoted": lambda n: ('"seed" -> xavier\n' * n, _render_check),
    "syntax": lambda n: ("Linear -> normal(\n" * n, _render_parse),
    "one-line": lambda n: ("A -> (; " * n + "\n", _render_parse),
    "late-error": lambda n: ("Linear -> normal(std=0.02, bias=0)\n" * n + "Linear ->\n",
                             _parse),
    "valid": lambda n: ("Linear -> normal(std=0.02, bias=0)\n" * n, _parse),
    "unclosed": lambda n: ("scope a {\n" * n, _parse),
}


def timed(fn: Callable[[str], int], text: str, repeats: int) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 4,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [500, 1000, 2000, 4000] if args.quick else [5000, 10000, 20000, 40000]
    print(f"sizes {sizes}, median of {args.repeats}; µs per item at each size, "
          f"then growth t(n={sizes[-1]:,}) / t(n={sizes[0]:,}) (linear: "
          f"{sizes[-1] / sizes[0]:g}, quadratic: {(sizes[-1] / sizes[0]) ** 2:g})")
    rows = []
    seconds: dict[str, list[float]] = {}
    for name, case in CASES.items():
        per_item, results = [], []
        for n in sizes:
            text, fn = case(n)
            elapsed, result = timed(fn, text, args.repeats)
            seconds.setdefault(name, []).append(elapsed)
            per_item.append(elapsed / n * 1e6)
            results.append(result)
        growth = seconds[name][-1] / seconds[name][0]
        rows.append((name, per_item, growth, results[-1]))
    width = max(len(name) for name, *_ in rows)
    for name, per_item, growth, result in rows:
        cells = "  ".join(f"{value:8.1f}" for value in per_item)
        print(f"{name:<{width}}  {cells}   growth {growth:6.1f}   "
              f"(largest: {seconds[name][-1] * 1e3:,.0f} ms, result {result:,})")
    late, valid = seconds["late-error"][-1], seconds["valid"][-1]
    print(f"one syntax error after {sizes[-1]:,} valid lines costs {late / valid:.2f}x the "
          "valid text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
