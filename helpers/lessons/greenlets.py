"""Greenlets and gevent (notebook 06): explicit switches, gevent without and with monkey-patching.

Two rules shape this module:

- **Nothing is ever monkey-patched in the calling process.** Unpatched
  ``greenlet`` and ``gevent`` calls (explicit switches, ``gevent.spawn``,
  ``gevent.sleep``) run here, in the kernel; every patched program runs as its
  own process, ``python -m helpers.lessons.gevent_child KIND``, patched on its
  first line, through ``helpers.core.procs.run_child_json`` (stopped on a
  timeout or an interrupt). ``assert_unpatched()`` checks the rule.
- Every argument is checked here, before a child or a server starts.

Times are ``time.perf_counter()`` seconds shown relative to each experiment's
start; column names carry units (``_s``, ``_ms``, ``_bytes``, ``_mb``).
"""

from __future__ import annotations

import hashlib
import inspect
import time
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from helpers import load
from helpers.core import checks, executors, exercises, procs, system, timing, workloads
from helpers.core.progress import bar as progress_bar  # these functions take a `progress` flag
from helpers.load import clients

CHILD = "helpers.lessons.gevent_child"
PATCH_OFF_OPTIONS = ("socket", "dns", "time", "select", "thread", "os", "ssl", "subprocess", "signal", "queue")
LAG_SCENARIOS = ("gevent.sleep", "time.sleep (patched)", "CPU in the greenlet", "libc sleep (ctypes)",
                 "libc sleep in gevent's threadpool", "CPU in gevent's threadpool", "CPU in a process pool")
FETCH_COLUMNS = ("request", "t_send", "t_done", "latency_s", "status", "error", "server_start", "server_end")
MAX_FETCH = 1000
MAX_GREENLETS = 200_000
MAX_THREADS = 5_000
MB = 2**20

FETCH = clients.get_blocking  # the function notebook 01 timed; every run below calls this very one


def anything_patched() -> bool:
    """True if gevent has monkey-patched anything in this process (``gevent.monkey.is_anything_patched``)."""
    import sys

    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_anything_patched())


def assert_unpatched() -> None:
    """Raise RuntimeError if anything in this process has been monkey-patched by gevent."""
    if anything_patched():
        raise RuntimeError("something patched this process with gevent; the course patches only child processes. "
                           "Restart the kernel.")


def _child(kind: str, spec: dict | None, *, off: Sequence[str] = (), timeout_s: float = 120.0) -> Any:
    args = [kind] + [f"--no-{o}" for o in off]
    return procs.run_child_json(CHILD, spec or {}, what=f"the gevent program '{kind}'", timeout_s=timeout_s,
                                args=args)


# -- 1. greenlets from first principles ----------------------------------------------

def ping_pong(rounds: int = 3, work_ms: float = 10.0) -> pd.DataFrame:
    """Two greenlets, A and B, take turns by explicit ``switch()`` calls; trace which one ran when.

    Each round a greenlet burns ``work_ms`` ms of CPU ("running"), then calls
    ``hand_over(other)``, an ordinary function (no ``async``, no ``await``) in
    which ``other.switch()`` parks it ("parked") until the other switches back.
    Returns one row per segment: greenlet, round, state, start_s, end_s,
    duration_ms. ``attrs``: ``hand_over_is_coroutine`` (False), ``switches``.
    Both greenlets have ended when it returns.
    """
    import greenlet

    rounds = checks.count("rounds", rounds, 100)
    iters = workloads.iterations_for(checks.number("work_ms", work_ms, low=0, high=1000, allow_low=False))
    rows: list[dict] = []
    gl: dict[str, Any] = {}
    switches = [0]

    def hand_over(me: str, k: int, to: str) -> None:
        """A plain function: the switch happens inside this ordinary call."""
        t = time.perf_counter()
        switches[0] += 1
        gl[to].switch()  # parks `me` right here, mid-call, until someone switches back
        rows.append({"greenlet": me, "round": k, "state": "parked", "start": t, "end": time.perf_counter()})

    def body(me: str, other: str) -> None:
        for k in range(rounds):
            s = time.perf_counter()
            workloads.spin(iters)
            rows.append({"greenlet": me, "round": k, "state": "running", "start": s, "end": time.perf_counter()})
            if not gl[other].dead:
                hand_over(me, k, other)

    gl["A"] = greenlet.greenlet(lambda: body("A", "B"))
    gl["B"] = greenlet.greenlet(lambda: body("B", "A"))
    t0 = time.perf_counter()
    try:
        while not (gl["A"].dead and gl["B"].dead):  # each returns here when it ends; resume whoever is left
            for name in ("A", "B"):
                if not gl[name].dead:
                    gl[name].switch()
    finally:
        for g in gl.values():
            if not g.dead:
                g.throw(greenlet.GreenletExit)
    df = pd.DataFrame(rows, columns=["greenlet", "round", "state", "start", "end"])
    df["start_s"] = df.pop("start") - t0
    df["end_s"] = df.pop("end") - t0
    df["duration_ms"] = (df["end_s"] - df["start_s"]) * 1000
    df.attrs.update({"hand_over_is_coroutine": inspect.iscoroutinefunction(hand_over), "switches": switches[0],
                     "work_ms": float(work_ms)})
    return df.sort_values(["start_s", "greenlet"], ignore_index=True)


