"""What a worker costs: memory and start-up time of a thread versus a process.

Memory is read with psutil, in two measures that answer different questions:

- **RSS** (resident set size): every page of the process that is in RAM now,
  *including* pages it shares with other processes (the Python binary,
  shared libraries, pages a forked child still shares with its parent).
  Adding up the RSS of several workers counts the shared pages again for
  each one, so it overstates what they cost together.
- **USS** (unique set size): the pages that belong to this process alone,
  the memory that would be freed if it exited. It is the honest price of
  *one more* worker. (psutil reads it from ``/proc/PID/smaps`` on Linux; it
  is slower to get than RSS.)

A thread has no RSS or USS of its own: it lives inside its process, so its
cost is the growth of the process when threads are added, divided by their
number. The threads are measured in a fresh interpreter (a small child
process that exits by itself), so nothing else the notebook holds blurs the
figure; that child's own size is the price of a bare interpreter.

All sizes are in mebibytes (``_mb``, 2**20 bytes), times in seconds (``_s``)
or milliseconds (``_ms``) as the column names say.
"""

from __future__ import annotations

import json
import time
from typing import Iterable

import pandas as pd
import psutil

from helpers.core import checks, executors, procs, workloads

MB = 2**20
MAX_THREADS = 2000

# Run in a fresh interpreter: start N threads that each do a little work and
# then wait, and report the process's memory before and after (bytes).
_THREAD_PROBE = r"""
import gc, json, sys, threading, time
import psutil
n = int(sys.argv[1])
proc = psutil.Process()
go, done = threading.Event(), threading.Event()

def work():
    go.wait(60)                   # started, but idle until every thread is running
    acc = 0
    for i in range(10_000):       # a bit of work, as a real worker would do
        acc = (acc + i * i) % 1_000_003
    done.wait(60)

gc.collect()
time.sleep(0.05)
before = proc.memory_full_info()
threads = [threading.Thread(target=work, daemon=True) for _ in range(n)]
each = []
for t in threads:
    t0 = time.perf_counter()
    t.start()                     # returns once the new thread is running
    each.append(time.perf_counter() - t0)
start_s = sorted(each)[len(each) // 2]   # the median: one stall of a busy machine does not count n times
go.set()
time.sleep(0.3)                   # let every thread do its bit of work, then wait
after = proc.memory_full_info()
alive = sum(t.is_alive() for t in threads)
done.set()
for t in threads:
    t.join(10)
print(json.dumps({"threads": n, "alive": alive, "start_s": start_s,
                  "rss_before": before.rss, "uss_before": before.uss,
                  "rss_after": after.rss, "uss_after": after.uss, "pid": proc.pid}))
"""


