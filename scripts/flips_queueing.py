"""Run notebook 03's hockey-stick experiment and its C3 decision N times (quick mode) and count flips.

    .venv/bin/python scripts/flips_queueing.py [N]     # default 10

It calls the same helpers as the notebook (queueing.params, hockey_stick, decision,
generator_kept_up), so it tests the notebook's sizes and rule. Each run prints its outcome
and the three figures the rule reads; the end prints how many runs differ from the most
common outcome.
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_MODE", "quick")

from _flips import cli, repeat  # noqa: E402  (scripts/ is on the path when run as a script)
from helpers.lessons import queueing  # noqa: E402


def main(n: int = 10) -> int:
    params = queueing.params()
    print(f"C3 hockey-stick flips: {n} runs, mode {os.environ['COURSE_MODE']}, sizes {params}", flush=True)

    def once():
        pts = queueing.hockey_stick(progress=False, **params)
        d = queueing.decision(pts)
        key = f"{d['outcome']}:grew={d['grew']},fewer={d['fewer_queue']},model={d['model']}"
        return key, (f"growth {d['growth']:.2f}x  queued gap {d['queued_gap']:.2f}  "
                     f"same-rate P99 {d['same_rate_ratio']:.2f}x  model ratio {d['model_ratio']:.2f}  "
                     f"kept up {queueing.generator_kept_up(pts)}")

    return repeat(n, once)


if __name__ == "__main__":
    cli(main, 10)
