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
import os
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
    "mixed_pool", "gil_handover_diagram", "spin_range", "relay", "switch_sweep", "switch_overhead",
    "first_tasks", "pin_cpu", "plot_switch_overhead", "gil_releases", "GIL_RELEASING",
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


# C functions that let go of the GIL while they wait (socket calls, poll/select, sleep): each time an I/O
# thread comes back from one of them while a CPU thread holds the GIL, it waits for the GIL again.
GIL_RELEASING = ("socket.send", "socket.sendall", "socket.recv", "socket.recv_into", "socket.connect",
                 "socket.connect_ex", "socket.accept", "poll.poll", "epoll.poll", "select", "sleep")


def gil_releases(url: str, *, requests: int = 5, timeout_s: float = 30.0) -> dict[str, Any]:
    """How many times a blocking request lets go of the GIL: the hand-overs a mixed pool's I/O thread pays for.

    Sends one untimed request on a ``requests.Session`` (to open the
    connection, as ``mixed_pool``'s I/O clients do), then ``requests`` more
    in a row under ``sys.setprofile``, counting the calls to the C functions
    in ``GIL_RELEASING``. Returns {"handovers": calls per request (a mean),
    "calls": {name: calls per request}, "requests": requests}.
    """
    import requests as _requests

    checks.loopback_url(url)
    n = _check_pos_int(requests, "requests")
    timeout_s = checks.seconds(timeout_s)
    calls: dict[str, int] = {}

    def profile(frame, event, arg):  # noqa: ARG001 - the profiler's signature
        if event == "c_call":
            name = getattr(arg, "__qualname__", getattr(arg, "__name__", ""))
            if name in GIL_RELEASING:
                calls[name] = calls.get(name, 0) + 1

    with _requests.Session() as s:
        clients.get_blocking(url, s, timeout_s=timeout_s)
        old = sys.getprofile()
        sys.setprofile(profile)
        try:
            recs = [clients.get_blocking(url, s, timeout_s=timeout_s) for _ in range(n)]
        finally:
            sys.setprofile(old)
    failed = [r["error"] for r in recs if r.get("error")]
    if failed:
        raise RuntimeError(f"a request failed: {failed[0]}")
    return {"handovers": sum(calls.values()) / n, "calls": {k: v / n for k, v in calls.items()}, "requests": n}


def gil_handover_diagram(switch_ms: float | None = None, slices: int = 4):
    """Two threads sharing one GIL: each runs Python for a switch interval, then hands the lock over.

    ``switch_ms`` defaults to this interpreter's ``sys.getswitchinterval()``. Returns the axes.
    """
    from helpers.core import diagrams

    if switch_ms is None:
        switch_ms = sys.getswitchinterval() * 1000
    slices = _check_pos_int(slices, "slices")
    w = 2.0                                             # drawing units per slice
    ax = diagrams.canvas(2.4 + slices * w + 0.4, 3.6,
                         title=f"The GIL's hand-over: one thread runs Python at a time, "
                               f"for at most {switch_ms:g} ms")
    lanes = {"thread A": 2.2, "thread B": 0.8}
    for name, y in lanes.items():
        diagrams.box(ax, 0.1, y, 1.9, 0.7, name, kind="thread")
    for k in range(slices):
        x = 2.3 + k * w
        for i, (name, y) in enumerate(lanes.items()):
            runs = (k + i) % 2 == 0
            diagrams.box(ax, x, y, w - 0.2, 0.7, "runs Python\n(holds the GIL)" if runs else "waits for the GIL",
                         kind="process" if runs else "note", dashed=not runs, fontsize=7)
        if k < slices - 1:
            top, bottom = lanes["thread A"], lanes["thread B"] + 0.7
            start, end = ((x + w - 0.3, top), (x + w + 0.1, bottom)) if k % 2 == 0 else \
                         ((x + w - 0.3, bottom), (x + w + 0.1, top))
            diagrams.arrow(ax, start, end)
    diagrams.label(ax, 2.3, 0.25, f"each arrow: the running thread drops the GIL after {switch_ms:g} ms "
                   "(or when it blocks on I/O) and the waiting one takes it", fontsize=8)
    return ax