def running_overlaps(trace: pd.DataFrame, tolerance_s: float = 1e-4) -> int:
    """Pairs of "running" segments that overlap in time (one thread: 0)."""
    run = trace[trace["state"] == "running"].sort_values("start_s")
    return int((run["start_s"].to_numpy()[1:] < run["end_s"].to_numpy()[:-1] - tolerance_s).sum())


def plot_trace(trace: pd.DataFrame, *, ax=None, title: str | None = None):
    """Draw a ``ping_pong`` trace: one row per greenlet, red while it runs, blue while it is parked."""
    from helpers.core import plots

    df = trace.assign(state_key=trace["state"].map({"running": "cpu", "parked": "io"}))
    ax = plots.timeline(df, lane="greenlet", phases=[("start_s", "end_s", "")], color_by="state_key", ax=ax,
                        title=title, lane_label="greenlet")
    handles, names = ax.get_legend_handles_labels()
    label = {"cpu": "running (holds the thread)", "io": "parked inside switch()"}
    ax.legend(handles, [label.get(n, n) for n in names], frameon=False, fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    return ax


# -- 2. gevent without patching ---------------------------------------------------------

def sleepers(n: int = 5, ms: float = 100.0) -> pd.DataFrame:
    """``n`` greenlets (``gevent.spawn``) each wait ``ms`` ms, twice: with ``gevent.sleep`` and with the
    unpatched ``time.sleep``. Runs in this process, which is not patched (checked before and after).

    Returns one row per greenlet and way: how, greenlet, start_s, end_s (seconds since that way's
    batch started); ``attrs["wall_s"]`` maps each way to its batch's wall time.
    """
    import gevent

    n = checks.count("n", n, 1000)
    s = checks.milliseconds(ms) / 1000
    assert_unpatched()
    rows, wall = [], {}
    for how, wait in (("gevent.sleep", gevent.sleep), ("time.sleep (not patched)", time.sleep)):
        t0 = time.perf_counter()

        def one(i: int) -> None:
            start = time.perf_counter()
            wait(s)
            rows.append({"how": how, "greenlet": i, "start_s": start - t0, "end_s": time.perf_counter() - t0})

        jobs = [gevent.spawn(one, i) for i in range(n)]
        try:
            gevent.joinall(jobs, timeout=n * s + 30, raise_error=True)
        finally:
            gevent.killall([j for j in jobs if not j.dead])
        wall[how] = time.perf_counter() - t0
    assert_unpatched()
    df = pd.DataFrame(rows)
    df.attrs["wall_s"] = wall
    return df


# -- 3. the same function, three ways -------------------------------------------------------

def source_id(fn=FETCH) -> dict[str, str]:
    """The function's identity: module.name, source file, SHA-256 of its source (as the children compute it)."""
    src = inspect.getsource(fn)
    return {"function": f"{fn.__module__}.{fn.__qualname__}", "file": inspect.getsourcefile(fn),
            "source_sha256": hashlib.sha256(src.encode()).hexdigest()}


def fetch_source() -> str:
    """The source of the fetch every run calls (``helpers.load.clients.get_blocking``)."""
    return inspect.getsource(FETCH)


def _session(pool: int):
    import requests
    from requests.adapters import HTTPAdapter

    s = requests.Session()
    s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0))
    return s


