"""Run notebook 03's C4 experiment and decision N times (quick mode) and count how often the outcome flips.

    .venv/bin/python scripts/flips_c4.py [N]     # default 20

It calls the same helpers as the notebook (sync_workers.cpu_params, cpu_sweep,
cpu_decision), so it tests the notebook's sizes and rule. Each run prints its
outcome, the measured gains and the free cores; the end prints how many runs
differ from the most common outcome.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

os.environ.setdefault("COURSE_MODE", "quick")

from helpers.core import system  # noqa: E402
from helpers.lessons import sync_workers  # noqa: E402


def main(n: int = 20) -> int:
    cores = system.machine()["cpus_usable"]
    params = sync_workers.cpu_params()
    print(f"C4 flips: {n} runs, {cores} usable cores, mode {os.environ['COURSE_MODE']}, sizes {params}")
    outcomes = []
    for k in range(n):
        t0 = time.perf_counter()
        runs, w = sync_workers.cpu_sweep(cores, progress=False, **params)
        d = sync_workers.cpu_decision(runs, cores, w.free_cores)
        key = f"{d['outcome']}:{d['reason']}"
        outcomes.append(key)
        print(f"run {k + 1:2d}: {key:28s} gain {d['gain']:.2f}x  beyond {d['beyond']:.2f}x  "
              f"threads {d['threads']:.2f}x  free cores {w.free_cores:.2f}  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    counts = Counter(outcomes)
    common, n_common = counts.most_common(1)[0]
    print(f"outcomes: {dict(counts)}; flips (runs not '{common}'): {n - n_common} of {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
