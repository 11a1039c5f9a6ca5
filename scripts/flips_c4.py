"""Run notebook 03's C4 experiment and decision N times (quick mode) and count how often the outcome flips.

    .venv/bin/python scripts/flips_c4.py [N]     # default 20

It calls the same helpers as the notebook (sync_workers.cpu_params, cpu_sweep,
cpu_decision), so it tests the notebook's sizes and rule. Each run prints its
outcome, the measured gains and the free cores; the end prints how many runs
differ from the most common outcome.
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_MODE", "quick")

from _flips import cli, repeat  # noqa: E402  (scripts/ is on the path when run as a script)
from helpers.core import system  # noqa: E402
from helpers.lessons import sync_workers  # noqa: E402


def main(n: int = 20) -> int:
    cores = system.machine()["cpus_usable"]
    params = sync_workers.cpu_params()
    print(f"C4 flips: {n} runs, {cores} usable cores, mode {os.environ['COURSE_MODE']}, sizes {params}")

    def once():
        runs, w = sync_workers.cpu_sweep(cores, progress=False, **params)
        d = sync_workers.cpu_decision(runs, cores, w.free_cores)
        return f"{d['outcome']}:{d['reason']}", (f"gain {d['gain']:.2f}x  beyond {d['beyond']:.2f}x  "
                                                  f"threads {d['threads']:.2f}x  free cores {w.free_cores:.2f}")

    return repeat(n, once)


if __name__ == "__main__":
    cli(main, 20)