# -- the same work, handed between threads k times (C11) -------------------
def spin_range(start: int, stop: int, acc: int = 0) -> int:
    """``workloads.spin``'s loop body for i in ``range(start, stop)``, continuing checksum ``acc``.

    Cutting ``spin_range(0, n)`` into pieces does exactly the same work as one
    call (the same i values, so the same integer sizes), which
    ``workloads.spin(k)`` called k times would not.
    """
    for i in range(start, stop):
        acc = (acc + i * i) % 1_000_003
    return acc


def _thread_ctx_switches() -> int | None:
    """This thread's voluntary + involuntary context switches so far (Linux ``/proc/thread-self``), or None."""
    try:
        with open("/proc/thread-self/status") as f:
            return sum(int(line.split()[1]) for line in f if line.split(":")[0].endswith("ctxt_switches"))
    except (OSError, ValueError, IndexError):
        return None


def pin_cpu() -> int | None:
    """The core ``relay`` pins its threads to: the last one this process may use (Linux), else None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if cpus else None


def relay(iterations: int, switches: int, *, cpu: int | None = None, timeout_s: float = 120.0) -> dict[str, float]:
    """``spin_range(0, iterations)`` cut into ``switches + 1`` pieces that two threads run in turn.

    After each piece the running thread wakes the other (``threading.Event``)
    and waits to be woken: ``switches`` hand-overs from one OS thread to the
    other, the mechanism ``helpers.lessons.switch_probe``'s "thread-event"
    probe times. ``iterations=0`` gives the hand-overs alone; ``switches=0``
    runs the work in one piece on the first thread. ``cpu``: pin both
    threads (not the caller) to that core (Linux), so that every hand-over
    is the same kind of switch, on one core. Returns wall_s (perf_counter
    seconds, first piece to last), cpu_s (this process's CPU time over the
    same span), os_switches (the two threads' voluntary and involuntary
    context switches over the run, from the kernel's counters in
    ``/proc/thread-self/status``; NaN where there are none),
    checksum (the same for every way of cutting the same work).
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be an int >= 0, got {iterations!r}")
    if isinstance(switches, bool) or not isinstance(switches, int) or not 0 <= switches <= 10_000_000:
        raise ValueError(f"switches must be an int from 0 to 10,000,000, got {switches!r}")
    timeout_s = checks.seconds(timeout_s)
    if cpu is not None and not hasattr(os, "sched_setaffinity"):
        raise RuntimeError("this OS cannot pin a thread to a core (no os.sched_setaffinity); use cpu=None")
    pieces = switches + 1
    bounds = [iterations * j // pieces for j in range(pieces + 1)]
    events = (threading.Event(), threading.Event())
    state: dict[str, Any] = {"acc": 0, "error": None, "switches": []}

    def run(me: int) -> None:
        try:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})  # Linux: 0 is the calling thread alone
            n0 = _thread_ctx_switches()
            ready[me].set()
            for j in range(me, pieces, 2):
                if not events[me].wait(timeout_s):
                    raise TimeoutError("the other thread never handed over")
                events[me].clear()
                state["acc"] = spin_range(bounds[j], bounds[j + 1], state["acc"])
                events[1 - me].set()
            n1 = _thread_ctx_switches()
            if n0 is not None and n1 is not None:
                state["switches"].append(n1 - n0)
        except BaseException as e:  # noqa: BLE001 - reported to the caller below
            state["error"] = e
            events[1 - me].set()

    ready = (threading.Event(), threading.Event())
    threads = [threading.Thread(target=run, args=(me,), daemon=True, name=f"relay-{me}")
               for me in ((0, 1) if pieces > 1 else (0,))]
    for t in threads:
        t.start()
    for me in range(len(threads)):
        ready[me].wait(timeout_s)
    t0, c0 = time.perf_counter(), time.process_time()
    events[0].set()
    for t in threads:
        t.join(timeout_s)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    os_switches = sum(state["switches"]) if len(state["switches"]) == len(threads) else float("nan")
    if any(t.is_alive() for t in threads):
        raise TimeoutError(f"the relay did not finish within {timeout_s:g} s")
    if state["error"] is not None:
        raise state["error"]
    return {"wall_s": wall, "cpu_s": cpu, "os_switches": os_switches, "checksum": state["acc"]}


