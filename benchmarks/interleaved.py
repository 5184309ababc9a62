"""Side-by-side timing for the benchmarks: contenders interleaved run by run, medians.

On a shared, noisy machine a slow phase then hits every contender alike, so
their ratio is what the benchmarks report.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def medians(contenders: dict[str, Callable[[], object]], repeats: int,
            setup: Callable[[], object] | None = None) -> dict[str, float]:
    """Median seconds of each contender over ``repeats`` interleaved runs, after one warm-up
    run each; ``setup`` runs untimed before every run (``torch.manual_seed(0)``, say)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        if setup is not None:
            setup()
        run()
    for _ in range(repeats):
        for name, run in contenders.items():
            if setup is not None:
                setup()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
