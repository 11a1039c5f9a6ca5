"""Run notebook 02's C11 experiment and decision N times (quick mode) and count how often the outcome flips.

    .venv/bin/python scripts/flips_c11.py [N]     # default 10

It calls the same helpers with the same sizes as the notebook (pools.switch_sweep,
pools.switch_overhead; the verdict holds when, at the fewest switches, the cut-up work
took the one-piece time plus switches x the cost of one switch, within the repeats'
spread; the check wants the extra time at the most switches within a factor of two of
the model). Each run prints its outcome, the cost of one
switch and the numbers of switches that disagreed; the end prints how many runs
differ from the most common outcome.
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_MODE", "quick")

import psutil  # noqa: E402
from _flips import cli, repeat  # noqa: E402  (scripts/ is on the path when run as a script)

from helpers.core import config, workloads  # noqa: E402
from helpers.lessons import pools  # noqa: E402

# the notebook's sizes (02, section 4)
WORK_MS = 200
SWITCHES = [100, 1_000, 10_000, 100_000]
REPEATS = 5


def main(n: int = 10) -> int:
    workloads.calibrate()
    print(f"C11 flips: {n} runs, mode {os.environ['COURSE_MODE']}, work {WORK_MS} ms, switches {SWITCHES}, "
          f"repeats {REPEATS}, load average {psutil.getloadavg()[0]:.2f}")

    def once():
        sweep = pools.switch_sweep(workloads.iterations_for(WORK_MS), SWITCHES, repeats=REPEATS)
        over = pools.switch_overhead(sweep)
        holds = bool(over["only_switching"].iloc[0])             # the verdict: the fewest switches
        top = float(over["model_ratio"].iloc[-1])
        model_ok = 0.5 <= top <= 2.0                              # the check: the most switches
        few = over.iloc[0]
        return (holds, model_ok), (
            f"{over.attrs['us_per_switch']:.2f} us/switch (min {over.attrs['us_per_switch_min']:.2f}, "
            f"max {over.attrs['us_per_switch_max']:.2f}); noise {few['noise_ms']:.2f} ms; extra at {SWITCHES[0]}: "
            f"{few['extra_ms']:.2f} ms; residual/noise there: {abs(few['extra_ms'] - few['model_ms']) / few['noise_ms']:.2f}; "
            f"told apart at {over.loc[over['told_apart'], 'switches'].tolist()}; extra/model at {SWITCHES[-1]}: "
            f"{top:.2f}; load {psutil.getloadavg()[0]:.2f}")

    return repeat(n, once)


if __name__ == "__main__":
    cli(main, 10)
