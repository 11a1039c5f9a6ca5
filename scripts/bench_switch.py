"""Print notebook 07's switch figures outside the notebook, side by side, in one run.

    python scripts/bench_switch.py [--repeats 5] [--seconds 0.2] [--no-pin]

Every kind of switch (OS threads, processes, asyncio on the default loop and
on uvloop, C and pure-Python tasks, greenlet, gevent) runs in fresh child
processes (``helpers.lessons.switch_probe``), unpinned and pinned to one core
where the OS allows, interleaved so a busy moment hits every kind alike.
Prints, per kind: median, min and max microseconds per switch, the spread
(max/min), the kernel's voluntary context switches per switch, and the pinned
figures beside the unpinned ones. A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from helpers.lessons import switching


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per kind and pinning (default 5)")
    ap.add_argument("--seconds", type=float, default=0.2, help="minimum length of each timed run (default 0.2 s)")
    ap.add_argument("--no-pin", action="store_true", help="unpinned runs only")
    args = ap.parse_args(argv)
    pins = (False,) if args.no_pin else (False, True)
    m = switching.machine()
    print(f"Python {sys.version.split()[0]} on {m['platform']}, CPUs {m['cpus']}, can pin: {m['can_pin']}"
          + (f" (pinned runs use CPU {switching.pin_cpu()})" if m["can_pin"] else ""))
    t0 = time.perf_counter()
    n = len(switching.KINDS) * len(pins) * args.repeats
    done = [0]

    def progress(plan):
        for step in plan:
            done[0] += 1
            print(f"\r  run {done[0]}/{n}", end="", file=sys.stderr, flush=True)
            yield step
        print(file=sys.stderr)

    runs = switching.switch_runs(switching.KINDS, repeats=args.repeats, seconds=args.seconds, pinned=pins,
                                 progress=progress)
    s = switching.summarize(runs)
    for reason in runs.attrs.get("skipped", {}).items():
        print("skipped:", *reason)
    wide = s.pivot_table(index="kind", columns="pinned", values=["median_us", "min_us", "max_us", "spread",
                                                               "voluntary_per_switch"], sort=False)
    wide.columns = [f"{v}{'_pinned' if p else ''}" for v, p in wide.columns]
    wide.insert(0, "label", [switching.KINDS[k][0] for k in wide.index])
    wide = wide.reindex([k for k in switching.KINDS if k in wide.index])
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(wide.round(3).to_string())
    print(f"\n{len(runs)} fresh processes, {args.repeats} per kind and pinning, runs of at least {args.seconds:g} s, "
          f"in {time.perf_counter() - t0:.0f} s. µs per switch = elapsed / (2 x round trips).")
    for a, b in (("asyncio", "asyncio-pytask"), ("uvloop", "asyncio"), ("greenlet", "thread-pipe")):
        c = switching.compare(runs, a, b)
        print(f"{b} / {a}, each repeat's runs side by side: median {c['ratio']:.2f}x "
              f"({c['pair_min']:.2f} to {c['pair_max']:.2f}); faster in two repeats in three or more: {c['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
