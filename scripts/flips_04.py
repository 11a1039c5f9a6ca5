"""Run notebook 04's changed verdicts and checks N times (quick mode) and count how often each outcome flips.

    .venv/bin/python scripts/flips_04.py [N]     # default 10

Each run repeats, with the notebook's quick sizes and rules:

- the schedule check (section 1): ``aio.trace_tasks`` against ``aio.schedule_model``;
- C5 (section 3): ``aio.sweep_many``, all requests in flight and flat up to the default limit;
- C15 (section 3): ``aio.cost_rounds`` and ``aio.cost_decision`` (a thread or a task per request);
- C11 (section 6): ``aio.same_work_yields``, ``aio.yield_overhead`` and ``aio.c11_decision``;
- the deadline check (section 7): an AnyIO task group cut by ``move_on_after``;
- and prints, not judged, the median loop lag beside a CPU thread against the switch interval.

The end prints, per decision, how many runs differ from its most common outcome.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

os.environ.setdefault("COURSE_MODE", "quick")
os.environ.setdefault("COURSE_PROGRESS", "off")

from _flips import cli, report  # noqa: E402  (scripts/ is on the path when run as a script)
from helpers import servers  # noqa: E402
from helpers.core import config, timing, workloads  # noqa: E402
from helpers.lessons import aio  # noqa: E402
from helpers.load import clients  # noqa: E402


def schedule_check() -> tuple[str, float]:
    cpu, wait = config.pick(full=(30, 60), quick=(15, 30))
    plan = {"A": [(cpu, wait)] * 3, "B": [(2 * cpu, wait)] * 2, "C": [(cpu / 2, wait)] * 4}
    trace = asyncio.run(aio.trace_tasks(plan))
    ratio = trace["end_s"].max() / (aio.schedule_model(aio.measured_plan(trace, plan)).attrs["total_ms"] / 1000)
    ok = aio.running_overlaps(trace) == 0 and 0.97 <= ratio <= 1.25
    return ("passed" if ok else "failed"), ratio


def c5(url: str, latency_s: float, ns) -> tuple[str, float]:
    import pandas as pd

    many: pd.DataFrame = asyncio.run(aio.sweep_many(url, ns, default_limit=aio.aiohttp_default_limit()))
    many["latencies"] = many["wall_s"] / latency_s
    lifted = many[many["client"] == "asyncio, limit lifted"].set_index("n")
    n_max = max(ns)
    all_in_flight = lifted.loc[n_max, "peak_in_flight"] >= 0.9 * n_max
    flat = lifted.loc[lifted.index <= aio.aiohttp_default_limit(), "latencies"].max() < 1.5
    out = "holds" if all_in_flight and flat else "inconclusive"
    return out, float(lifted["latencies"].max())


def c11() -> tuple[str, dict]:
    async def main():
        trip = await aio.loop_trip_cost_us()
        over = aio.yield_overhead(await aio.same_work_yields(100, repeats=config.pick(full=11, quick=9)), trip)
        return aio.c11_decision(over), over

    out, over = asyncio.run(main())
    big = over[over["yields"] == over["yields"].max()].iloc[0]
    return out, {"coroutine_ms": over.loc["coroutine", "extra_ms"], "noise_ms": big["noise_ms"],
                 "max_over_model": big["extra_ms"] / big["model_ms"]}


def deadline_check(url: str, latency_s: float, n: int) -> tuple[str, float]:
    import aiohttp
    import anyio

    async def fetch_all(records, started):
        async def one(session):
            started.append(asyncio.current_task())
            records.append(await clients.get_async(session, url))

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:
            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one, session)

    async def main():
        deadline = latency_s / 2
        cut, started = [], []
        with timing.Timer() as t:
            with anyio.move_on_after(deadline) as scope:
                await fetch_all(cut, started)
        ok = (scope.cancelled_caught and deadline * 0.95 <= t.wall_s < (deadline + latency_s) / 2 and not cut
              and len(started) == n and all(s.done() for s in started))
        return ("passed" if ok else "failed"), t.wall_s

    return asyncio.run(main())


def thread_lag(hog_ms: float) -> float:
    async def burn_in_thread(ms):
        await asyncio.to_thread(workloads.burn_cpu, ms)

    async def main():
        return await aio.measure_lag(burn_in_thread(hog_ms), interval_ms=5)

    df = asyncio.run(main())
    return float(df.loc[df["during_job"], "lag_ms"].median())


def main(n: int = 10) -> int:
    latency_ms = config.pick(full=500, quick=200)
    ns = config.pick(full=[1, 10, 50, 100, 150, 200, 300, 500, 1000], quick=[1, 50, 150, 300])
    ns_cost = aio.threads_that_fit(config.pick(full=[100, 300, 1000], quick=[200]))
    cost_latency_s = config.pick(full=1.0, quick=0.3)
    hog_ms = config.pick(full=300, quick=150)
    print(f"04 flips: {n} runs, mode {config.mode()}, switch interval {sys.getswitchinterval() * 1000:g} ms")
    outcomes: dict[str, list[str]] = {"schedule": [], "C5": [], "C15": [], "C11": [], "deadline": []}
    with servers.SlowService() as svc:
        url, cost_url = svc.url("/io", ms=latency_ms), svc.url("/io", ms=cost_latency_s * 1000)
        for k in range(n):
            t0 = time.perf_counter()
            sch, ratio = schedule_check()
            v5, lat = c5(url, latency_ms / 1000, ns)
            d = aio.cost_decision(aio.cost_rounds(cost_url, ns_cost, latency_s=cost_latency_s, repeats=3))
            v11, f11 = c11()
            dl, cut_s = deadline_check(url, latency_ms / 1000, config.pick(full=200, quick=50))
            lag = thread_lag(hog_ms)
            for key, val in (("schedule", sch), ("C5", v5), ("C15", d["outcome"]), ("C11", v11), ("deadline", dl)):
                outcomes[key].append(val)
            print(f"run {k + 1:2d}: schedule {sch} ({ratio:.3f}x model)  C5 {v5} (max {lat:.2f} latencies)  "
                  f"C15 {d['outcome']} (mem margin {d['mem_margin']:.2f}x, cpu margin {d['cpu_margin']:.2f}x, "
                  f"spreads {d['mem_spread']:.2f}/{d['cpu_spread']:.2f})  C11 {v11} (coroutine {f11['coroutine_ms']:+.2f} ms, "
                  f"noise {f11['noise_ms']:.2f} ms, 1e5 yields {f11['max_over_model']:.2f}x model)  deadline {dl} ({cut_s:.3f} s)  "
                  f"thread lag median {lag:.2f} ms  ({time.perf_counter() - t0:.0f} s)", flush=True)
    for key, vals in outcomes.items():
        report(vals, key)
    return 0


if __name__ == "__main__":
    cli(main, 10)
