"""Workloads: a calibrated CPU burn and an I/O wait.

Every function here is defined at module level, so it can be pickled and sent
to a thread pool or a process pool under any start method (fork, spawn,
forkserver). Each task returns a small record (a dict) that says which
process and thread ran it and when, on ``time.perf_counter()``, a clock that
all processes of one machine share.

The CPU burn is a *fixed amount of pure-Python work*, not "spin until the
clock says so": under the GIL two threads burning 100 ms each then take
200 ms, exactly as real CPU-bound code would.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from helpers.core import checks
from typing import Any

RATE_ENV = "COURSE_CPU_ITERS_PER_MS"


_check_ms = checks.milliseconds


def spin(iterations: int) -> int:
    """Run ``iterations`` rounds of a small pure-Python loop; return a checksum.

    This is the unit of CPU work of the course. It holds the GIL throughout.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"iterations must be an int, not {type(iterations).__name__}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    acc = 0
    for i in range(iterations):
        acc = (acc + i * i) % 1_000_003
    return acc


def calibrate(repeats: int = 5, probe_iterations: int = 200_000, force: bool = False) -> float:
    """Measure how many ``spin`` iterations this machine runs per millisecond.

    Takes the best of ``repeats`` runs (noise only ever slows a run down), about
    0.1 s in all. The result is cached in the environment variable
    ``COURSE_CPU_ITERS_PER_MS`` so that subprocesses and pool workers started
    afterwards reuse the same figure instead of calibrating again.
    """
    if not force:
        cached = os.environ.get(RATE_ENV)
        if cached:
            try:
                rate = float(cached)
            except ValueError:
                rate = 0.0
            if rate > 0:
                return rate
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.thread_time()
        spin(probe_iterations)
        best = min(best, time.thread_time() - t0)
    rate = probe_iterations / max(best * 1000.0, 1e-6)
    os.environ[RATE_ENV] = f"{rate:.3f}"
    return rate


def iterations_for(ms: float) -> int:
    """Number of ``spin`` iterations that take ``ms`` milliseconds of CPU here."""
    ms = _check_ms(ms)
    return int(round(ms * calibrate()))


def _record(kind: str, t0: float, c0: float, **extra: Any) -> dict:
    return {
        "kind": kind,
        "pid": os.getpid(),
        "thread": threading.get_ident(),
        "start": t0,
        "end": time.perf_counter(),
        "cpu_s": time.thread_time() - c0,
        **extra,
    }


def burn_cpu(ms: float) -> dict:
    """Do ``ms`` milliseconds' worth (as calibrated) of CPU-bound Python work.

    Returns a record: kind, pid, thread, start and end (perf_counter seconds),
    cpu_s (this thread's CPU time), ms (as asked).
    """
    n = iterations_for(ms)
    t0, c0 = time.perf_counter(), time.thread_time()
    spin(n)
    return _record("cpu", t0, c0, ms=float(ms))


def burn_iterations(iterations: int) -> dict:
    """Like ``burn_cpu`` but for a fixed iteration count (no calibration in the worker)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    spin(iterations)
    return _record("cpu", t0, c0, iterations=iterations)


def wait_io(ms: float) -> dict:
    """Block this thread for ``ms`` milliseconds, as a blocking I/O call would.

    Returns the same kind of record as ``burn_cpu`` (kind ``"io"``).
    """
    ms = _check_ms(ms)
    t0, c0 = time.perf_counter(), time.thread_time()
    time.sleep(ms / 1000.0)
    return _record("io", t0, c0, ms=ms)


async def await_io(ms: float) -> dict:
    """The asyncio version of ``wait_io``: gives the event loop back while it waits."""
    ms = _check_ms(ms)
    t0, c0 = time.perf_counter(), time.thread_time()
    await asyncio.sleep(ms / 1000.0)
    return _record("io", t0, c0, ms=ms)