def thread_cost(threads: int = 200, *, timeout_s: float = 60.0) -> pd.DataFrame:
    """Memory and start-up time per thread, from ``threads`` threads started in a fresh interpreter.

    Returns two rows: ``"bare interpreter"`` (the fresh ``python`` process
    before any thread: its whole size) and ``"thread"`` (per thread: the
    growth of that process divided by ``threads``, and the median time one
    ``Thread.start()`` took). Columns: kind, workers,
    start_ms_per_worker, rss_mb_per_worker, uss_mb_per_worker. The probe is
    stopped after ``timeout_s`` seconds.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or not (1 <= threads <= MAX_THREADS):
        raise ValueError(f"threads must be an int from 1 to {MAX_THREADS}, got {threads!r}")
    checks.seconds(timeout_s)
    out = procs.run_child(["-c", _THREAD_PROBE, str(threads)], what="the thread probe", timeout_s=timeout_s)
    r = json.loads(out.strip().splitlines()[-1])
    if r["alive"] != threads:
        raise RuntimeError(f"only {r['alive']} of {threads} threads were alive when measured")
    rows = [
        {"kind": "bare interpreter", "workers": 1, "start_ms_per_worker": float("nan"),
         "rss_mb_per_worker": r["rss_before"] / MB, "uss_mb_per_worker": r["uss_before"] / MB},
        {"kind": "thread", "workers": threads, "start_ms_per_worker": r["start_s"] * 1000.0,
         "rss_mb_per_worker": (r["rss_after"] - r["rss_before"]) / threads / MB,
         "uss_mb_per_worker": (r["uss_after"] - r["uss_before"]) / threads / MB},
    ]
    df = pd.DataFrame(rows)
    df.attrs.update({"threads": threads, "measured_in": "a fresh interpreter (python -c)"})
    return df


def process_cost(workers: int = 2, method: str = "spawn", *, timeout_s: float = 60.0) -> pd.DataFrame:
    """Memory and start-up time of each worker of a fresh process pool.

    Starts a pool of ``workers`` processes with ``method``, gives each a
    first task (``workloads.wait_io``), and measures every worker once it is
    idle and ready for more. Returns one row per worker: kind (``"process
    (METHOD)"``), pid, start_ms (from creating the pool to that worker's
    first task starting: a new interpreter, its imports, the pool's set-up),
    rss_mb, uss_mb, pss_mb (PSS: the shared pages split between the
    processes that share them; Linux only, else NaN). The pool is always shut
    down.
    """
    workers = executors.check_workers(workers)
    executors.check_start_method(method)
    timeout_s = checks.seconds(timeout_s)
    workloads.calibrate()  # so the workers inherit the figure instead of measuring it
    rows = []
    t0 = time.perf_counter()
    with executors.process_pool(workers, method) as pool:
        futs = [pool.submit(workloads.wait_io, 300.0) for _ in range(workers)]
        recs = executors.wait_all(futs, timeout_s, "first tasks")
        first = {}
        for r in recs:
            first[r["pid"]] = min(first.get(r["pid"], float("inf")), r["start"])
        pids = executors.worker_pids(pool)
        executors.warm_up(pool, workers, timeout_s=timeout_s)  # every worker has started and run a task
        time.sleep(0.1)
        for pid in pids:
            m = psutil.Process(pid).memory_full_info()
            rows.append({"kind": f"process ({method})", "pid": pid,
                         "start_ms": (first[pid] - t0) * 1000.0 if pid in first else float("nan"),
                         "rss_mb": m.rss / MB, "uss_mb": m.uss / MB,
                         "pss_mb": getattr(m, "pss", float("nan")) / MB})
    df = pd.DataFrame(rows)
    df.attrs.update({"workers": workers, "start_method": method})
    return df


def per_worker(threads: pd.DataFrame, processes: pd.DataFrame) -> pd.DataFrame:
    """One row per kind of worker: start_ms_per_worker, rss_mb_per_worker, uss_mb_per_worker.

    ``threads`` comes from ``thread_cost``, ``processes`` from
    ``process_cost`` (its workers' medians).
    """
    for col in ("kind", "start_ms_per_worker", "rss_mb_per_worker", "uss_mb_per_worker"):
        if col not in threads.columns:
            raise ValueError(f"threads must come from thread_cost (no {col!r} column)")
    for col in ("kind", "start_ms", "rss_mb", "uss_mb"):
        if col not in processes.columns:
            raise ValueError(f"processes must come from process_cost (no {col!r} column)")
    p = {"kind": processes["kind"].iloc[0], "workers": len(processes),
         "start_ms_per_worker": processes["start_ms"].median(),
         "rss_mb_per_worker": processes["rss_mb"].median(), "uss_mb_per_worker": processes["uss_mb"].median()}
    t = threads[threads["kind"] == "thread"].iloc[0].to_dict()
    return pd.DataFrame([t, p])[["kind", "workers", "start_ms_per_worker", "rss_mb_per_worker", "uss_mb_per_worker"]]


def scale_up(per: pd.DataFrame, counts: Iterable[int] = (100, 1000)) -> pd.DataFrame:
    """What ``n`` workers of each kind would cost here, from ``per_worker``'s table.

    A simple linear model: memory = n × USS per worker (the pages each one
    adds); start-up = n × start time per worker (one after another). Columns:
    kind, workers, memory_mb, share_of_ram (of this machine's total memory),
    start_s.
    """
    counts = [checks.count("counts", n) for n in counts]
    total_mb = psutil.virtual_memory().total / MB
    rows = []
    for _, r in per.iterrows():
        for n in counts:
            mem = n * max(float(r["uss_mb_per_worker"]), 0.0)
            rows.append({"kind": r["kind"], "workers": n, "memory_mb": mem, "share_of_ram": mem / total_mb,
                         "start_s": n * float(r["start_ms_per_worker"]) / 1000.0})
    return pd.DataFrame(rows)
