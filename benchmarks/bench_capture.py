"""What ``initdsl capture`` costs, against the model's own construction with its init.

    python benchmarks/bench_capture.py              # ≈ 2 min on 2 cores
    python benchmarks/bench_capture.py --repeats 5 --quick

Two models, each the median of ``--repeats`` runs, contenders interleaved:

* a ViT-B/16 (``initdsl.zoo``, timm's names) built and initialized by timm's
  ``init_weights('')`` as tests/peers/reference.py replays it;
* HF GPT-2, 12 layers, width 768 (``transformers``; skipped without it).

``capture`` observes the construction (the factory runs once under the
recorder), groups and infers, then verifies by building a second instance
and planning the policy on it: the target is at most 2× the construction.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from interleaved import medians  # noqa: E402

import initdsl  # noqa: E402
from initdsl import zoo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small models (a smoke run)")
    args = parser.parse_args(argv)
    logging.getLogger("initdsl").setLevel(logging.ERROR)
    from tests.peers.reference import timm_vit

    size = dict(depth=2, dim=192, heads=3) if args.quick else {}

    def vit() -> torch.nn.Module:
        model = zoo.vit_b16(**size)
        timm_vit(model)
        return model

    rows = []
    result = medians({"build": vit, "capture": lambda: initdsl.capture(vit)}, args.repeats,
                     setup=lambda: torch.manual_seed(0))
    rows.append(("ViT-B/16, timm's init", result["build"], result["capture"]))
    try:
        import transformers as T
    except ImportError:
        print("transformers is not installed: the GPT-2 figure is skipped")
    else:
        layers, dim = (2, 128) if args.quick else (12, 768)
        config = T.GPT2Config(n_layer=layers, n_embd=dim, n_head=12 if dim % 12 == 0 else 4)
        result = medians({"build": lambda: T.GPT2LMHeadModel(config),
                          "capture": lambda: initdsl.capture(
                              lambda: T.GPT2LMHeadModel(config))}, args.repeats,
                         setup=lambda: torch.manual_seed(0))
        rows.append((f"HF GPT-2 {layers} x {dim}", result["build"], result["capture"]))
    print(f"median of {args.repeats}, seconds")
    for what, build, captured in rows:
        print(f"{what:24s} construction+init {build:7.3f}   capture {captured:7.3f}   "
              f"ratio {captured / build:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
