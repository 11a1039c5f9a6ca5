"""asyncio seen from the inside: traced tasks and the loop's schedule worked out on paper,
event-loop lag, a pooled database, many concurrent aiohttp requests from one thread,
what a request in flight costs as a task or as a thread of its own (measured in fresh
processes by ``inflight_probe``), and what an ``await`` costs.

Everything here runs on the event loop that is already running; in a notebook
that is the kernel's own loop, so call these with top-level ``await``::

    df = await aio.trace_tasks({"A": [(20, 50)], "B": [(20, 50)]})

Every task this module starts is named ``aio-...`` and is cancelled and
awaited before the function that started it returns, also on an error or an
interrupt, so no task outlives its cell (``leftover_tasks()`` checks that).
Times are ``time.perf_counter()`` seconds, shown relative to the start of each
experiment; durations carry their unit in the column name.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from typing import Any, Awaitable, Callable, Coroutine

import pandas as pd

from helpers import load
from helpers.core import checks, procs, system, timing, workloads
from helpers.load import clients

TASK_PREFIX = "aio-"
MAX_REQUESTS = load.MAX_CONCURRENCY
STATES = ("running", "ready", "awaiting")  # holds the loop / could run, loop busy / gave the loop back


# -- small tools -------------------------------------------------------------

def _spawn(coro: Coroutine, name: str) -> asyncio.Task:
    return asyncio.get_running_loop().create_task(coro, name=TASK_PREFIX + name)


async def _cancel_and_wait(tasks) -> None:
    """Cancel every unfinished task and wait until each has really ended."""
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def leftover_tasks() -> list[str]:
    """Names of tasks started by this module that are still running (should be [])."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return []
    return sorted(t.get_name() for t in asyncio.all_tasks(loop)
                  if t.get_name().startswith(TASK_PREFIX) and not t.done())


def _pos_number(name: str, v: Any, *, allow_zero: bool = False, upper: float | None = None) -> float:
    return checks.number(name, v, low=0.0, high=upper, allow_low=allow_zero)


_pos_int = checks.count
_local_url = checks.loopback_url


# -- 1. which task ran when ---------------------------------------------------

async def trace_tasks(plan: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    """Start one task per entry of ``plan`` at once and record which one ran when.

    Each task does its steps in order; a step is ``(cpu_ms, wait_ms)``: burn
    ``cpu_ms`` milliseconds of CPU (holding the loop: nobody else can run),
    then ``await asyncio.sleep(wait_ms / 1000)`` (giving the loop back).

    Returns one row per segment: task, step, state, start_s, end_s, duration_ms
    (seconds since the first task started). ``state`` is ``"running"`` (this
    task holds the loop), ``"awaiting"`` (it gave the loop back and its timer
    has not fired yet) or ``"ready"`` (its timer has fired, but another task
    holds the loop, so it must wait its turn).
    """
    if not isinstance(plan, dict) or not plan:
        raise ValueError("plan must be a non-empty dict: task name -> list of (cpu_ms, wait_ms) steps")
    for name, steps in plan.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"task names must be non-empty strings, got {name!r}")
        if not isinstance(steps, (list, tuple)) or not steps:
            raise ValueError(f"task {name!r} needs a non-empty list of (cpu_ms, wait_ms) steps")
        for step in steps:
            if not (isinstance(step, (list, tuple)) and len(step) == 2):
                raise ValueError(f"task {name!r}: each step is a pair (cpu_ms, wait_ms), got {step!r}")
            _pos_number("cpu_ms", step[0], allow_zero=True, upper=10_000)
            _pos_number("wait_ms", step[1], allow_zero=True, upper=10_000)
    iters = {n: [workloads.iterations_for(c) for c, _ in steps] for n, steps in plan.items()}
    rows: list[dict] = []

    async def one(name: str) -> None:
        first = time.perf_counter()
        if first - t0 > 0.0005:  # created with the others, but had to wait for its first turn
            rows.append({"task": name, "step": 0, "state": "ready", "start": t0, "end": first})
        for k, (_, wait_ms) in enumerate(plan[name]):
            s = time.perf_counter()
            workloads.spin(iters[name][k])
            e = time.perf_counter()
            rows.append({"task": name, "step": k, "state": "running", "start": s, "end": e})
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000.0)
                back = time.perf_counter()
                due = min(e + wait_ms / 1000.0, back)
                rows.append({"task": name, "step": k, "state": "awaiting", "start": e, "end": due})
                if back - due > 0.0005:
                    rows.append({"task": name, "step": k, "state": "ready", "start": due, "end": back})

    t0 = time.perf_counter()
    tasks = [_spawn(one(n), f"trace-{n}") for n in plan]
    try:
        await asyncio.gather(*tasks)
    finally:
        await _cancel_and_wait(tasks)
    df = pd.DataFrame(rows, columns=["task", "step", "state", "start", "end"])
    df["start_s"] = df.pop("start") - t0
    df["end_s"] = df.pop("end") - t0
    df["duration_ms"] = (df["end_s"] - df["start_s"]) * 1000.0
    return df.sort_values(["start_s", "task"], ignore_index=True)


def running_overlaps(trace: pd.DataFrame, tolerance_s: float = 1e-4) -> int:
    """How many pairs of "running" segments of a trace overlap in time (one thread: 0)."""
    run = trace[trace["state"] == "running"].sort_values("start_s")
    return int((run["start_s"].to_numpy()[1:] < run["end_s"].to_numpy()[:-1] - tolerance_s).sum())


