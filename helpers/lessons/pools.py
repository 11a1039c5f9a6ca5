"""Worker pools, measured: threads and processes running the course's tasks.

Every runner here returns a pandas DataFrame with one row per task (or per
request) and records the pool it used: its kind, its size (``workers``) and,
for process pools, the start method, which is always given explicitly
(``"spawn"``, ``"forkserver"`` or ``"fork"``; there is no silent default).

Times are ``time.perf_counter()`` seconds, a clock every process of the
machine shares, so a worker's record and the notebook's own clock line up.

Pools are context managers that always clean up: ``process_pool`` shuts the
pool down, stops any worker still running (after an exception, an interrupt
or a timeout it does not wait for a busy worker) and stops the helper
processes multiprocessing starts in the background (the resource tracker,
the fork server), so a notebook leaves no process behind.

Process-pool targets must be importable (defined in a module, such as
``helpers.core.workloads``), because under spawn and forkserver each worker is a
fresh interpreter that re-imports the function by name. ``run_one`` shows
what happens otherwise, with a timeout so it can never hang a kernel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import sys
import threading
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from helpers.core import checks, executors, timing, workloads
from helpers.core.system import usable_cores
from helpers.load import clients

__all__ = [
    "SCENARIOS", "run_tasks", "cpu_sweep", "speedups", "run_requests", "io_sweep", "run_one",
    "mixed_pool",
]

MODES = ("sequential", "thread", "process")
SCENARIOS = ("I/O alone", "CPU in the same thread pool", "CPU in a process pool")


# -- checks ---------------------------------------------------------------
def _check_pos_int(v: int, name: str) -> int:
    return checks.count(name, v)


# -- running tasks --------------------------------------------------------
def _frame(recs: list[dict], t_submit: list[float], **cols: Any) -> pd.DataFrame:
    df = pd.DataFrame(recs)
    df.insert(0, "task", range(len(df)))
    df["t_submit"] = t_submit
    order = df.sort_values("start")[["pid", "thread"]].drop_duplicates()
    index = {k: i for i, k in enumerate(zip(order["pid"], order["thread"]))}
    df["worker"] = [index[k] for k in zip(df["pid"], df["thread"])]
    df["queued_s"] = df["start"] - df["t_submit"]
    df["task_wall_s"] = df["end"] - df["start"]
    df["run_s"] = df["end"].max() - min(t_submit)
    for k, v in cols.items():
        df[k] = v
    return df


def _batch(fn: Callable[..., dict], args: Sequence[Any], pool: cf.Executor | None, timeout_s: float,
           **cols: Any) -> pd.DataFrame:
    """Run one batch: all ``args`` submitted at once to ``pool`` (or run here, one by one, if None)."""
    t_submit, futs, recs = [], [], []
    for a in args:
        t_submit.append(time.perf_counter())
        if pool is None:
            recs.append(fn(a))
        else:
            futs.append(pool.submit(fn, a))
    if pool is not None:
        recs = executors.wait_all(futs, timeout_s, "tasks")
    return _frame(recs, t_submit, **cols)


def _check_mode(mode: str, workers: int, method: str | None) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "sequential" and workers != 1:
        raise ValueError("sequential means one worker: leave workers=1")
    if mode != "process" and method is not None:
        raise ValueError("a start method only applies to mode='process'")
    if mode == "process":
        if method is None:
            raise ValueError("mode='process' needs an explicit start method: 'spawn', 'forkserver' or 'fork'")
        executors.check_start_method(method)


def run_tasks(
    fn: Callable[..., dict],
    args: Sequence[Any],
    *,
    mode: str,
    workers: int = 1,
    method: str | None = None,
    repeats: int = 1,
    warm: bool = True,
    timeout_s: float = 120.0,
) -> pd.DataFrame:
    """Run ``fn(a)`` for every ``a`` in ``args``: one after another, in threads, or in processes.

    mode: ``"sequential"`` (in this thread; ``workers`` must be 1),
        ``"thread"`` (a thread pool of ``workers``) or ``"process"`` (a
        process pool of ``workers``, started with ``method``, which is then
        required). ``fn`` must return a record like ``helpers.core.workloads``'s
        tasks do (pid, thread, start, end, cpu_s).
    repeats: run the whole batch this many times on the same pool (noise
        only ever slows a run down, so the best of a few is the fair figure).
    warm: start every worker before the clock starts (pool start-up is not
        part of ``run_s``; it is recorded in ``df.attrs["warmup_s"]``).
    timeout_s: bound on each run; a process pool is then torn down.

    Returns one row per task and repeat: task, the record's columns (kind,
    pid, thread, start, end, cpu_s...), t_submit, worker (0.. in order of
    first start), queued_s (submitted until started), task_wall_s, run_s
    (first submit to last end of that repeat, the same in each of its rows),
    rep, mode, workers, start_method.
    """
    if not callable(fn):
        raise TypeError("fn must be callable")
    args = list(args)
    if not args:
        raise ValueError("args must hold at least one task argument")
    workers = executors.check_workers(workers)
    repeats = _check_pos_int(repeats, "repeats")
    timeout_s = checks.seconds(timeout_s)
    _check_mode(mode, workers, method)
    attrs: dict[str, Any] = {"mode": mode, "workers": workers, "start_method": method,
                             "cores_usable": usable_cores(), "warmup_s": 0.0}
    cols = {"mode": mode, "workers": workers, "start_method": method or ""}
    with contextlib.ExitStack() as stack:
        pool = None
        if mode == "process":
            pool = stack.enter_context(executors.process_pool(workers, method))
        elif mode == "thread":
            pool = stack.enter_context(executors.thread_pool(workers))
        if pool is not None and warm:
            attrs["warmup_s"] = executors.warm_up(pool, workers, wait_ms=200.0 if mode == "process" else 20.0)
        frames = [_batch(fn, args, pool, timeout_s, rep=r, **cols) for r in range(repeats)]
    df = pd.concat(frames, ignore_index=True)
    df.attrs.update(attrs)
    return df


def cpu_sweep(
    iterations: int,
    tasks: int,
    workers: Iterable[int],
    *,
    method: str,
    modes: Sequence[str] = ("thread", "process"),
    repeats: int = 3,
    progress: Callable[[Iterable], Iterable] | None = None,
    timeout_s: float = 120.0,
) -> pd.DataFrame:
    """The same CPU burn (``tasks`` × ``burn_iterations(iterations)``) run every way.

    Sequentially (the baseline), and for each mode in ``modes`` and each pool
    size in ``workers``. All pools are started and warmed up first (their
    start-up is not timed); then the configurations take turns, ``repeats``
    rounds of each, so that a busy spell of the machine slows all of them
    alike instead of one. ``progress`` wraps the list of rounds (e.g.
    ``tqdm``). Returns all tasks of all runs (see ``run_tasks``, plus a
    ``rep`` column) in one table; ``speedups`` turns it into one row per mode
    and pool size.
    """
    iterations = _check_pos_int(iterations, "iterations")
    tasks = _check_pos_int(tasks, "tasks")
    repeats = _check_pos_int(repeats, "repeats")
    ws = [executors.check_workers(w) for w in workers]
    if not ws:
        raise ValueError("workers must list at least one pool size")
    for m in modes:
        if m not in ("thread", "process"):
            raise ValueError(f"modes may hold 'thread' and 'process', got {m!r}")
    executors.check_start_method(method)
    timeout_s = checks.seconds(timeout_s)
    args = [iterations] * tasks
    frames = []
    with contextlib.ExitStack() as stack:
        plan: list[tuple[str, int, cf.Executor | None]] = [("sequential", 1, None)]
        for m in modes:
            for w in ws:
                pool = stack.enter_context(executors.process_pool(w, method) if m == "process" else executors.thread_pool(w))
                plan.append((m, w, pool))
        warm = [(pool, w, m) for m, w, pool in plan if pool is not None]
        futs = [pool.submit(workloads.wait_io, 1.0) for pool, w, m in warm]  # start them all at once...
        executors.wait_all(futs, timeout_s, "start-up tasks")
        for pool, w, m in warm:  # ...then make sure every worker of every pool is up
            executors.warm_up(pool, w, wait_ms=200.0 if m == "process" else 20.0, timeout_s=timeout_s)
        for r in (progress(range(repeats)) if progress else range(repeats)):
            for m, w, pool in plan:
                frames.append(_batch(workloads.burn_iterations, args, pool, timeout_s, rep=r, mode=m,
                                     workers=w, start_method=method if m == "process" else ""))
    df = pd.concat(frames, ignore_index=True)
    df.attrs.update({"iterations": iterations, "tasks": tasks, "start_method": method, "repeats": repeats,
                     "cores_usable": usable_cores()})
    return df


def speedups(df: pd.DataFrame, cores: int | None = None) -> pd.DataFrame:
    """One row per mode and pool size of a ``cpu_sweep`` table.

    Columns: mode, workers, run_s (the best of the repeats: noise only ever
    slows a run down), run_s_median, speedup (best sequential run_s / run_s),
    ideal (``min(workers, cores)``: what processes can reach, and threads
    could were there no GIL) and task_cpu_ms (median CPU time of one task).
    """
    for col in ("mode", "workers", "run_s", "cpu_s"):
        if col not in df.columns:
            raise ValueError(f"speedups needs a cpu_sweep table with a {col!r} column")
    if "sequential" not in set(df["mode"]):
        raise ValueError("speedups needs the sequential baseline run in the table")
    cores = cores or usable_cores()
    rep = "rep" if "rep" in df.columns else None
    runs = df.groupby(["mode", "workers"] + ([rep] if rep else []), sort=False)["run_s"].first().reset_index()
    g = runs.groupby(["mode", "workers"], sort=False)["run_s"].agg(run_s="min", run_s_median="median").reset_index()
    cpu = df.groupby(["mode", "workers"], sort=False)["cpu_s"].median().mul(1000.0).rename("task_cpu_ms")
    g = g.merge(cpu.reset_index(), on=["mode", "workers"])
    base = float(g.loc[g["mode"] == "sequential", "run_s"].iloc[0])
    g["speedup"] = base / g["run_s"]
    g["ideal"] = [float(min(w, cores)) for w in g["workers"]]
    return g


# -- blocking requests through a thread pool ------------------------------
def run_requests(url: str, n: int, workers: int, *, timeout_s: float = 30.0) -> pd.DataFrame:
    """Send ``n`` blocking GETs to ``url`` through a pool of ``workers`` threads, all submitted at once.

    Each worker thread has its own ``requests.Session`` (one kept-alive
    connection per thread: requests' own pool of 10 never caps it).
    Returns one row per request: request, t_submit (queued in the pool),
    t_send, t_done, latency_s (send to answer), queued_s (submit to send),
    status, error, server_pid, server_thread, server_start, server_end,
    worker (0..workers-1), workers. All times are seconds since the first
    submit. ``df.attrs`` records the pool and client limits.
    """
    checks.loopback_url(url)
    n = _check_pos_int(n, "n")
    workers = executors.check_workers(workers)
    timeout_s = checks.seconds(timeout_s)
    rows, t0, limits = clients.blocking_clients(url, n, workers, timeout_s=timeout_s)
    df = timing.request_frame(rows, t0).sort_values("request", ignore_index=True)
    df["t_submit"] = 0.0  # all n were queued in the pool at t0
    df["queued_s"] = df["t_send"] - df["t_submit"]
    df["worker"] = df["client"]
    df["workers"] = workers
    df.attrs.update({"pool": "thread", "workers": workers, "http_client": "requests, one Session per worker thread",
                     "request_timeout_s": timeout_s})
    return df


def io_sweep(url: str, n: int, workers: Iterable[int], *, repeats: int = 1, progress: Callable | None = None,
             timeout_s: float = 30.0) -> pd.DataFrame:
    """``run_requests(url, n, w)`` for each pool size ``w``, ``repeats`` times; one row per pool size.

    Columns: workers, n, run_s (first submit to last answer, the fastest of
    the repeats: a busy machine only ever slows a batch down), run_s_median,
    repeats, errors (over all repeats). The repeats of one size run one after
    another, the sizes in the order given.
    """
    ws = [executors.check_workers(w) for w in workers]
    if not ws:
        raise ValueError("workers must list at least one pool size")
    repeats = _check_pos_int(repeats, "repeats")
    rows = []
    for w in (progress(ws) if progress else ws):
        times, errors = [], 0
        for _ in range(repeats):
            df = run_requests(url, n, w, timeout_s=timeout_s)
            times.append(float(df["t_done"].max()))
            errors += int(df["error"].notna().sum())
        rows.append({"workers": w, "n": n, "run_s": min(times), "run_s_median": float(np.median(times)),
                     "repeats": repeats, "errors": errors})
    out = pd.DataFrame(rows)
    out.attrs.update({"pool": "thread", "http_client": "requests, one Session per worker thread"})
    return out


# -- the taught error -----------------------------------------------------
def run_one(fn: Callable[..., Any], *args: Any, method: str, timeout_s: float = 30.0) -> Any:
    """Run ``fn(*args)`` in a fresh one-worker process pool started with ``method``; return its result.

    Whatever happens the pool is shut down and its worker stopped: if the
    worker cannot run the task (for example it cannot import ``fn``), the
    pool's own error is raised; if no answer comes within ``timeout_s``
    seconds, TimeoutError is raised. It can never hang the caller.
    """
    if not callable(fn):
        raise TypeError("fn must be callable")
    executors.check_start_method(method)
    timeout_s = checks.seconds(timeout_s)
    with executors.process_pool(1, method) as pool:
        fut = pool.submit(fn, *args)
        try:
            return fut.result(timeout=timeout_s)
        except cf.TimeoutError:
            raise TimeoutError(f"no answer from the process pool within {timeout_s:g} s; "
                               "the pool and its worker were stopped") from None


# -- a mixed pool ---------------------------------------------------------
def _io_client(url: str, count: int, timeout_s: float) -> list[dict]:
    """``count`` blocking GETs in a row on one Session (one I/O client of ``mixed_pool``)."""
    import requests

    out = []
    with requests.Session() as s:
        clients.get_blocking(url, s, timeout_s=timeout_s)  # connect before the measured requests
        for _ in range(count):
            rec = clients.get_blocking(url, s, timeout_s=timeout_s)
            rec["thread"] = threading.get_ident()
            out.append(rec)
    return out


def _mixed_once(url: str, scenario: str, cpool: cf.Executor | None, io_clients: int, requests_per_client: int,
                cpu_workers: int, chunk_iterations: int, timeout_s: float) -> tuple[list[dict], int]:
    same = scenario == "CPU in the same thread pool"
    chunks = 0
    with executors.thread_pool(io_clients + (cpu_workers if same else 0)) as tpool:
        if same:
            cpool = tpool
        elif scenario == "I/O alone":
            cpool = None
        cpu_futs: set = set()
        if cpool is not None:  # the CPU work is under way before the first request
            cpu_futs = {cpool.submit(workloads.burn_iterations, chunk_iterations) for _ in range(cpu_workers)}
        io_futs = [tpool.submit(_io_client, url, requests_per_client, min(timeout_s, 30.0))
                   for _ in range(io_clients)]
        deadline = time.monotonic() + timeout_s
        while not all(f.done() for f in io_futs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the I/O clients did not finish within {timeout_s:g} s")
            done, _ = cf.wait(set(io_futs) | cpu_futs, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            for f in done & cpu_futs:
                f.result()
                cpu_futs.discard(f)
                chunks += 1
                if not all(x.done() for x in io_futs):
                    cpu_futs.add(cpool.submit(workloads.burn_iterations, chunk_iterations))
        rows = [{**rec, "client": c} for c, f in enumerate(io_futs) for rec in f.result()]
        executors.wait_all(list(cpu_futs), timeout_s, "CPU tasks")
    return rows, chunks


def mixed_pool(
    url: str,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    rounds: int = 2,
    io_clients: int = 2,
    requests_per_client: int = 5,
    cpu_workers: int = 2,
    chunk_iterations: int = 100_000,
    method: str = "spawn",
    progress: Callable[[Iterable], Iterable] | None = None,
    timeout_s: float = 60.0,
) -> pd.DataFrame:
    """Latency of blocking I/O requests while CPU-heavy tasks run beside them.

    In each scenario ``io_clients`` threads of a thread pool each send
    ``requests_per_client`` requests in a row to ``url`` (after one untimed
    request that opens the connection). Meanwhile:

    - ``"I/O alone"``: nothing else runs;
    - ``"CPU in the same thread pool"``: ``cpu_workers`` more threads of the
      same pool burn CPU (``burn_iterations(chunk_iterations)`` again and
      again) until the I/O is done; they compete with the I/O threads for
      this process's GIL;
    - ``"CPU in a process pool"``: the same CPU tasks run in a process pool
      of ``cpu_workers`` (started once, with ``method``, and warmed up).

    The scenarios take turns, ``rounds`` times, so a busy spell of the
    machine hits them alike. ``progress`` wraps the list of rounds.

    Returns one row per I/O request: the request record (t_send, t_done,
    latency_s, status, error, server_*), client, scenario, round, cpu_chunks
    (CPU chunks finished during that scenario's round). ``df.attrs`` records
    the pool sizes.
    """
    checks.loopback_url(url)
    scenarios = list(scenarios)
    for sc in scenarios:
        if sc not in SCENARIOS:
            raise ValueError(f"scenarios must come from {SCENARIOS}, got {sc!r}")
    if not scenarios:
        raise ValueError("scenarios must list at least one scenario")
    rounds = _check_pos_int(rounds, "rounds")
    io_clients = executors.check_workers(io_clients, "io_clients")
    requests_per_client = _check_pos_int(requests_per_client, "requests_per_client")
    cpu_workers = executors.check_workers(cpu_workers, "cpu_workers")
    chunk_iterations = _check_pos_int(chunk_iterations, "chunk_iterations")
    executors.check_start_method(method)
    timeout_s = checks.seconds(timeout_s)
    frames = []
    with contextlib.ExitStack() as stack:
        ppool = None
        if "CPU in a process pool" in scenarios:
            ppool = stack.enter_context(executors.process_pool(cpu_workers, method))
            executors.warm_up(ppool, cpu_workers, timeout_s=timeout_s)
        for r in (progress(range(rounds)) if progress else range(rounds)):
            for sc in scenarios:
                rows, chunks = _mixed_once(url, sc, ppool if sc == "CPU in a process pool" else None, io_clients,
                                           requests_per_client, cpu_workers, chunk_iterations, timeout_s)
                frames.append(pd.DataFrame(rows).assign(scenario=sc, round=r, cpu_chunks=chunks))
    df = pd.concat(frames, ignore_index=True)
    df.attrs.update({"io_clients": io_clients, "thread_pool_workers_io_alone": io_clients,
                     "thread_pool_workers_same_pool": io_clients + cpu_workers, "cpu_workers": cpu_workers,
                     "process_pool_workers": cpu_workers, "start_method": method,
                     "chunk_iterations": chunk_iterations, "rounds": rounds,
                     "switch_interval_s": sys.getswitchinterval()})
    return df