def _frame(rows: list[dict], t0: float, how: str, wall: float, source: dict, limits: dict) -> pd.DataFrame:
    df = timing.request_frame(rows, t0, columns=FETCH_COLUMNS)
    df.insert(0, "how", how)
    df.attrs.update({"how": how, "wall_s": wall, "source": source, "limits": limits})
    return df


def _check_fetch(url: str, n: int, timeout_s: float) -> None:
    checks.loopback_url(url)
    checks.count("n", n, MAX_FETCH)
    checks.seconds(timeout_s, upper=600)


def fetch_plain(url: str, n: int, *, timeout_s: float = 30.0) -> pd.DataFrame:
    """``n`` calls of the fetch, one after another, in this thread (one Session, one kept-alive connection)."""
    _check_fetch(url, n, timeout_s)
    rows = []
    with _session(1) as s:
        t0 = time.perf_counter()
        for i in range(n):
            rows.append({**FETCH(url, s, timeout_s), "request": i})
        wall = time.perf_counter() - t0
    return _frame(rows, t0, "plain (one thread)", wall, source_id(),
                  {"threads": 1, "pool_maxsize": 1, "patched": False})


def fetch_threads(url: str, n: int, *, threads: int, timeout_s: float = 30.0) -> pd.DataFrame:
    """``n`` calls of the fetch from a pool of ``threads`` OS threads (one shared Session, pool = threads)."""
    _check_fetch(url, n, timeout_s)
    threads = checks.count("threads", threads, 256)
    load.check_concurrency(threads)
    with _session(threads) as s, executors.thread_pool(threads, name="nb06-fetch") as pool:
        t0 = time.perf_counter()
        futures = [pool.submit(lambda i=i: {**FETCH(url, s, timeout_s), "request": i}) for i in range(n)]
        rows = executors.wait_all(futures, timeout_s * (n // threads + 2), "fetches")
        wall = time.perf_counter() - t0
    return _frame(rows, t0, f"thread pool ({threads} threads)", wall, source_id(),
                  {"threads": threads, "pool_maxsize": threads, "patched": False})


def fetch_gevent(url: str, n: int, *, off: Iterable[str] = (), pool_maxsize: int | None = -1,
                 timeout_s: float = 30.0) -> pd.DataFrame:
    """``n`` calls of the fetch, one greenlet each, in a child process patched by ``patch_all()``.

    ``off`` names patch_all options to turn off (``("time",)`` -> ``patch_all(time=False)``).
    ``pool_maxsize``: the shared Session's pool; -1 (default) sets it to ``n`` explicitly, None leaves
    requests' default (10; urllib3 then warns "Connection pool is full"). ``attrs`` holds the child's
    source hash of the fetch, what was patched, the pool size and how many pool-full warnings it saw.
    """
    _check_fetch(url, n, timeout_s)
    off = tuple(off)
    for o in off:
        checks.choice("off", o, PATCH_OFF_OPTIONS)
    if pool_maxsize == -1:
        pool_maxsize = n
    elif pool_maxsize is not None:
        pool_maxsize = checks.count("pool_maxsize", pool_maxsize, 100_000)
    load.check_concurrency(n)
    d = _child("fetch", {"url": url, "n": n, "pool_maxsize": pool_maxsize, "timeout_s": timeout_s}, off=off,
               timeout_s=timeout_s * 3 + n * 0.2 + 30)
    label = "gevent, patched" + (f" ({', '.join(o + '=False' for o in off)})" if off else "")
    source = {k: d[k] for k in ("function", "file", "source_sha256")}
    return _frame(d["rows"], d["t0"], label, d["wall_s"], source,
                  {"greenlets": n, "pool_maxsize": d["pool_maxsize"], "pool_full_warnings": d["pool_full_warnings"],
                   "patched": d["patched"], "patch_options": d["patch_options"], "pid": d["pid"]})


def three_ways(url: str, n: int, *, threads: int, timeout_s: float = 30.0,
               progress: bool = True) -> dict[str, pd.DataFrame]:
    """The same fetch, ``n`` times: plain, in a thread pool, under gevent patching (a child). Frames by label."""
    _check_fetch(url, n, timeout_s)
    threads = checks.count("threads", threads, 256)
    ways = [lambda: fetch_plain(url, n, timeout_s=timeout_s),
            lambda: fetch_threads(url, n, threads=threads, timeout_s=timeout_s),
            lambda: fetch_gevent(url, n, timeout_s=timeout_s)]
    runs = [way() for way in progress_bar(ways, desc="three ways", disable=not progress)]
    return {df.attrs["how"]: df for df in runs}


def summary(runs: dict[str, pd.DataFrame], latency_s: float) -> pd.DataFrame:
    """One row per run: wall_s, latencies (wall / latency), errors (failed or not 200), peak_in_flight,
    and the source hash."""
    latency_s = checks.number("latency_s", latency_s, low=0, high=60, allow_low=False)
    rows = []
    for how, df in runs.items():
        rows.append({"how": how, "requests": len(df), "wall_s": df.attrs["wall_s"],
                     "latencies": df.attrs["wall_s"] / latency_s, "errors": failed(df),
                     "peak_in_flight": peak_in_flight(df),
                     "source_sha256": df.attrs["source"]["source_sha256"][:12],
                     "function": df.attrs["source"]["function"]})
    return pd.DataFrame(rows).set_index("how")


def failed(df: pd.DataFrame) -> int:
    """Requests that failed: an error, or an answer other than 200 OK."""
    return int((df["error"].notna() | (df["status"] != 200)).sum())


peak_in_flight = timing.peak_in_flight  # the one copy lives in core.timing


# -- 4. what patching swaps -------------------------------------------------------------------

def patch_record(off: Iterable[str] = ()) -> pd.DataFrame:
    """What ``patch_all()`` replaced, in a child, read from gevent's own record.

    One row per standard-library name: name, before (gevent's saved original,
    ``monkey.get_original``), after (what the name points to now), replaced,
    gevent_says_patched (``monkey.is_object_patched``). ``attrs``:
    ``modules_patched`` (``monkey.is_module_patched`` per module) and ``saved``
    (``monkey.saved``: module -> the names gevent saved originals of).
    """
    off = tuple(off)
    for o in off:
        checks.choice("off", o, PATCH_OFF_OPTIONS)
    d = _child("patches", {}, off=off, timeout_s=60)
    df = pd.DataFrame(d["rows"]).set_index("name")
    df.attrs.update({"modules_patched": d["modules_patched"], "saved": d["saved"],
                     "anything_patched": d["anything_patched"]})
    return df


def late_patch(n: int = 5, ms: float = 50.0) -> dict[str, Any]:
    """Patch too late, on purpose, in a child: ``ssl``, ``requests`` and ``from time import sleep`` first.

    Returns gevent's warning as the child printed it on its stderr (``stderr``,
    ``warned``), and the wall time of ``n`` greenlets each sleeping ``ms`` ms with the
    early-bound ``sleep`` (still the blocking one) and with ``time.sleep`` (patched).
    """
    n = checks.count("n", n, 100)
    ms = checks.milliseconds(ms)
    return _child("late", {"n": n, "ms": ms}, timeout_s=60 + n * ms / 1000)


def warning_lines(text: str, width: int = 100) -> list[str]:
    """gevent's MonkeyPatchWarning cut into readable lines (paths shortened to their file names)."""
    import re
    import textwrap

    text = re.sub(r"\(\S*?/site-packages/", "(", text)
    text = re.sub(r"\S*/helpers/lessons/", "", text)
    out = []
    for line in text.strip().splitlines():
        out += textwrap.wrap(line.strip(), width) or [""]
    return out


# -- 5. Flask on a greenlet server ---------------------------------------------------------------

def server_configs(threads: int = 8) -> list[dict[str, Any]]:
    """The servers of the comparison: the same Flask app on three gunicorn worker classes, and aiohttp."""
    threads = checks.count("threads", threads, 256)
    return [
        {"label": "gunicorn sync, 4 workers", "kind": "gunicorn", "workers": 4, "worker_class": "sync"},
        {"label": f"gunicorn gthread, 2 × {threads} threads", "kind": "gunicorn", "workers": 2,
         "worker_class": "gthread", "threads": threads},
        {"label": "gunicorn gevent, 1 worker", "kind": "gunicorn", "workers": 1, "worker_class": "gevent"},
        {"label": "aiohttp, 1 process", "kind": "aiohttp"},
    ]


def _server(cfg: dict, upstream: str):
    from helpers import servers

    if cfg["kind"] == "aiohttp":
        return servers.AiohttpServer(upstream=upstream, key="nb06-server")
    kw = {k: cfg[k] for k in ("workers", "worker_class", "threads") if k in cfg}
    return servers.Gunicorn(upstream=upstream, key="nb06-server", **kw)


def serve_all(configs: list[dict], *, upstream: str, ms: float, requests: int, concurrency: int = 100,
              progress: bool = True) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Each server in turn under ``concurrency`` closed-loop clients of ``/io?ms=ms``; one row per server.

    Columns: server, app, processes (that serve), concurrent_max (the server's own cap), throughput_rps,
    p50_ms, p99_ms, errors (failed or not 200), peak_in_flight (most requests inside the handlers at once), median_wait_ms
    (sent until a handler started), queued_share (requests that waited over half a latency for a
    handler), uss_mb_per_process and rss_mb_per_process (median over the serving
    processes, after the load). Returns (table, per-request frames by label); the table's
    ``attrs["limits"]`` holds every server's limits. Each server is stopped before the next starts.
    """
    checks.loopback_url(upstream, "upstream")
    ms = checks.milliseconds(ms)
    requests = checks.count("requests", requests, 100_000)
    load.check_concurrency(concurrency)
    if not configs:
        raise ValueError("configs must list at least one server (see server_configs())")
    for cfg in configs:
        if cfg.get("kind") not in ("gunicorn", "aiohttp") or "label" not in cfg:
            raise ValueError(f"each config needs a label and kind 'gunicorn' or 'aiohttp', got {cfg!r}")
    rows, frames, limits = [], {}, {}
    for cfg in progress_bar(configs, desc="servers", disable=not progress):
        with _server(cfg, upstream) as srv:
            url = srv.url("/io", ms=ms)
            df = load.run_load(url, requests=requests, concurrency=concurrency)
            mem = srv.memory()
            lim = srv.limits
        serving = mem[mem["role"].isin(["worker", "server"])]
        s = timing.summarize(df).iloc[0]
        frames[cfg["label"]] = df
        limits[cfg["label"]] = lim
        rows.append({"server": cfg["label"], "app": "Flask (WSGI)" if cfg["kind"] == "gunicorn" else "aiohttp",
                     "processes": len(serving), "concurrent_max": lim.get("concurrent_requests_max"),
                     "throughput_rps": s["throughput_rps"], "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"],
                     "errors": failed(df), "peak_in_flight": peak_in_flight(df),
                     "median_wait_ms": float(df["wait_s"].median() * 1000),
                     "queued_share": float((df["wait_s"] > ms / 2000).mean()),
                     "uss_mb_per_process": float(serving["uss_mb"].median()),
                     "rss_mb_per_process": float(serving["rss_mb"].median())})
    table = pd.DataFrame(rows).set_index("server")
    table.attrs["limits"] = limits
    return table, frames


# -- 6. what patching cannot fix -------------------------------------------------------------------

def hub_lag(job_ms: float, *, interval_ms: float = 5.0, scenarios: Sequence[str] = LAG_SCENARIOS,
            timeout_s: float = 120.0) -> pd.DataFrame:
    """The gevent hub's lag, in a patched child, while one greenlet does a ``job_ms`` job each way.

    A heartbeat greenlet asks to wake every ``interval_ms`` and records how late it woke, as notebook
    04's heartbeat does for the asyncio loop. Scenarios: see ``LAG_SCENARIOS`` (cooperative waits, CPU
    work, a blocking C call through ctypes, and the fixes: gevent's threadpool, a process pool).
    Returns one row per beat: scenario, t_s (since the job started), lag_ms, during_job;
    ``attrs``: jobs (job_s per scenario), job_ms, interval_ms, threadpool_size, process_pool.
    """
    job_ms = checks.number("job_ms", job_ms, low=0, high=5000, allow_low=False)
    interval_ms = checks.number("interval_ms", interval_ms, low=0, high=1000, allow_low=False)
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError(f"scenarios must name at least one of {LAG_SCENARIOS}")
    for s in scenarios:
        checks.choice("scenario", s, LAG_SCENARIOS)
    d = _child("lag", {"job_ms": job_ms, "interval_ms": interval_ms, "scenarios": scenarios,
                       "start_method": "fork"}, timeout_s=timeout_s)
    df = pd.DataFrame(d["rows"], columns=["scenario", "t_s", "lag_ms", "during_job"])
    df.attrs.update({k: d[k] for k in ("jobs", "job_ms", "interval_ms", "threadpool_size", "process_pool")})
    return df


def lag_table(lag: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: job_s (its wall time), max_lag_ms and median_lag_ms of the beats during the job."""
    during = lag[lag["during_job"]]
    order = list(dict.fromkeys(lag["scenario"]))
    return pd.DataFrame({
        "job_s": {s: lag.attrs["jobs"][s]["job_s"] for s in order},
        "max_lag_ms": during.groupby("scenario")["lag_ms"].max(),
        "median_lag_ms": during.groupby("scenario")["lag_ms"].median(),
        "beats": during.groupby("scenario")["lag_ms"].size(),
    }).loc[order]


# -- 7. what a greenlet costs -----------------------------------------------------------------------

def _check_counts(counts: Sequence[int], upper: int) -> list[int]:
    counts = [checks.count("each count", c, upper) for c in counts]
    if len(counts) < 2 or counts != sorted(set(counts)):
        raise ValueError(f"counts must be at least two rising numbers, got {counts}")
    return counts


def parked_cost(what: str, counts: Sequence[int], *, timeout_s: float = 120.0) -> pd.DataFrame:
    """Memory of a fresh (unpatched) child as it parks more and more greenlets or OS threads.

    ``what``: "greenlet" (``gevent.spawn``, parked on a gevent Event) or "thread"
    (``threading.Thread``, parked on a threading Event). ``counts`` rise; the
    child adds units up to each count and measures. Returns one row per count
    (0 first): what, count, rss_mb, uss_mb, create_us (per unit, for that step).
    ``attrs["stack_saved_mean_bytes"]``: a parked greenlet's saved C stack.
    """
    checks.choice("what", what, ("greenlet", "thread"))
    counts = _check_counts(counts, MAX_GREENLETS if what == "greenlet" else MAX_THREADS)
    d = _child("cost", {"what": what, "counts": counts}, timeout_s=timeout_s)
    df = pd.DataFrame(d["rows"])
    if (df["alive"] != df["count"]).any():
        raise RuntimeError(f"not every {what} was alive when measured: {df[['count', 'alive']].to_dict('records')}")
    df["rss_mb"] = df.pop("rss_bytes") / MB
    df["uss_mb"] = df.pop("uss_bytes") / MB
    df["create_us"] = df.pop("create_s") * 1e6
    df.attrs["stack_saved_mean_bytes"] = d["stack_saved_mean_bytes"]
    return df[["what", "count", "rss_mb", "uss_mb", "create_us"]]


def per_unit(cost: pd.DataFrame, column: str = "rss_mb") -> dict[str, float]:
    """The slope of memory against count (np.polyfit, degree 1): kib_each, r2; and create_us (median)."""
    if column not in cost.columns:
        raise ValueError(f"no column {column!r}; columns are {list(cost.columns)}")
    x, y = cost["count"].to_numpy(float), cost[column].to_numpy(float) * 1024  # KiB
    slope, icpt = np.polyfit(x, y, 1)
    fit = slope * x + icpt
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - fit) ** 2).sum()) / ss if ss > 0 else float("nan")
    return {"kib_each": float(slope), "r2": r2, "create_us": float(cost.loc[cost["count"] > 0, "create_us"].median())}


