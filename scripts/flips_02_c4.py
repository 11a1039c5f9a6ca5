"""Run notebook 02's CPU-bound sweep and its two C4 decisions N times (quick mode) and count flips.

    .venv/bin/python scripts/flips_02_c4.py [N]     # default 20

The same helpers, sizes and rules as the notebook's section 3: ``pools.cpu_sweep``
of 12 tasks of 15 ms (quick) over 1, cores and 2 x cores workers, threads and
processes (spawn), five repeats, inside a ``system.CpuWindow``; "threads" holds
if the best thread pool ran under 1.3x as fast as one after another;
"processes" is inconclusive below 1.5 free cores, else holds if the best
process pool ran at least 1.25x as fast as the best thread pool.
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_MODE", "quick")

from _flips import cli, repeat  # noqa: E402  (scripts/ is on the path when run as a script)
from helpers.core import config, system, workloads  # noqa: E402
from helpers.lessons import pools  # noqa: E402


def main(n: int = 20) -> int:
    cores = system.usable_cores()
    task_ms = config.pick(full=20, quick=15)
    sizes = config.pick(full=list(range(1, 2 * cores + 1)), quick=sorted({1, cores, 2 * cores}))
    workloads.calibrate()
    print(f"02 C4 flips: {n} runs, {cores} usable cores, mode {config.mode()}, tasks 12 x {task_ms} ms, "
          f"pool sizes {sizes}")

    def once():
        with system.CpuWindow() as window:
            cpu = pools.cpu_sweep(workloads.iterations_for(task_ms), 12, sizes, method="spawn", repeats=5)
        sp = pools.speedups(cpu, cores)
        best_thread = sp.loc[sp["mode"] == "thread", "speedup"].max()
        best_process = sp.loc[sp["mode"] == "process", "speedup"].max()
        free = window.free_cores
        threads = bool(best_thread < 1.3)
        processes = "inconclusive" if cores < 2 or free < 1.5 else bool(best_process >= 1.25 * best_thread)
        return (threads, processes), (f"threads {best_thread:.2f}x  processes {best_process:.2f}x  "
                                      f"processes/threads {best_process / best_thread:.2f}  free cores {free:.2f}")

    return repeat(n, once)


if __name__ == "__main__":
    cli(main, 20)