def switch_sweep(iterations: int, switches: Iterable[int], *, repeats: int = 3, probe_switches: int = 20_000,
                 pin: bool = True, progress: Callable[[Iterable], Iterable] | None = None,
                 timeout_s: float = 120.0) -> pd.DataFrame:
    """The same work run in one piece and handed between two threads k times, for each k of ``switches``.

    Each repeat runs, back to back: the work in one piece (switches 0), the
    work with each k, and ``probe_switches`` hand-overs with no work (the
    cost of one switch, measured in the same run). ``pin``: run the relay's
    threads on one core where the OS can (``pin_cpu()``; ``attrs["pinned_cpu"]``
    says which, or None): the kernel then switches between them on that core
    every time, instead of sometimes waking the other core, a switch that can
    cost several times more. ``progress`` wraps the list of repeats. One row per run: repeat, what ("work" or "switches
    only"), switches, wall_s, cpu_s, us_per_switch (switches-only rows).
    """
    iterations = _check_pos_int(iterations, "iterations")
    ks = [int(k) for k in switches]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"switches must list numbers of switches >= 1, got {ks!r}")
    repeats = _check_pos_int(repeats, "repeats")
    probe_switches = _check_pos_int(probe_switches, "probe_switches")
    cpu = pin_cpu() if pin else None
    rows = []
    relay(iterations // 10, 10, cpu=cpu, timeout_s=timeout_s)            # threads and code warm
    for r in (progress(range(repeats)) if progress else range(repeats)):
        for k in [0] + ks:
            rows.append({"repeat": r, "what": "work", "switches": k,
                         **relay(iterations, k, cpu=cpu, timeout_s=timeout_s)})
        rec = relay(0, probe_switches, cpu=cpu, timeout_s=timeout_s)
        rows.append({"repeat": r, "what": "switches only", "switches": probe_switches, **rec,
                     "us_per_switch": rec["wall_s"] / probe_switches * 1e6})
    df = pd.DataFrame(rows).drop(columns="checksum")
    df.attrs.update({"iterations": iterations, "repeats": repeats, "probe_switches": probe_switches,
                     "switch": "two OS threads, a threading.Event each", "pinned_cpu": cpu})
    return df


def switch_overhead(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per number of switches: the measured extra time over the one-piece run, beside the model's.

    Each repeat's runs were made back to back, so the extra time of a repeat
    is (this k's wall time - that repeat's one-piece wall time); extra_ms is
    their median, extra_min_ms/extra_max_ms their range. model_ms = switches
    x the median cost of one switch (the switches-only runs of the same
    sweep). noise_ms is the repeats' spread: the larger range (max - min)
    of the one-piece runs and of this k's runs. told_apart: |extra_ms| >
    noise_ms, the cut-up work can be told from the work in one piece;
    only_switching: |extra_ms - model_ms| <= noise_ms, apart from the
    switches' own cost the work took the one-piece time (the code ran at the
    same speed); hidden: model_ms < noise_ms, the model says the switches
    cannot be told from noise at that k; model_ratio:
    extra_ms / model_ms; os_switches_per_switch: the kernel's context
    switches per hand-over (median run). ``attrs`` holds us_per_switch
    (median, min, max), os_switches_per_switch_alone (the switches-only
    runs'), plain_ms, plain_min_ms, plain_max_ms and plain_noise_ms (the
    one-piece runs' median, min, max and range).
    """
    for col in ("repeat", "what", "switches", "wall_s"):
        if col not in sweep.columns:
            raise ValueError(f"switch_overhead needs a switch_sweep table (no {col!r} column)")
    work = sweep[sweep["what"] == "work"]
    probe = sweep[sweep["what"] == "switches only"]
    if probe.empty or 0 not in set(work["switches"]):
        raise ValueError("the sweep must hold the one-piece runs and the switches-only runs")
    us = probe["wall_s"] / probe["switches"] * 1e6
    c_med = float(us.median())
    plain = work[work["switches"] == 0].set_index("repeat")["wall_s"]
    plain_noise_ms = float(plain.max() - plain.min()) * 1000
    rows = []
    for k, g in work[work["switches"] > 0].groupby("switches"):
        extra = (g.set_index("repeat")["wall_s"] - plain).dropna() * 1000
        med, model = float(extra.median()), k * c_med / 1000
        noise_ms = max(plain_noise_ms, float(g["wall_s"].max() - g["wall_s"].min()) * 1000)
        rows.append({"switches": int(k), "wall_ms": float(g["wall_s"].median()) * 1000, "extra_ms": med,
                     "extra_min_ms": float(extra.min()), "extra_max_ms": float(extra.max()), "model_ms": model,
                     "model_ratio": med / model, "noise_ms": noise_ms, "told_apart": bool(abs(med) > noise_ms),
                     "only_switching": bool(abs(med - model) <= noise_ms), "hidden": bool(model < noise_ms),
                     "os_switches_per_switch": (float(g["os_switches"].median()) / k
                                                if "os_switches" in g.columns else float("nan"))})
    out = pd.DataFrame(rows)
    out.attrs.update({"os_switches_per_switch_alone": (float((probe["os_switches"] / probe["switches"]).median())
                                                       if "os_switches" in probe.columns else float("nan")),
                      "us_per_switch": c_med, "us_per_switch_min": float(us.min()),
                      "us_per_switch_max": float(us.max()), "plain_ms": float(plain.median()) * 1000,
                      "plain_noise_ms": plain_noise_ms, "plain_min_ms": float(plain.min()) * 1000,
                      "plain_max_ms": float(plain.max()) * 1000, "pinned_cpu": sweep.attrs.get("pinned_cpu")})
    return out


def first_tasks(df: pd.DataFrame) -> pd.DataFrame:
    """Is a worker's first task slower? Per mode and pool size of a ``cpu_sweep`` table.

    Tasks are numbered per worker (pid and thread) in the order they started;
    columns: mode, workers, first_cpu_ms (median CPU time of each worker's
    first task: cold caches, code not yet run in that process), later_cpu_ms
    (median of the other tasks), first_over_later, tasks (how many).
    """
    for col in ("mode", "workers", "pid", "thread", "start", "cpu_s"):
        if col not in df.columns:
            raise ValueError(f"first_tasks needs a cpu_sweep table (no {col!r} column)")
    d = df.sort_values("start").copy()
    d["nth"] = d.groupby(["mode", "workers", "pid", "thread"], sort=False).cumcount()
    rows = []
    for (m, w), g in d.groupby(["mode", "workers"], sort=False):
        first, later = g.loc[g["nth"] == 0, "cpu_s"], g.loc[g["nth"] > 0, "cpu_s"]
        f = float(first.median()) * 1000
        lt = float(later.median()) * 1000 if len(later) else float("nan")
        rows.append({"mode": m, "workers": int(w), "first_cpu_ms": f, "later_cpu_ms": lt,
                     "first_over_later": f / lt if lt else float("nan"), "tasks": len(g)})
    return pd.DataFrame(rows)


def plot_switch_overhead(over: pd.DataFrame, *, ax=None, title: str | None = None):
    """``switch_overhead``'s table: the work's wall time against the number of switches, over the model.

    Measured medians with the repeats' range as whiskers, the model (the
    one-piece time + switches x the cost of one switch) dashed, and the
    one-piece runs' range (min to max) as a grey band; log-log axes. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from helpers.core import plots

    for col in ("switches", "wall_ms", "extra_min_ms", "extra_max_ms", "model_ms"):
        if col not in over.columns:
            raise ValueError(f"plot_switch_overhead needs switch_overhead's table (no {col!r} column)")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    plain = over.attrs.get("plain_ms", float("nan"))
    k = over["switches"].to_numpy(float)
    med = plain + over["extra_ms"].to_numpy()
    err = np.vstack([over["extra_ms"] - over["extra_min_ms"], over["extra_max_ms"] - over["extra_ms"]])
    ax.errorbar(k, med, yerr=err, fmt="o", ms=5, capsize=3, color=plots.COLORS["measured"],
                label="measured: median of the repeats (whiskers: their range)")
    grid = np.logspace(np.log10(k.min()), np.log10(k.max()), 100)
    ax.plot(grid, plain + grid * over.attrs["us_per_switch"] / 1000, "--", color=plots.COLORS["model"],
            label="model: the work in one piece + switches × the cost of one switch")
    lo, hi = over.attrs.get("plain_min_ms", plain), over.attrs.get("plain_max_ms", plain)
    ax.axhspan(lo, hi, color="grey", alpha=0.2, lw=0, label="the work in one piece: its repeats' range")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("hand-overs between the two threads (switches)")
    ax.set_ylabel("wall time of the work (ms)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return ax
