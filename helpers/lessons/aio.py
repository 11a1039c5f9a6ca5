"""asyncio seen from the inside: traced tasks, event-loop lag, a pooled database,
and many concurrent aiohttp requests from one thread.

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
from helpers.core import checks, system, timing, workloads
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


async def same_work_both_styles(cpu_ms: float, *, repeats: int = 5, chunks: int = 100) -> pd.DataFrame:
    """Time identical CPU work three ways, ``repeats`` times each, in rotating order.

    - "plain function": the course's CPU loop (``workloads.spin``'s) called directly;
    - "coroutine": the same call inside an ``async def``, run as a task;
    - "coroutine, yields often": the same loop cut into ``chunks`` consecutive
      pieces with ``await asyncio.sleep(0)`` between them (a trip through the
      loop each time). All three compute the same checksum.

    One untimed warm-up round first. Returns one row per run: style, run,
    wall_s, cpu_s, switches, checksum.
    """
    n = workloads.iterations_for(_pos_number("cpu_ms", cpu_ms, upper=10_000))
    repeats = _pos_int("repeats", repeats, 1000)
    chunks = _pos_int("chunks", chunks, 100_000)
    edges = [n * k // chunks for k in range(chunks + 1)]

    def plain() -> int:
        return _spin_range(0, n)

    async def coro() -> int:
        return _spin_range(0, n)

    async def chunked() -> int:
        acc = 0
        for a, b in zip(edges[:-1], edges[1:]):
            acc = _spin_range(a, b, acc)
            await asyncio.sleep(0)
        return acc

    async def one(style: str) -> int:
        if style == "plain function":
            return plain()
        task = _spawn(coro() if style == "coroutine" else chunked(), "same-work")
        try:
            return await task
        finally:
            await _cancel_and_wait([task])

    styles = [("plain function", 0), ("coroutine", 0), ("coroutine, yields often", chunks)]
    for style, _ in styles:  # warm-up, untimed
        await one(style)
    rows = []
    for run in range(repeats):
        for k in range(len(styles)):
            style, switches = styles[(run + k) % len(styles)]
            w0, c0 = time.perf_counter(), time.thread_time()
            checksum = await one(style)
            rows.append({"style": style, "run": run, "wall_s": time.perf_counter() - w0,
                         "cpu_s": time.thread_time() - c0, "switches": switches, "checksum": checksum})
    return pd.DataFrame(rows)


SAME_SPEED = 0.2  # "the same speed": the median run-by-run ratio within 20 % of 1


def style_ratios(same: pd.DataFrame) -> pd.DataFrame:
    """Run by run, each style's CPU time over the plain function's of the same run (they ran back to back).

    A machine's slow spell slows all three runs of one round, so the ratio of
    a round is steadier than the ratio of two styles' best runs. One row per
    coroutine style: median_ratio, min_ratio, max_ratio, same_speed (median
    within ``SAME_SPEED`` of 1), and plain_scatter: how far the plain
    function's own runs strayed ((max - min) / median), the machine's noise.
    """
    if not {"style", "run", "cpu_s"} <= set(same.columns):
        raise ValueError("style_ratios needs the runs of same_work_both_styles")
    per = same.pivot_table(index="run", columns="style", values="cpu_s")
    plain = per.pop("plain function")
    ratios = per.div(plain, axis=0)
    out = pd.DataFrame({"median_ratio": ratios.median(), "min_ratio": ratios.min(), "max_ratio": ratios.max()})
    out["same_speed"] = (out["median_ratio"] - 1).abs() <= SAME_SPEED
    out["plain_scatter"] = float((plain.max() - plain.min()) / plain.median())
    return out


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