def schedule_model(plan: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    """What ``trace_tasks(plan)`` should do, computed without running it: the loop's schedule.

    One thread, tasks started in the plan's order, a first-in first-out ready
    queue: the loop runs the first ready task until its CPU step ends, then
    that task sleeps ``wait_ms`` (its timer is due ``wait_ms`` later) and the
    next ready task runs; a task whose timer is due rejoins the queue's end
    in the order the timers fall due. Nothing else costs time. Returns one
    row per task: task, cpu_ms (its CPU work), end_ms (when it finishes), and
    ``attrs["total_ms"]`` (the last end): a number to predict, not a band.
    """
    trace_plan = {n: [(float(c), float(w)) for c, w in steps] for n, steps in plan.items()}
    ready = list(trace_plan)  # task names, in the order they may run
    step = {n: 0 for n in trace_plan}
    timers: list[tuple[float, int, str]] = []  # (due, order, task)
    ends: dict[str, float] = {}
    now, order = 0.0, 0
    while ready or timers:
        if not ready:  # the loop idles until the next timer
            now = max(now, min(timers)[0])
        due = sorted(t for t in timers if t[0] <= now)
        for t in due:
            timers.remove(t)
            ready.append(t[2])
        if not ready:
            continue
        name = ready.pop(0)
        while True:
            cpu, wait = trace_plan[name][step[name]]
            now += cpu
            step[name] += 1
            last = step[name] == len(trace_plan[name])
            if wait > 0:
                if last:
                    ends[name] = now + wait
                else:
                    timers.append((now + wait, order, name))
                    order += 1
                break
            if last:
                ends[name] = now
                break
    df = pd.DataFrame({"task": list(trace_plan), "cpu_ms": [sum(c for c, _ in st) for st in trace_plan.values()],
                       "end_ms": [ends[n] for n in trace_plan]})
    df.attrs["total_ms"] = float(df["end_ms"].max())
    return df


Plan = dict[str, list[tuple[float, float]]]  # task name -> its steps: (cpu_ms, wait_ms)


def measured_plan(trace: pd.DataFrame, plan: Plan) -> Plan:
    """``plan`` with each CPU step replaced by how long it really ran in ``trace`` (ms), waits unchanged.

    ``schedule_model(measured_plan(trace, plan))`` is the loop's schedule for the CPU steps as this
    machine ran them: a busy machine stretches the steps, not the schedule, so the trace against it
    tests the scheduling alone.
    """
    run = trace[trace["state"] == "running"].set_index(["task", "step"])["duration_ms"]
    out = {}
    for name, steps in plan.items():
        out[name] = [(float(run.get((name, k), c)), float(w)) for k, (c, w) in enumerate(steps)]
    return out


def plot_trace(trace: pd.DataFrame, *, ax=None, title: str | None = None):
    """Draw a trace from ``trace_tasks``: one row per task, coloured by state."""
    from helpers.core import plots

    key = {"running": "cpu", "ready": "waiting", "awaiting": "io"}
    label = {"cpu": "running (holds the loop)", "waiting": "ready, waiting for the loop",
             "io": "awaiting (loop given back)"}
    df = trace.assign(state_key=trace["state"].map(key))
    ax = plots.timeline(df, lane="task", phases=[("start_s", "end_s", "")], color_by="state_key", ax=ax,
                        title=title, lane_label="task")
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles, [label.get(n, n) for n in names], frameon=False, fontsize=8,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


# -- 2. event-loop lag ----------------------------------------------------------

class Heartbeat:
    """Measure event-loop lag: a task that asks to wake every ``interval_ms``
    and records how late it really woke up.

    Use as ``async with aio.Heartbeat(5) as hb: ...``, then ``hb.frame()``:
    one row per beat with beat, t_s (seconds since the heartbeat started) and
    lag_ms (how much later than asked it woke, in milliseconds). On exit it
    first lets the heartbeat record the stall it may be stuck in right now,
    then cancels it and waits until it has ended, also on an error.
    """

    def __init__(self, interval_ms: float = 5.0, *, stop_timeout_s: float = 5.0) -> None:
        self.interval_s = _pos_number("interval_ms", interval_ms, upper=1000) / 1000.0
        self.stop_timeout_s = _pos_number("stop_timeout_s", stop_timeout_s, upper=60)
        self.rows: list[dict] = []
        self.t0: float | None = None
        self._task: asyncio.Task | None = None

    async def _beat(self) -> None:
        while True:
            due = time.perf_counter() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = time.perf_counter()
            self.rows.append({"beat": len(self.rows), "t": now, "lag_ms": max(0.0, now - due) * 1000.0})

    async def __aenter__(self) -> "Heartbeat":
        if self._task is not None and not self._task.done():
            raise RuntimeError("this heartbeat is already running")
        self.rows = []
        self.t0 = time.perf_counter()
        self._task = _spawn(self._beat(), "heartbeat")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            t_exit = time.perf_counter()
            deadline = t_exit + self.stop_timeout_s
            # The beat that was due during a stall fires as soon as the loop is free.
            while not (self.rows and self.rows[-1]["t"] >= t_exit) and time.perf_counter() < deadline:
                if self._task.done():
                    break
                await asyncio.sleep(self.interval_s / 2)
        finally:
            await _cancel_and_wait([self._task])

    def frame(self) -> pd.DataFrame:
        """The beats so far: beat, t_s, lag_ms; ``attrs["interval_ms"]``."""
        df = pd.DataFrame(self.rows, columns=["beat", "t", "lag_ms"])
        df["t_s"] = df.pop("t") - (self.t0 or 0.0)
        df.attrs["interval_ms"] = self.interval_s * 1000.0
        return df[["beat", "t_s", "lag_ms"]]


async def measure_lag(job: Awaitable[Any], *, interval_ms: float = 5.0,
                      before_s: float = 0.05, after_s: float = 0.05) -> pd.DataFrame:
    """Run ``job`` (a coroutine) as its own task while a heartbeat measures the loop's lag.

    The heartbeat runs alone for ``before_s`` seconds, then beside the job,
    then alone again for ``after_s``. Returns the heartbeat's rows (beat, t_s,
    lag_ms) plus ``during_job`` (True for beats that fell while the job ran);
    ``attrs`` holds interval_ms, job_start_s, job_end_s and job_s (the job's
    wall time in seconds). The job's task is always ended before this returns.
    """
    if not inspect.isawaitable(job):
        raise TypeError(f"job must be a coroutine, e.g. measure_lag(my_coro(100)), not {type(job).__name__}")
    try:
        _pos_number("before_s", before_s, allow_zero=True, upper=10)
        _pos_number("after_s", after_s, allow_zero=True, upper=10)
        hb = Heartbeat(interval_ms)
    except (TypeError, ValueError):
        if inspect.iscoroutine(job):
            job.close()  # never started: no "was never awaited" warning
        raise

    async def run_job() -> Any:
        return await job

    task: asyncio.Task | None = None
    try:
        async with hb:
            await asyncio.sleep(before_s)
            js = time.perf_counter()
            task = _spawn(run_job(), "job")
            await task
            je = time.perf_counter()
            await asyncio.sleep(after_s)
    finally:
        if task is None and inspect.iscoroutine(job):
            job.close()
        elif task is not None:
            await _cancel_and_wait([task])
    df = hb.frame()
    start, end = js - hb.t0, je - hb.t0
    # a beat belongs to the job if the interval it measured overlaps the job's run
    df["during_job"] = (df["t_s"] > start) & (df["t_s"] - df["lag_ms"] / 1000.0 - hb.interval_s < end)
    df.attrs.update({"interval_ms": hb.interval_s * 1000.0, "job_start_s": start, "job_end_s": end,
                     "job_s": end - start})
    return df


LAG_LABELS = {  # notebook 04's scenarios, in words
    "nap_cooperative": "await asyncio.sleep (cooperative)",
    "nap_blocking": "time.sleep in the coroutine",
    "burn_blocking": "CPU work in the coroutine",
    "nap_in_thread": "time.sleep in a thread",
    "burn_in_thread": "CPU work in a thread",
    "burn_in_process": "CPU work in a process",
}


def lag_table(lag: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per scenario of ``{name: measure_lag(...)}``: job_s, max_lag_ms and median_lag_ms of the
    beats that fell while the job ran, and label (``LAG_LABELS``, else the name), in the dict's order."""
    if not lag:
        raise ValueError("lag_table needs a dict of measure_lag results")
    rows = []
    for name, df in lag.items():
        during = df.loc[df["during_job"], "lag_ms"]
        rows.append({"scenario": name, "label": LAG_LABELS.get(name, name), "job_s": df.attrs["job_s"],
                     "max_lag_ms": float(during.max()) if len(during) else float("nan"),
                     "median_lag_ms": float(during.median()) if len(during) else float("nan")})
    return pd.DataFrame(rows).set_index("scenario")


def plot_lag(lag: dict[str, pd.DataFrame], *, hog_ms: float, switch_ms: float | None = None):
    """Two panels: every beat's lag against time since the job started (a log scale, so a 0.1 ms wobble
    and a 300 ms freeze both show), and the worst lag per scenario; scenarios named in words."""
    import matplotlib.pyplot as plt

    from helpers.core import plots

    table = lag_table(lag)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for name, df in lag.items():
        axes[0].plot(df["t_s"] - df.attrs["job_start_s"], df["lag_ms"].clip(lower=0.01), ".-", ms=3, lw=0.8,
                     drawstyle="steps-pre", label=LAG_LABELS.get(name, name))  # a beat covers the wait ending at it
    axes[0].axvspan(0, hog_ms / 1000, color="0.9", label=f"the job (nominal {hog_ms:g} ms)")
    if switch_ms is not None:
        axes[0].axhline(switch_ms, color=plots.COLORS["model"], ls=":", lw=1,
                        label=f"GIL switch interval ({switch_ms:g} ms)")
    axes[0].set_yscale("log")
    axes[0].set(xlabel="time since the job started (s)", ylabel="heartbeat lag (ms, log scale)",
                title="Every beat, every scenario")
    axes[0].legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    worst = table.set_index("label")["max_lag_ms"]
    plots.bars(worst, ax=axes[1], ylabel="worst lag while the job ran (ms, log scale)", fmt="{:.1f}",
               title=f"A {hog_ms:g} ms job: how long did the loop freeze?")
    axes[1].set_yscale("log")
    axes[1].tick_params(axis="x", labelrotation=30)
    for label in axes[1].get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


class debug_mode:
    """Turn on asyncio's debug mode on the running loop for a block, and catch what it logs.

    Debug mode times every step a task takes; a step longer than
    ``slow_callback_ms`` is logged as a warning by the ``asyncio`` logger
    ("Executing <Task ...> took 0.300 seconds"). Here those warnings are
    caught (not printed to stderr) into ``.records``; on exit the loop's debug
    flag, its threshold and the logger are restored, also on an error::

        with aio.debug_mode(slow_callback_ms=50) as dbg:
            await asyncio.create_task(hog(), name="hog")
        dbg.slow_steps()
    """

    _HANDLE = re.compile(r"name='([^']*)'")

    def __init__(self, slow_callback_ms: float = 100.0) -> None:
        self.slow_callback_s = _pos_number("slow_callback_ms", slow_callback_ms, upper=60_000) / 1000.0
        self.records: list[dict] = []

    def __enter__(self) -> "debug_mode":
        self.loop = asyncio.get_running_loop()  # RuntimeError outside a loop, before changing anything
        self._saved = (self.loop.get_debug(), self.loop.slow_callback_duration)
        self.logger = logging.getLogger("asyncio")
        self._saved_log = (self.logger.propagate, self.logger.level)
        outer = self

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                # asyncio logs a slow step as ("Executing %s took %.3f seconds", handle, seconds):
                # the seconds and the handle come from the record's arguments, not from its text.
                args = record.args if isinstance(record.args, tuple) else ()
                slow = record.msg.startswith("Executing") and len(args) == 2 and isinstance(args[1], float)
                name = outer._HANDLE.search(str(args[0])) if slow else None
                outer.records.append({
                    "level": record.levelname,
                    "task": name.group(1) if name else None,
                    "took_s": args[1] if slow else float("nan"),
                    "slow_step": slow,
                    "message": record.getMessage(),
                })

        self._handler = Catch(level=logging.DEBUG)
        self.logger.addHandler(self._handler)
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.loop.slow_callback_duration = self.slow_callback_s
        self.loop.set_debug(True)
        return self

    def __exit__(self, *exc: Any) -> None:
        debug, slow = self._saved
        self.loop.set_debug(debug)
        self.loop.slow_callback_duration = slow
        self.logger.removeHandler(self._handler)
        self.logger.propagate, level = self._saved_log
        self.logger.setLevel(level)

    def slow_steps(self) -> pd.DataFrame:
        """The "took N seconds" warnings caught: task (its name, or None), took_s, message."""
        df = pd.DataFrame(self.records, columns=["level", "task", "took_s", "slow_step", "message"])
        return df[df["slow_step"].astype(bool)].drop(columns="slow_step").reset_index(drop=True)


# -- 3. many requests from one thread ---------------------------------------------

def aiohttp_default_limit() -> int:
    """The connection limit an aiohttp ClientSession has when nobody sets one (100 in aiohttp 3)."""
    import aiohttp

    return int(inspect.signature(aiohttp.TCPConnector).parameters["limit"].default)


def _ensure_open_files(need: int) -> tuple[int | None, int | None]:
    """Refuse clearly what the machine cannot open, else raise the soft open-file limit to fit ``need`` sockets."""
    load.check_concurrency(min(need, load.MAX_CONCURRENCY))
    system.raise_open_file_limit(need + load.FD_MARGIN)
    return system.open_file_limit()


_COLUMNS = ["request", "t_send", "t_done", "latency_s", "status", "error", "server_start", "server_end"]


def _shift(rows: list[dict], t0: float) -> pd.DataFrame:
    return timing.request_frame(rows, t0, columns=_COLUMNS).sort_values("request", ignore_index=True)


async def fetch_many(url: str, n: int, *, connection_limit: int, timeout_s: float = 30.0) -> pd.DataFrame:
    """Send ``n`` GETs to ``url`` all at once from this thread's event loop.

    One aiohttp session, one task per request. Its connector opens at most
    ``connection_limit`` connections at a time: pass ``aiohttp_default_limit()``
    (100) to see what an unconfigured session does, or ``n`` to lift the cap.
    ``timeout_s`` bounds each request and (plus 30 s) the whole batch.

    Returns one row per request: request, t_send, t_done, latency_s, status,
    error, server_start, server_end (seconds since the batch started).
    ``attrs["limits"]`` records the connection limit, the per-host limit and
    this process's open-file limits; ``attrs["wall_s"]`` the batch's wall time.
    """
    import aiohttp

    _local_url(url)
    n = _pos_int("n", n, MAX_REQUESTS)
    connection_limit = _pos_int("connection_limit", connection_limit, MAX_REQUESTS)
    _pos_number("timeout_s", timeout_s, upper=600)
    soft, hard = _ensure_open_files(min(n, connection_limit))
    connector = aiohttp.TCPConnector(limit=connection_limit, limit_per_host=connection_limit)
    rows: list[dict] = []

    async def one(i: int, session) -> None:
        rec = await clients.get_async(session, url)
        rec["request"] = i
        rows.append(rec)

    tasks: list[asyncio.Task] = []
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        t0 = time.perf_counter()
        try:
            tasks = [_spawn(one(i, session), f"fetch-{i}") for i in range(n)]
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=timeout_s + 30.0)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{n} requests did not finish within {timeout_s + 30:g} s") from None
        finally:
            await _cancel_and_wait(tasks)
        wall = time.perf_counter() - t0
        limits = {"client": "aiohttp (in this process's event loop)", "connection_limit": connector.limit,
                  "limit_per_host": connector.limit_per_host, "open_files_soft": soft, "open_files_hard": hard}
    df = _shift(rows, t0)
    df.attrs.update({"limits": limits, "wall_s": wall})
    return df


peak_in_flight = timing.peak_in_flight  # the one copy lives in core.timing


async def sweep_many(url: str, ns, *, default_limit: int, default_up_to: int = 300,
                     progress_desc: str | None = None) -> pd.DataFrame:
    """Section 3's sweep: for each N in ``ns``, ``fetch_many`` with the limit lifted to N, and (for N up
    to ``default_up_to``, beyond which it only repeats its staircase) with ``default_limit``.

    One row per batch: client ("asyncio, limit lifted" or "asyncio, default limit"), n,
    connection_limit, wall_s, peak_in_flight (in the server at once), errors.
    """
    from helpers.core import progress

    ns = [_pos_int("ns", n, MAX_REQUESTS) for n in ns]
    default_limit = _pos_int("default_limit", default_limit, MAX_REQUESTS)
    runs = []
    for n in (progress.bar(ns, desc=progress_desc) if progress_desc else ns):
        limits = {"asyncio, limit lifted": n}
        if n <= default_up_to:
            limits["asyncio, default limit"] = default_limit
        for client, limit in limits.items():
            df = await fetch_many(url, n, connection_limit=limit)
            runs.append({"client": client, "n": n, "connection_limit": limit, "wall_s": df.attrs["wall_s"],
                         "peak_in_flight": peak_in_flight(df), "errors": int(df["error"].notna().sum())})
    return pd.DataFrame(runs)


def fetch_many_threads(url: str, n: int, *, threads: int, timeout_s: float = 30.0) -> pd.DataFrame:
    """The blocking way: ``n`` GETs with requests from a pool of ``threads`` OS threads.

    Blocks the calling thread until all are answered. Each request opens its
    own connection (no shared pool to cap it). Same columns as ``fetch_many``;
    ``attrs["limits"]`` records the pool size, ``attrs["wall_s"]`` the wall time.
    """
    _local_url(url)
    n = _pos_int("n", n, MAX_REQUESTS)
    threads = _pos_int("threads", threads, 1000)
    _pos_number("timeout_s", timeout_s, upper=600)
    soft, hard = _ensure_open_files(min(n, threads))
    recs, t0, _ = clients.blocking_clients(url, n, threads, timeout_s=timeout_s, session_per_thread=False)
    wall = max((r["t_done"] for r in recs), default=t0) - t0
    df = _shift(recs, t0)
    df.attrs.update({"limits": {"client": "requests in a thread pool", "threads": threads,
                                "connection_limit": threads, "open_files_soft": soft, "open_files_hard": hard},
                     "wall_s": wall})
    return df


# -- 3b. what a request in flight costs: a task or a thread of its own ---------------------

COST_STYLES = ("threads", "asyncio")
COST_LABELS = {"threads": "one thread per request (requests)", "asyncio": "one task per request (aiohttp)"}
MAX_COST_REQUESTS = 2000
CHEAPER = 2.0  # "costs much less": in the median round, a thread at least twice a task
THREAD_MARGIN = 64  # threads this user may already run elsewhere (the kernel, servers, other programs)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def thread_limits() -> dict[str, int | None]:
    """What caps the threads one process may start here (None: no such limit or unknown).

    nproc_soft / nproc_hard: RLIMIT_NPROC (threads and processes of this user);
    threads_max: /proc/sys/kernel/threads-max (the whole machine); pids_max and
    pids_current: this cgroup's pids controller (a container's cap), where
    present; open_files_soft / open_files_hard: every request's socket is a file.
    """
    out: dict[str, int | None] = {"nproc_soft": None, "nproc_hard": None}
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        inf = resource.RLIM_INFINITY
        out.update(nproc_soft=None if soft == inf else soft, nproc_hard=None if hard == inf else hard)
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    out["threads_max"] = _read_int("/proc/sys/kernel/threads-max")
    out["pids_max"] = _read_int("/sys/fs/cgroup/pids.max")
    out["pids_current"] = _read_int("/sys/fs/cgroup/pids.current")
    out["open_files_soft"], out["open_files_hard"] = system.open_file_limit()
    return out


def check_threads(n: int, limits: dict | None = None) -> None:
    """Refuse, with a message that says which limit and how many fit, ``n`` threads (plus sockets) this
    machine cannot give one process. ``limits`` defaults to ``thread_limits()``."""
    n = _pos_int("n", n, MAX_COST_REQUESTS)
    lim = thread_limits() if limits is None else limits
    caps = []
    if lim.get("nproc_soft") is not None:
        caps.append(("the user's process/thread limit (ulimit -u)", lim["nproc_soft"] - THREAD_MARGIN))
    if lim.get("threads_max") is not None:
        caps.append(("the machine's thread limit (/proc/sys/kernel/threads-max)", lim["threads_max"] // 2))
    if lim.get("pids_max") is not None:
        caps.append(("this container's pids limit (pids.max)", lim["pids_max"] - (lim.get("pids_current") or 0)
                     - THREAD_MARGIN))
    if lim.get("open_files_hard") is not None:
        caps.append(("the open-file limit (ulimit -Hn): one socket per request", lim["open_files_hard"]
                     - load.FD_MARGIN))
    for what, fits in caps:
        if n > fits:
            raise ValueError(f"{n} threads at once do not fit under {what}: at most {max(fits, 0)} here. "
                             f"Use a smaller N, or raise that limit and restart Jupyter.")


def threads_that_fit(ns) -> list[int]:
    """The Ns of ``ns`` this machine can start as threads at once (``check_threads``); prints why any is left out."""
    keep = []
    for n in ns:
        try:
            check_threads(n)
        except ValueError as e:
            print(f"N = {n} left out: {e}")
        else:
            keep.append(n)
    return keep


def inflight_cost(url: str, n: int, style: str, *, latency_s: float, timeout_s: float = 30.0) -> dict:
    """One run of ``helpers.lessons.inflight_probe`` in a fresh interpreter: ``n`` requests at once to
    ``url`` (the slow service, answering after ``latency_s`` seconds) as ``style`` ("threads": one OS
    thread per request; "asyncio": one task per request on one loop).

    Returns the probe's record plus, per request in flight at the sample:
    uss_kib_per_request, rss_kib_per_request (the process's growth over its
    warmed-up baseline, KiB), cpu_ms_per_request (CPU time over all ``n``,
    ms) and latencies (wall time in latencies). The thread arm is refused
    first (``check_threads``) where the machine cannot start ``n`` threads.
    """
    _local_url(url)
    n = _pos_int("n", n, MAX_COST_REQUESTS)
    checks.choice("style", style, COST_STYLES)
    latency_s = _pos_number("latency_s", latency_s, upper=60)
    _pos_number("timeout_s", timeout_s, upper=600)
    if style == "threads":
        check_threads(n)
    else:
        load.check_concurrency(n)
    r = procs.run_child_json("helpers.lessons.inflight_probe",
                             {"style": style, "url": url, "n": n, "latency_s": latency_s, "timeout_s": timeout_s},
                             what=f"the {style} cost probe", timeout_s=timeout_s + 60)
    held = max(r["in_flight_at_sample"], 1)
    r.update({"uss_kib_per_request": (r["uss_peak"] - r["uss_base"]) / 1024 / held,
              "rss_kib_per_request": (r["rss_peak"] - r["rss_base"]) / 1024 / held,
              "cpu_ms_per_request": r["cpu_s"] / n * 1000, "latencies": r["wall_s"] / latency_s})
    return r


def cost_rounds(url: str, ns, *, latency_s: float, repeats: int = 3, progress_desc: str | None = None) -> pd.DataFrame:
    """Both styles side by side: for each N in ``ns`` and each of ``repeats`` rounds, one ``inflight_cost``
    run of each style, back to back (the order alternates round by round, so neither always goes first).

    One row per run: style, label, n, round, wall_s, latencies, cpu_s, cpu_ms_per_request,
    uss_kib_per_request, rss_kib_per_request, in_flight_at_sample, threads_at_sample, last_start_s,
    errors. ``attrs["limits"]`` holds ``thread_limits()``, the latency and the thread stack size.
    """
    from helpers.core import progress

    ns = [_pos_int("ns", n, MAX_COST_REQUESTS) for n in ns]
    repeats = _pos_int("repeats", repeats, 100)
    for n in ns:  # refuse before anything runs
        check_threads(n)
    jobs = [(n, k, style) for n in ns for k in range(repeats)
            for style in (COST_STYLES if k % 2 == 0 else COST_STYLES[::-1])]
    rows = []
    for n, k, style in (progress.bar(jobs, desc=progress_desc) if progress_desc else jobs):
        r = inflight_cost(url, n, style, latency_s=latency_s)
        rows.append({"style": style, "label": COST_LABELS[style], "round": k, **r})
    cols = ["style", "label", "n", "round", "wall_s", "latencies", "cpu_s", "cpu_ms_per_request",
            "uss_kib_per_request", "rss_kib_per_request", "in_flight_at_sample", "threads_at_sample",
            "last_start_s", "errors"]
    df = pd.DataFrame(rows)
    df.attrs["limits"] = {**thread_limits(), "latency_s": latency_s, "repeats": repeats,
                          "thread_stack_size": rows[0]["stack_size"] if rows else None,
                          "connections": "a new one per request, closed after the answer, on both sides"}
    return df[cols]


def cost_decision(costs: pd.DataFrame, *, cheaper: float = CHEAPER) -> dict:
    """Is a request in flight much cheaper as a task than as a thread, at the largest N of ``cost_rounds``?

    Round by round (the two styles ran back to back, so a slow spell of the
    machine hits both), the thread run's memory (USS per request in flight)
    and CPU time per request over the task run's. The margin is the median
    round's ratio: one disturbed run cannot move it. Returns n, mem_margin and
    cpu_margin (median round), mem_min and cpu_min (the least favourable
    round), mem_spread and cpu_spread (each style's max/min over its runs, the
    larger: the machine's noise), threads_held and asyncio_held (the fewest
    requests each style held in flight at once, of n), and outcome: "holds"
    (both margins >= ``cheaper``), "does not hold" (a margin <= 1: a thread
    cost no more than a task) or "inconclusive" (in between, or errors).
    """
    need = {"style", "n", "round", "uss_kib_per_request", "cpu_ms_per_request", "in_flight_at_sample", "errors"}
    if not need <= set(costs.columns) or not set(COST_STYLES) <= set(costs["style"]):
        raise ValueError("cost_decision needs the runs of cost_rounds, both styles")
    n = int(costs["n"].max())
    big = costs[costs["n"] == n]
    th, asy = big[big["style"] == "threads"], big[big["style"] == "asyncio"]
    out: dict = {"n": n}
    for key, col in (("mem", "uss_kib_per_request"), ("cpu", "cpu_ms_per_request")):
        per = big.pivot_table(index="round", columns="style", values=col).dropna()
        ratio = per["threads"] / per["asyncio"].clip(lower=1e-9)
        out[f"{key}_margin"] = float(ratio.median())
        out[f"{key}_min"] = float(ratio.min())
        out[f"{key}_spread"] = max(float(g[col].max()) / max(float(g[col].min()), 1e-9) for g in (th, asy))
    out["threads_held"] = int(th["in_flight_at_sample"].min())
    out["asyncio_held"] = int(asy["in_flight_at_sample"].min())
    margins = (out["mem_margin"], out["cpu_margin"])
    if int(big["errors"].sum()) > 0:
        out["outcome"] = "inconclusive"
    elif min(margins) >= cheaper:
        out["outcome"] = "holds"
    elif min(margins) <= 1.0:
        out["outcome"] = "does not hold"
    else:
        out["outcome"] = "inconclusive"
    return out


def plot_costs(costs: pd.DataFrame):
    """Three panels from ``cost_rounds``, every run a dot, one colour per style, against N: time until
    all were answered (in latencies), CPU time per request (ms) and memory per request in flight (KiB)."""
    import matplotlib.pyplot as plt

    from helpers.core import plots

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    panels = [("latencies", "time until all answered (latencies)"), ("cpu_ms_per_request", "CPU per request (ms)"),
              ("uss_kib_per_request", "memory per request in flight (KiB, USS)")]
    colours = {"threads": plots.COLORS["measured"], "asyncio": plots.COLORS["served"]}
    for ax, (col, ylabel) in zip(axes, panels):
        for style, g in costs.groupby("style", sort=False):
            ax.plot(g["n"], g[col], "o", ms=5, alpha=0.7, color=colours.get(style), label=COST_LABELS[style])
            med = g.groupby("n")[col].median()
            ax.plot(med.index, med.to_numpy(), "-", lw=1, color=colours.get(style))
        if col == "latencies":
            ax.axhline(1.0, color=plots.COLORS["model"], lw=0.8, ls=":", label="one latency")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set(xlabel="requests at once (N)", ylabel=ylabel)
        ax.set_xticks(sorted(costs["n"].unique()), [str(n) for n in sorted(costs["n"].unique())])
        ax.minorticks_off()
    axes[0].legend(frameon=False, fontsize=8, loc="lower left")
    fig.suptitle("N requests at once, each waiting one latency: a thread or a task per request", fontsize=11)
    return fig


# -- 4. the next bottleneck: a database with k connections ---------------------------

class Database:
    """A pretend database with a pool of ``max_connections`` connections.

    ``await db.query()`` waits for a free connection (an ``asyncio.Semaphore``),
    holds it for ``query_ms`` milliseconds (awaiting, as a real query would),
    then gives it back. ``max_in_use`` is the most connections ever held at once.
    """

    def __init__(self, max_connections: int, query_ms: float) -> None:
        self.max_connections = _pos_int("max_connections", max_connections, 100_000)
        self.query_s = _pos_number("query_ms", query_ms, upper=60_000) / 1000.0
        self._sem = asyncio.Semaphore(self.max_connections)
        self.in_use = 0
        self.max_in_use = 0

    async def query(self) -> dict:
        """One query: t_ask, t_start (got a connection), t_end (perf_counter seconds)."""
        t_ask = time.perf_counter()
        async with self._sem:
            t_start = time.perf_counter()
            self.in_use += 1
            self.max_in_use = max(self.max_in_use, self.in_use)
            try:
                await asyncio.sleep(self.query_s)
            finally:
                self.in_use -= 1
        return {"t_ask": t_ask, "t_start": t_start, "t_end": time.perf_counter()}


async def serve_through_db(n_requests: int, *, max_connections: int, query_ms: float) -> pd.DataFrame:
    """``n_requests`` request handlers start at once; each runs one query on a ``Database``.

    Returns one row per request: request, t_send, db_start (got a connection),
    t_done, wait_s (for a connection), latency_s (seconds since the batch
    started). ``attrs["limits"]`` records max_connections and max_in_use;
    ``attrs["wall_s"]`` the batch's wall time.
    """
    n = _pos_int("n_requests", n_requests, MAX_REQUESTS)
    db = Database(max_connections, query_ms)
    rows: list[dict] = []

    async def handler(i: int) -> None:
        t_send = time.perf_counter()
        q = await db.query()
        rows.append({"request": i, "t_send": t_send, "db_start": q["t_start"], "t_done": q["t_end"]})

    t0 = time.perf_counter()
    tasks = [_spawn(handler(i), f"db-{i}") for i in range(n)]
    try:
        await asyncio.gather(*tasks)
    finally:
        await _cancel_and_wait(tasks)
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows).sort_values("request", ignore_index=True)
    for c in ("t_send", "db_start", "t_done"):
        df[c] -= t0
    df["wait_s"] = df["db_start"] - df["t_send"]
    df["latency_s"] = df["t_done"] - df["t_send"]
    df.attrs.update({"limits": {"max_connections": db.max_connections, "max_in_use": db.max_in_use},
                     "wall_s": wall})
    return df


# -- 5. the same work in both styles ---------------------------------------------

def _spin_range(start: int, stop: int, acc: int = 0) -> int:
    """``workloads.spin``'s loop over ``range(start, stop)``: cut it anywhere, same work, same checksum."""
    for i in range(start, stop):
        acc = (acc + i * i) % 1_000_003
    return acc


YIELDS = (100, 1_000, 10_000, 100_000)
MODEL_TOLERANCE = 2.0  # a yield in the middle of real work may cost up to twice (or half) a bare trip: caches


async def loop_trip_cost_us(trips: int = 10_000, repeats: int = 5) -> float:
    """CPU time of this thread for one trip through the loop and back (``await asyncio.sleep(0)``),
    in microseconds: the median of ``repeats`` runs of ``trips`` trips each."""
    trips = _pos_int("trips", trips, 10_000_000)
    repeats = _pos_int("repeats", repeats, 100)
    per = []
    for _ in range(repeats):
        c0 = time.thread_time()
        for _ in range(trips):
            await asyncio.sleep(0)
        per.append((time.thread_time() - c0) / trips * 1e6)
    return float(pd.Series(per).median())


async def same_work_yields(cpu_ms: float, *, yields=YIELDS, repeats: int = 5) -> pd.DataFrame:
    """The same CPU work as a plain function (twice: "plain function" and "plain function, again", a
    control that shows how far two identical runs land apart), as a coroutine, and cut into ``k`` pieces with
    ``await asyncio.sleep(0)`` between them, for each ``k`` in ``yields``; ``repeats`` rounds, each
    style once per round in rotating order, after one untimed warm-up round.

    Returns one row per run: style, yields (awaits in the run), run, cpu_s (this thread), wall_s,
    checksum (the same for all: the same work).
    """
    n = workloads.iterations_for(_pos_number("cpu_ms", cpu_ms, upper=10_000))
    ks = [_pos_int("yields", k, 1_000_000) for k in yields]
    repeats = _pos_int("repeats", repeats, 1000)

    async def chunked(k: int) -> int:
        acc = 0
        for j in range(k):
            acc = _spin_range(n * j // k, n * (j + 1) // k, acc)
            await asyncio.sleep(0)
        return acc

    async def coro() -> int:
        return _spin_range(0, n)

    styles = [("plain function", 0), ("plain function, again", 0), ("coroutine", 0)] + [
        (f"coroutine, {k:,} yields", k) for k in ks]

    async def one(style: str, k: int) -> int:
        if style.startswith("plain function"):
            return _spin_range(0, n)
        task = _spawn(coro() if k == 0 else chunked(k), "same-work")
        try:
            return await task
        finally:
            await _cancel_and_wait([task])

    for style, k in styles:  # warm-up, untimed
        await one(style, k)
    rows = []
    for run in range(repeats):
        for j in range(len(styles)):
            style, k = styles[(run + j) % len(styles)]
            w0, c0 = time.perf_counter(), time.thread_time()
            checksum = await one(style, k)
            rows.append({"style": style, "yields": k, "run": run, "wall_s": time.perf_counter() - w0,
                         "cpu_s": time.thread_time() - c0, "checksum": checksum})
    return pd.DataFrame(rows)


def yield_overhead(runs: pd.DataFrame, trip_us: float, *, tolerance: float = MODEL_TOLERANCE) -> pd.DataFrame:
    """Each coroutine style's extra CPU time over the plain function of the same round, against the model
    ``yields × trip_us``.

    One row per coroutine style (in the order of the runs): yields, extra_ms (median over the rounds of
    its CPU time minus that round's plain run, ms), model_ms, noise_ms (the repeats' spread, the largest
    of: the range, max - min, of the plain function's own runs; the ranges of the paired differences of
    the plain coroutine and of "plain function, again" (the same function run twice a round, where
    present); twice the latter's median, how far two identical styles' medians land apart; 1 % of the
    plain run), same_speed
    (|extra_ms| <= noise_ms, at least 1 % of the plain run: no slower than the noise can explain) and
    matches_model: where the model is within twice the noise, |extra_ms - model_ms| <= 2 × noise_ms;
    beyond, extra_ms / model_ms within 1/``tolerance``..``tolerance`` (a trip through the loop between
    pieces of real work finds colder caches than a bare trip: it costs the same order, not the same ns).
    """
    if not {"style", "yields", "run", "cpu_s"} <= set(runs.columns):
        raise ValueError("yield_overhead needs the runs of same_work_yields")
    trip_us = _pos_number("trip_us", trip_us, upper=1e6)
    per = runs.pivot_table(index="run", columns="style", values="cpu_s")
    plain = per.pop("plain function")
    diffs = per.sub(plain, axis=0) * 1000.0
    spreads = [float(plain.max() - plain.min()) * 1000.0, 0.01 * float(plain.median()) * 1000.0]
    for same_code in ("coroutine", "plain function, again"):  # the same code on both sides of the difference
        if same_code in diffs:
            d = diffs[same_code]
            spreads.append(float(d.max() - d.min()))
    aa = diffs.pop("plain function, again") if "plain function, again" in diffs else None
    if aa is not None:  # two runs of the very same function: how far apart their medians can land
        spreads.append(2 * abs(float(aa.median())))
    noise = max(spreads)
    k_of = runs.drop_duplicates("style").set_index("style")["yields"]
    order = [s for s in runs.drop_duplicates("style")["style"] if not s.startswith("plain function")]
    rows = []
    for st in order:
        k = int(k_of[st])
        extra, model = float(diffs[st].median()), k * trip_us / 1000.0
        rows.append({"style": st, "yields": k, "extra_ms": extra, "model_ms": model, "noise_ms": noise,
                     "same_speed": abs(extra) <= noise,
                     "matches_model": (abs(extra - model) <= 2 * noise if model <= 2 * noise
                                       else 1 / tolerance <= extra / model <= tolerance)})
    out = pd.DataFrame(rows).set_index("style")
    out.attrs.update({"plain_ms": float(plain.median()) * 1000.0, "trip_us": trip_us})
    return out


def c11_decision(over: pd.DataFrame) -> str:
    """From ``yield_overhead``: "holds" when the coroutine is as fast as the plain function (within the
    noise) and every yields count cost what the model says; "does not hold" when the coroutine itself
    is slower or faster than the noise allows; else "inconclusive"."""
    if not bool(over.loc["coroutine", "same_speed"]):
        return "does not hold"
    return "holds" if bool(over["matches_model"].all()) else "inconclusive"


def plot_yields(over: pd.DataFrame, *, ax=None, title: str | None = None):
    """``yield_overhead``'s table as a picture: the extra CPU time of each yields count (dots; an extra
    below the noise is drawn at the noise floor, hollow), the switches' model (a line) and the repeats'
    spread (a grey band), on log-log axes."""
    import matplotlib.pyplot as plt
    import numpy as np

    from helpers.core import plots

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    cut = over[over["yields"] > 0]
    noise = float(over["noise_ms"].iloc[0])
    ks = np.geomspace(max(cut["yields"].min() / 2, 1), cut["yields"].max() * 2, 50)
    ax.plot(ks, ks * over.attrs["trip_us"] / 1000.0, "--", color=plots.COLORS["model"],
            label=f"model: yields × one bare trip ({over.attrs['trip_us']:.2g} µs)")
    ax.axhspan(noise / 100, noise, color="0.9", label="within the repeats' spread (noise)")
    above = cut["extra_ms"] > noise
    ax.plot(cut.loc[above, "yields"], cut.loc[above, "extra_ms"], "o", color=plots.COLORS["measured"],
            label="measured extra CPU time (median round)")
    ax.plot(cut.loc[~above, "yields"], np.full((~above).sum(), noise), "o", mfc="none",
            color=plots.COLORS["measured"], label="measured: lost in the noise")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(noise / 20, max(float(cut["extra_ms"].max()), noise) * 3)
    ax.set(xlabel="awaits (trips through the loop) in the run", ylabel="extra CPU time over the plain function (ms)",
           title=title or f"The same {over.attrs['plain_ms']:.0f} ms of work, cut by awaits")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return ax


# -- exercise: is this coroutine cooperative? ------------------------------------

async def check_cooperative(fn: Callable[[float], Awaitable[Any]], *, calls: int = 10, ms: float = 50.0) -> bool:
    """Self-check: run ``calls`` copies of ``fn(ms)`` at once; pass if they overlap.

    ``fn`` must be an ``async def`` function that waits ``ms`` milliseconds
    and returns ``ms``. Cooperative copies finish together in about one wait;
    copies that block the loop take ``calls`` waits. Prints one line and
    returns True or False.
    """
    calls = _pos_int("calls", calls, 1000)
    ms = _pos_number("ms", ms, upper=1000)
    if not inspect.iscoroutinefunction(fn):
        print(f"Not yet: {getattr(fn, '__name__', fn)!s} must be defined with `async def`.")
        return False
    tasks = [_spawn(fn(ms), f"check-{i}") for i in range(calls)]
    t0 = time.perf_counter()
    try:
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=calls * ms / 1000 + 30)
    finally:
        await _cancel_and_wait(tasks)
    wall = time.perf_counter() - t0
    if any(r != ms for r in results):
        print(f"Not yet: {fn.__name__}({ms:g}) should return {ms:g}.")
        return False
    if wall < calls * ms / 1000 / 3:
        print(f"Correct: {calls} calls at once finished together; {fn.__name__} gives the loop back while it waits.")
        return True
    print(f"Not yet: {calls} calls took about {calls} waits one after another; "
          f"{fn.__name__} blocks the event loop while it waits.")
    return False


def draw_event_loop(tasks: int = 4):
    """Diagram: one thread runs the event loop: the ready queue, the running task, and the selector
    (epoll/kqueue) holding the sockets of the tasks that wait; ``tasks`` (2 to 6) tasks in all."""
    from helpers.core import diagrams

    if isinstance(tasks, bool) or not isinstance(tasks, int) or not 2 <= tasks <= 6:
        raise ValueError(f"tasks must be an int from 2 to 6, got {tasks!r}")
    ready, waiting = (tasks - 1 + 1) // 2, (tasks - 1) // 2
    ax = diagrams.canvas(12, 5.6, title="One thread, one event loop: tasks run one at a time, "
                                        "waiting ones sit in the selector")
    diagrams.box(ax, 0.2, 0.3, 11.6, 4.5, "", kind="thread", dashed=True)
    diagrams.label(ax, 0.4, 4.5, "the one thread that runs the loop", fontsize=8)
    # ready queue
    diagrams.label(ax, 0.5, 3.75, "ready queue (FIFO)", fontsize=9)
    for i in range(ready):
        diagrams.box(ax, 0.5 + i * 1.25, 2.7, 1.1, 0.8, f"task {i + 2}", kind="task", fontsize=8)
    # running
    diagrams.box(ax, 5.0, 2.5, 2.2, 1.2, "task 1\nruns until\nits next await", kind="task", fontsize=8)
    diagrams.arrow(ax, (0.5 + ready * 1.25 - 0.1, 3.1), (5.0, 3.1), "next ready task", offset=(0.0, 0.1))
    # selector
    diagrams.box(ax, 8.4, 0.6, 3.2, 2.0, "", kind="kernel")
    diagrams.label(ax, 8.55, 2.25, "selector (epoll / kqueue)", fontsize=8)
    for i in range(max(1, waiting)):
        diagrams.box(ax, 8.6 + i * 1.0, 0.8, 0.9, 1.1, f"task {ready + 2 + i}\nwaits on\na socket"
                     if i < waiting else "", kind="task", fontsize=7, dashed=True)
    diagrams.arrow(ax, (7.2, 3.0), (9.2, 2.6), "await: register the socket,\ngive control back", bend=-0.2,
                   offset=(0.5, 0.15))
    diagrams.arrow(ax, (8.4, 1.2), (2.0, 2.7), "data arrived: back in the ready queue", bend=-0.15,
                   offset=(0.0, -0.95))
    diagrams.label(ax, 0.5, 0.5, "a task that never awaits (CPU work, time.sleep) keeps the loop from\n"
                   "everything else: the queue and the selector wait behind it", fontsize=8)
    return ax