# -- exercises ---------------------------------------------------------------------------------------

_HINTS = {
    "time": "Hint: what does each greenlet wait on while the slow service answers, a timer or a socket? "
            "time=False leaves only time.sleep blocking.",
    "socket": "Hint: with socket=False, recv() on a socket is the real, blocking one: while one greenlet "
              "waits for its answer, the whole hub (every greenlet of the process) waits with it.",
}


def check_patch_prediction(answer: float | None, *, off: str, n: int = 10, ms: float = 100.0) -> bool | None:
    """Self-check: predict how many latencies ``n`` fetches of ``ms`` ms take under ``patch_all(<off>=False)``.

    ``answer`` in latencies (wall time / the latency). The expected value is measured now: a slow
    service and a patched child are started for it (nothing starts while ``answer`` is None). Prints
    the measurement and one line (and a hint when wrong); returns True, False or None.
    """
    from helpers import servers

    checks.choice("off", off, tuple(_HINTS))
    n = checks.count("n", n, MAX_FETCH)
    ms = checks.number("ms", ms, low=0, high=10_000, allow_low=False)
    if answer is None:
        return exercises.compare(None, 1.0)
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise TypeError(f"your answer should be a number of latencies, not {type(answer).__name__}")
    with servers.SlowService(key="nb06-exercise") as svc:
        df = fetch_gevent(svc.url("/io", ms=ms), n, off=(off,))
    expected = df.attrs["wall_s"] / (ms / 1000)
    print(f"measured: {n} fetches under patch_all({off}=False) took {expected:.2f} latencies")
    ok = exercises.compare(answer, expected, tolerance=0.35, unit="latencies")
    if not ok:
        print(_HINTS[off])
    return ok


