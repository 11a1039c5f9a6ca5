"""Thread and process pools that always clean up.

``process_pool`` and ``thread_pool`` are context managers around the standard
library's executors. A process pool is given its start method explicitly
(``"spawn"``, ``"forkserver"`` or ``"fork"``; there is no silent default, and
spawn and forkserver cannot pickle a function defined in a notebook: pool
targets live in ``helpers``). On leaving the block no worker survives, and
when the last pool closes, multiprocessing's background helpers (the resource
tracker, the fork server) are stopped too, so a notebook leaves no process
behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import multiprocessing as mp
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool  # re-exported: what a broken pool raises
from typing import Iterator, Sequence

from helpers.core import checks, workloads

__all__ = ["BrokenProcessPool", "START_METHODS", "MAX_WORKERS", "check_start_method", "check_workers",
           "process_pool", "thread_pool", "wait_all", "warm_up", "worker_pids", "stop_multiprocessing_helpers"]

START_METHODS = ("spawn", "forkserver", "fork")
MAX_WORKERS = 256

_open_process_pools = 0
_open_lock = threading.Lock()


def check_start_method(method: str) -> str:
    """Return ``method`` if this platform offers it, else raise ValueError."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a start method name (str), not {type(method).__name__}")
    offered = mp.get_all_start_methods()
    if method not in START_METHODS:
        raise ValueError(f"start method must be one of {START_METHODS}, got {method!r}")
    if method not in offered:
        raise ValueError(f"start method {method!r} is not available here; this platform offers {offered}")
    return method


def check_workers(workers: int, name: str = "workers") -> int:
    """Return ``workers`` if it is a pool size from 1 to MAX_WORKERS."""
    return checks.count(name, workers, MAX_WORKERS)


def stop_multiprocessing_helpers() -> None:
    """Stop multiprocessing's background helpers (resource tracker, fork server).

    Under spawn and forkserver, multiprocessing starts a resource-tracker
    process (and, for forkserver, a fork-server process) that would otherwise
    live as long as the kernel. They are started again when next needed.
    Called by ``process_pool`` when the last open pool closes.

    The standard library has no public way to stop them: this is the one
    place in the course that calls their private ``_stop()`` (present in
    3.8-3.15), tested in tests/test_executors.py so a change of Python that
    breaks it is seen at once.
    """
    gc.collect()  # let the closed pools' semaphores unregister first
    for modname, attr in (("multiprocessing.forkserver", "_forkserver"),
                          ("multiprocessing.resource_tracker", "_resource_tracker")):
        helper = getattr(sys.modules.get(modname), attr, None)
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            with contextlib.suppress(Exception):
                stop()


def _internals(pool: cf.ProcessPoolExecutor) -> tuple[list, threading.Thread | None]:
    """A process pool's worker processes and its manager thread (both private), read before shutdown.

    The executor has no public handle on either (3.14 adds
    ``terminate_workers()`` but still no list), and ``shutdown()`` drops both
    references, so they are read first. This is the one place in the course
    that reads them, tested in tests/test_executors.py so a Python that
    changes them is caught at once.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    return procs, getattr(pool, "_executor_manager_thread", None)


def worker_pids(pool: cf.ProcessPoolExecutor) -> list[int]:
    """PIDs of a process pool's worker processes (those started so far)."""
    return [p.pid for p in _internals(pool)[0]]


def _stop_processes(procs: Sequence, grace_s: float) -> None:
    """Join each process for up to ``grace_s`` in all, then terminate, then kill what is left."""
    deadline = time.monotonic() + grace_s
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=2.0)


@contextlib.contextmanager
def process_pool(workers: int, method: str) -> Iterator[cf.ProcessPoolExecutor]:
    """A ``ProcessPoolExecutor`` of ``workers`` processes started with ``method``.

    On a normal exit idle workers get up to 5 s to finish; after an
    exception, an interrupt or a timeout they get 0.2 s, then are terminated
    (then killed). Either way no worker survives the block.
    """
    global _open_process_pools
    workers = check_workers(workers)
    ctx = mp.get_context(check_start_method(method))
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    with _open_lock:
        _open_process_pools += 1
    ok = False
    try:
        yield pool
        ok = True
    finally:
        procs, manager = _internals(pool)
        if not ok and hasattr(pool, "terminate_workers"):  # Python 3.14+: the public way
            with contextlib.suppress(Exception):
                pool.terminate_workers()
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_processes(procs, grace_s=5.0 if ok else 0.2)
        if manager is not None:
            manager.join(timeout=5.0)
        del pool, procs, manager
        with _open_lock:
            _open_process_pools -= 1
            last = _open_process_pools == 0
        if last:
            stop_multiprocessing_helpers()


@contextlib.contextmanager
def thread_pool(workers: int, name: str = "course-worker") -> Iterator[cf.ThreadPoolExecutor]:
    """A ``ThreadPoolExecutor`` of ``workers`` threads; pending tasks are cancelled on exit.

    Threads cannot be killed: tasks already running finish (every task of the
    course has its own timeout), then the block exits.
    """
    workers = checks.count("workers", workers, 10_000)
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def wait_all(futures: Sequence[cf.Future], timeout_s: float, what: str) -> list:
    """The results of ``futures`` in order; TimeoutError (pending ones cancelled) after ``timeout_s``."""
    done, pending = cf.wait(futures, timeout=timeout_s)
    if pending:
        for f in pending:
            f.cancel()
        raise TimeoutError(f"{len(pending)} of {len(futures)} {what} did not finish within {timeout_s:g} s; "
                           "the pool was shut down")
    return [f.result() for f in futures]


def warm_up(pool: cf.Executor, workers: int, *, wait_ms: float = 200.0, rounds: int = 6, timeout_s: float = 60.0) -> float:
    """Make every worker of ``pool`` start (and import its code) before a timed run.

    Submits ``workers`` tasks that each wait ``wait_ms`` ms, in rounds, until
    ``workers`` different workers have answered. Returns the seconds it took.
    """
    t0 = time.perf_counter()
    seen: set = set()
    for _ in range(rounds):
        recs = wait_all([pool.submit(workloads.wait_io, wait_ms) for _ in range(workers)], timeout_s, "warm-up tasks")
        seen |= {(r["pid"], r["thread"]) for r in recs}
        if len(seen) >= workers:
            break
    return time.perf_counter() - t0
