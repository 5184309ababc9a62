"""Wall time of the command line's quick commands, in fresh processes, against ``python -c pass``.

    python benchmarks/bench_startup.py                      # 9 runs per command
    python benchmarks/bench_startup.py --repeats 15
    python benchmarks/bench_startup.py --against /path/to/other/checkout

A command that needs no model should not pay for importing torch (≈ 1 s on
these machines, most of ``apply``'s start). Each command runs in a fresh
interpreter started as ``python -m initdsl ...`` from the repository root, so
what is measured is what a user (or a pre-commit hook running over many files)
waits for. ``--against`` runs the same commands with another checkout first on
``PYTHONPATH`` (an older commit in a ``git worktree``), interleaved run by run
with this one, and prints the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

POLICY = """\
# A small policy, as in a repository's pre-commit run.
Conv2d -> kaiming(mode=fan_out, nonlinearity=relu)
BatchNorm2d, GroupNorm -> constant(1, bias=0)
Linear -> normal(std=0.01)
"""

#: name -> arguments after ``python``; ``{policy}`` is a policy file.
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "import torch": ["-c", "import torch"],
    "--version": ["-m", "initdsl", "--version"],
    "fmt --check": ["-m", "initdsl", "fmt", "--check", "{policy}"],
    "compile": ["-m", "initdsl", "compile", "{policy}"],
    "lint": ["-m", "initdsl", "lint", "{policy}"],
}


def run_once(arguments: list[str], policy: str, pythonpath: str | None) -> float:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, *(policy if a == "{policy}" else a for a in arguments)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=pythonpath or ROOT, env=env, capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--against", default=None,
                        help="another checkout to time side by side (put first on PYTHONPATH)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        policy = str(Path(folder) / "model.init")
        Path(policy).write_text(POLICY, encoding="utf-8")
        here: dict[str, list[float]] = {name: [] for name in COMMANDS}
        there: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.repeats):
            for name, arguments in COMMANDS.items():
                here[name].append(run_once(arguments, policy, str(ROOT)))
                if args.against is not None:
                    there[name].append(run_once(arguments, policy, args.against))
    print(f"median of {args.repeats} fresh processes, seconds")
    header = f"{'command':<16} {'this checkout':>14}"
    if args.against is not None:
        header += f" {'--against':>10} {'ratio':>7}"
    print(header)
    for name in COMMANDS:
        line = f"{name:<16} {statistics.median(here[name]):>14.3f}"
        if args.against is not None:
            ours, theirs = statistics.median(here[name]), statistics.median(there[name])
            line += f" {theirs:>10.3f} {ours / theirs:>7.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