def expected_memory_mb(cost: pd.DataFrame, count: int) -> float:
    """Memory in MB that ``count`` more parked units take, from the slope measured in ``cost``."""
    count = checks.count("count", count, 10_000_000)
    return per_unit(cost)["kib_each"] * count / 1024


def check_memory_prediction(answer: float | None, cost: pd.DataFrame, count: int) -> bool | None:
    """Self-check: MB that ``count`` more parked greenlets (or threads, by ``cost``) take, from the measured slope."""
    expected = expected_memory_mb(cost, count)
    ok = exercises.compare(answer, expected, tolerance=0.25, unit="MB")
    if ok is False:
        print("Hint: multiply the slope (KiB each, printed in section 7) by the count, and divide by 1024.")
    return ok


# -- eventlet and meinheld: what is on this machine ----------------------------------------------------

def greenlet_family() -> pd.DataFrame:
    """The greenlet libraries and gunicorn's greenlet workers as found on this machine (nothing installed).

    One row each: package, installed (version or None), gunicorn_worker (does this gunicorn ship it?).
    """
    import importlib.metadata as md
    import importlib.util

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    def has(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    lo, hi = system.supported_pythons()
    rows = [
        {"package": "greenlet", "installed": version("greenlet"), "gunicorn_worker": None},
        {"package": "gevent", "installed": version("gevent"), "gunicorn_worker": has("gunicorn.workers.ggevent")},
        {"package": "eventlet", "installed": version("eventlet"), "gunicorn_worker": has("gunicorn.workers.geventlet")},
        {"package": "meinheld", "installed": version("meinheld"), "gunicorn_worker": has("meinheld.gmeinheld")},
    ]
    df = pd.DataFrame(rows).set_index("package")
    df.attrs.update({"gunicorn": version("gunicorn"), "supported_pythons": f"{lo[0]}.{lo[1]}-{hi[0]}.{hi[1]}"})
    return df


def children() -> list[str]:
    """Command lines of child processes of this process that are still running (should be [])."""
    import psutil

    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            out.append(" ".join(p.cmdline()[:4]))
        except psutil.Error:
            pass
    return out
