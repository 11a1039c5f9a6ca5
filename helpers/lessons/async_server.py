"""Notebook 05's experiments: the async server beside the sync one, each run with its model.

Models (pure functions, times in seconds, throughputs in requests/s):

- ``sync_burst_latencies_s``: n requests arriving at once on W sync workers
  finish in rounds: request i after ceil(i / W) latencies (the staircase).
- ``burst_time_s``: one event loop holds n waiting requests at once, but it
  does each request's own CPU work (parse, handler, upstream call, answer) one
  after another: the batch takes L + n * cpu_per_request.
- ``pool_throughput_rps``: k "database connections" held L seconds each cap a
  process at k / L.
- ``throughput_rps`` and ``cpu_use``: requests of T = c + w seconds (CPU share
  s = c / T) on sync workers, one async process, or a hybrid (one async
  process per core), under C closed-loop clients on P cores.
- ``model_crossover``: the CPU share where one async process stops beating
  the sync workers.

Experiments (each starts its servers in ``with`` blocks, or takes a running
one, and shows progress): ``burst``, ``side_by_side``, ``db_sweep``,
``block_vs_fix``, ``hybrid_sweep``, ``share_sweep``, ``harness_rate``. The
load always comes from ``helpers.load.run_load`` with the "raw" client (the
fastest the course has), in its own process.

Exercises: ``check_hybrid_prediction``, ``check_pool_size``,
``check_crossover`` compute their expected answers here, from the models.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from helpers import load
from helpers.core import exercises, plots, timing
from helpers.core.progress import bar as progress_bar  # these functions take a `progress` flag
from helpers.core.system import open_file_limit
from helpers.servers import AiohttpServer, Gunicorn

KINDS = ("sync", "async", "hybrid")
CLIENT = "raw"  # the load generator's fastest client: it must never be the bottleneck
FD_MARGIN = 64  # files a Python process holds besides its sockets
BIG_BURST = 10_000


# ----------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------
def _pos_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


def _pos_float(name: str, v: Any, *, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, not {type(v).__name__}")
    f = float(v)
    if not (f > 0 or (allow_zero and f == 0)) or math.isinf(f):
        raise ValueError(f"{name} must be a number {'>=' if allow_zero else '>'} 0, got {v!r}")
    return f


def _share(s: Any) -> float:
    if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)):
        raise TypeError(f"the CPU share s must be a number, not {type(s).__name__}")
    if not (0.0 <= float(s) <= 1.0):
        raise ValueError(f"the CPU share s must be from 0 to 1, got {s!r}")
    return float(s)


def _kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------
def sync_burst_latencies_s(n: int, workers: int, latency_s: float) -> np.ndarray:
    """Latency (s) of each of ``n`` requests that arrive at once on ``workers`` sync workers.

    Served in rounds of ``workers``: request i (1-based) finishes after
    ceil(i / workers) latencies. Returns an array of n latencies, sorted.
    """
    n, w = _pos_int("n", n), _pos_int("workers", workers)
    latency_s = _pos_float("latency_s", latency_s)
    return np.ceil(np.arange(1, n + 1) / w) * latency_s


def burst_time_s(n: int, latency_s: float, cpu_per_request_s: float = 0.0) -> float:
    """Time (s) one event loop needs for ``n`` requests that arrive at once and each wait ``latency_s``.

    The waits overlap; the loop's own work for each request (``cpu_per_request_s``:
    parsing, the handler, the upstream call, the answer) does not, it is done
    one request after another on one thread: ``latency_s + n * cpu_per_request_s``.
    """
    n = _pos_int("n", n)
    return _pos_float("latency_s", latency_s) + n * _pos_float("cpu_per_request_s", cpu_per_request_s, allow_zero=True)


def pool_throughput_rps(k: int, hold_s: float, processes: int = 1) -> float:
    """Throughput cap (requests/s) of a pool of ``k`` connections per process, each held ``hold_s``."""
    return _pos_int("k", k) * _pos_int("processes", processes) / _pos_float("hold_s", hold_s)


def pool_size_needed(rate_rps: float, hold_s: float) -> int:
    """Smallest pool (connections) that lets one process sustain ``rate_rps`` with holds of ``hold_s``."""
    return math.ceil(_pos_float("rate_rps", rate_rps) * _pos_float("hold_s", hold_s) - 1e-9)


def mix_ms(s: float, total_ms: float) -> tuple[float, float]:
    """(cpu_ms, io_ms) of a /mix request of ``total_ms`` milliseconds with CPU share ``s``."""
    s, total = _share(s), _pos_float("total_ms", total_ms)
    cpu = round(s * total, 3)
    return cpu, round(total - cpu, 3)


def _capacity(kind: str, clients: int, workers: int | None, cores: int) -> tuple[int, int]:
    """(requests that can wait at once, processes that can compute at once) of a server kind."""
    c, p = _pos_int("clients", clients), _pos_int("cores", cores)
    if kind == "sync":
        n = _pos_int("workers", workers)
        return min(c, n), min(n, p)
    if kind == "async":
        return c, 1
    h = p if workers is None else _pos_int("workers", workers)
    return c, min(h, p)


def throughput_rps(kind: str, s: float, *, total_s: float, clients: int, cores: int,
                   workers: int | None = None) -> float:
    """Model throughput (requests/s) of requests of ``total_s`` seconds with CPU share ``s``.

    c = s * T of CPU and w = T - c of waiting per request; C closed-loop
    ``clients``; P ``cores``.

    - ``"sync"``: N = ``workers`` processes of one request each:
      min(min(C, N) / T, min(N, P) / c), which is min(N / T, P / c) when C >= N >= P.
    - ``"async"``: one process, one loop: every client's request can wait at
      once, but it computes on one core: min(C / T, 1 / c).
    - ``"hybrid"``: H = ``workers`` async processes (default P): min(C / T, min(H, P) / c),
      which is min(C / T, P / c) for H = P.
    """
    _kind(kind)
    s, t = _share(s), _pos_float("total_s", total_s)
    waiting, computing = _capacity(kind, clients, workers, cores)
    io_bound = waiting / t
    if s == 0:
        return io_bound
    return min(io_bound, computing / (s * t))


def cpu_use(kind: str, s: float, *, clients: int, cores: int, workers: int | None = None) -> float:
    """Model CPU utilisation (0 to 1, share of all ``cores``) of the server at the model throughput.

    Throughput x c / P, which works out without T:

    - sync: min(min(C, N) * s, min(N, P)) / P, i.e. min(1, N * s / P) when C >= N >= P;
    - async (one process): min(C * s, 1) / P: it can never use more than one core,
      so at most 1 / P of the machine (not min(1, C * s / P));
    - hybrid (H = P processes): min(C * s, P) / P = min(1, C * s / P).
    """
    _kind(kind)
    s = _share(s)
    waiting, computing = _capacity(kind, clients, workers, cores)
    return min(waiting * s, computing) / _pos_int("cores", cores)


def model_crossover(*, clients: int, workers: int, cores: int, against: str = "async") -> float:
    """The smallest CPU share s at which ``against`` ("async" or "hybrid") no longer beats N sync workers.

    For one async process and C > N this is s = 1 / N (its one core runs out
    when N workers would still be waiting); for the hybrid (one per core) it
    is s = P / N, where the sync workers' cores run out too and both are
    CPU-bound. Found numerically from ``throughput_rps`` (to 1e-6); 0 if
    ``against`` never beats sync.
    """
    if against not in ("async", "hybrid"):
        raise ValueError(f"against must be 'async' or 'hybrid', got {against!r}")

    def ahead(s: float) -> bool:
        a = throughput_rps(against, s, total_s=1.0, clients=clients, cores=cores)
        b = throughput_rps("sync", s, total_s=1.0, clients=clients, cores=cores, workers=workers)
        return a > b * (1 + 1e-9)

    if not ahead(0.0):
        return 0.0
    if ahead(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-7:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ahead(mid) else (lo, mid)
    return round(hi, 6)


def measured_crossover(shares: Sequence[float], ratio: Sequence[float]) -> float:
    """Where a measured ratio (async/sync) first falls to 1 or below, by linear interpolation in s.

    NaN if it never does (always ahead), ``shares[0]`` if it starts at or below 1.
    """
    s = np.asarray(shares, dtype=float)
    r = np.asarray(ratio, dtype=float)
    if s.shape != r.shape or s.size < 1:
        raise ValueError("shares and ratio must be sequences of the same, non-zero length")
    order = np.argsort(s)
    s, r = s[order], r[order]
    if r[0] <= 1:
        return float(s[0])
    for i in range(1, len(s)):
        if r[i] <= 1:
            return float(s[i - 1] + (r[i - 1] - 1) / (r[i - 1] - r[i]) * (s[i] - s[i - 1]))
    return float("nan")


# ----------------------------------------------------------------------------
# reading the server's own records
# ----------------------------------------------------------------------------
def in_flight(df: pd.DataFrame) -> pd.DataFrame:
    """How many requests were inside a handler over time: columns t_s and in_flight (a step curve).

    From each answered request's ``server_start`` and ``server_end`` (for
    /db, the time it held a connection).
    """
    ok = df.dropna(subset=["server_start", "server_end"])
    t = np.concatenate([ok["server_start"].to_numpy(), ok["server_end"].to_numpy()])
    step = np.concatenate([np.ones(len(ok)), -np.ones(len(ok))])
    order = np.lexsort((step, t))  # at equal times an end comes before a start
    return pd.DataFrame({"t_s": np.concatenate([[0.0], t[order]]),
                         "in_flight": np.concatenate([[0], np.cumsum(step[order])]).astype(int)})


peak_in_flight = timing.peak_in_flight  # the one copy lives in core.timing


class MemorySampler:
    """Samples a server's memory (summed over its processes) from a thread while a block runs.

    ``with MemorySampler(srv, interval_s=0.05) as m: run_load(...)``; then
    ``m.frame()`` (t_s, rss_mb, uss_mb) and ``m.peak_uss_mb``. The kernel's
    thread only waits between samples (run_load waits on its own process),
    so sampling does not disturb the measurement.
    """

    def __init__(self, server, interval_s: float = 0.05) -> None:
        self.server = server
        self.interval_s = _pos_float("interval_s", interval_s)
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        m = self.server.memory()
        if not m.empty:
            self.samples.append((time.perf_counter() - self._t0, float(m["rss_mb"].sum()), float(m["uss_mb"].sum())))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "MemorySampler":
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.samples, columns=["t_s", "rss_mb", "uss_mb"])

    @property
    def peak_uss_mb(self) -> float:
        return max((s[2] for s in self.samples), default=float("nan"))


# ----------------------------------------------------------------------------
# experiments
# ----------------------------------------------------------------------------
def big_burst_size(requested: int = BIG_BURST, hard_limit: int | None | str = "this machine") -> tuple[int | None, str]:
    """How many concurrent /io requests the open-file limit allows, up to ``requested``.

    An async server waiting on an upstream holds two sockets per request (the
    client's and its own to the upstream), so it needs about 2 n + margin
    open files; the load generator and the slow service need n + margin each.
    Returns (n, message): n = ``requested`` if it fits; otherwise the largest
    whole thousand that fits (None below 1,000), and the message says why
    ``requested`` was refused and how to raise the limit.
    """
    requested = _pos_int("requested", requested)
    hard = open_file_limit()[1] if hard_limit == "this machine" else hard_limit
    need = 2 * requested + 2 * FD_MARGIN
    if hard is None:
        return requested, f"{requested:,} concurrent requests: no open-file limit on this machine."
    if need <= hard:
        return requested, (f"{requested:,} concurrent requests need about {need:,} open files in the server; "
                           f"this machine allows {hard:,}.")
    fits = (hard - 2 * FD_MARGIN) // 2 // 1000 * 1000
    msg = (f"Refused: {requested:,} concurrent requests need about {need:,} open files in the server (one socket "
           f"to the client and one to the upstream per request), but this machine allows a process {hard:,} "
           f"(`ulimit -Hn`). Raise the hard limit and restart Jupyter to run them all.")
    if fits < 1000:
        return None, msg
    return fits, msg + f" Running the largest whole thousand that fits instead: {fits:,}."


def burst(srv, *, n: int, latency_ms: float, path: str = "/io", memory: bool = True,
          interval_s: float = 0.05, timeout_s: float = 60.0) -> pd.DataFrame:
    """``n`` clients send one request each to a running server, all at once; the server's memory is sampled meanwhile.

    Returns ``run_load``'s per-request table; ``attrs`` adds server_cpu_s
    (CPU seconds of all the server's processes during the run),
    memory_before_uss_mb, memory_peak_uss_mb, memory (the samples),
    server_limits and latency_ms.
    """
    n = _pos_int("n", n)
    url = srv.url(path, ms=latency_ms)
    before = srv.memory()
    cpu0 = srv.cpu_times()
    if memory:
        with MemorySampler(srv, interval_s) as m:
            df = load.run_load(url, requests=n, concurrency=n, client=CLIENT, timeout_s=timeout_s)
        samples, peak = m.frame(), m.peak_uss_mb
    else:
        df = load.run_load(url, requests=n, concurrency=n, client=CLIENT, timeout_s=timeout_s)
        samples, peak = pd.DataFrame(columns=["t_s", "rss_mb", "uss_mb"]), float("nan")
    df.attrs.update(server_cpu_s=srv.cpu_times() - cpu0, memory_before_uss_mb=float(before["uss_mb"].sum()),
                    memory_peak_uss_mb=peak, memory=samples, server_limits=dict(srv.limits),
                    latency_ms=float(latency_ms))
    return df


def burst_summary(df: pd.DataFrame) -> dict[str, Any]:
    """One row of facts about a ``burst``: who served it, how long it took, what it cost, against the model."""
    lat_s = df.attrs["latency_ms"] / 1000
    n = len(df)
    s = timing.summarize(df).iloc[0]
    cpu_per = df.attrs["server_cpu_s"] / n
    before, peak = df.attrs["memory_before_uss_mb"], df.attrs["memory_peak_uss_mb"]
    return {
        "requests": n, "errors": int(s["errors"]),
        "server_pids": int(df["server_pid"].nunique()), "server_threads": int(df["server_thread"].nunique()),
        "peak_in_flight": peak_in_flight(df),
        "duration_s": float(s["duration_s"]), "duration_latencies": float(s["duration_s"]) / lat_s,
        "model_s": burst_time_s(n, lat_s, cpu_per), "sync4_model_s": float(sync_burst_latencies_s(n, 4, lat_s)[-1]),
        "throughput_rps": float(s["throughput_rps"]),
        "p50_ms": float(s["p50_ms"]), "p99_ms": float(s["p99_ms"]),
        "server_cpu_ms_per_request": cpu_per * 1000,
        "uss_before_mb": before, "uss_peak_mb": peak, "kb_per_request": (peak - before) * 1024 / n,
        "loadgen_cpu_share": df.attrs["limits"]["loadgen_cpu_share"],
    }


def bursts(factories: Mapping[str, Callable[[], Any]], *, n: int, latency_ms: float,
           progress: bool = True) -> dict[str, pd.DataFrame]:
    """A ``burst`` of ``n`` on each server, each freshly started (so "before" is an idle, new process)."""
    if not factories:
        raise ValueError("factories must name at least one server: {label: lambda: servers.X(...)}")
    out = {}
    for label, make in progress_bar(list(factories.items()), desc=f"{n:,} at once", disable=not progress):
        with make() as srv:
            out[label] = burst(srv, n=n, latency_ms=latency_ms)
    return out


def one_client(srv, *, n: int, latency_ms: float, path: str = "/io") -> pd.DataFrame:
    """``n`` requests from one client, one after another, on an otherwise idle server (new connection each)."""
    return load.run_load(srv.url(path, ms=latency_ms), requests=_pos_int("n", n), concurrency=1,
                         client=CLIENT, keepalive=False)


def side_by_side(factories: Mapping[str, Callable[[], Any]], *, clients: int, latency_ms: float,
                 single_requests: int, single_ms: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Each server in turn (freshly started, alone on the machine): one client, then ``clients`` at once.

    The one client sends ``single_requests`` requests to /io?ms=``single_ms``
    (default ``latency_ms``) one after another; then ``clients`` clients send
    one request each to /io?ms=``latency_ms``, all at once.

    Returns {"single": per-request table of the one-client runs, "burst": per-request
    table of the ``clients`` burst (column ``server`` = the label in both),
    "limits": {label: server limits}, "load_limits": {label: the burst's load limits},
    "memory": {label: memory per process after the burst}}.
    """
    if not factories:
        raise ValueError("factories must name at least one server: {label: lambda: servers.X(...)}")
    clients = _pos_int("clients", clients)
    singles, bursts_, limits, load_limits, memory = [], [], {}, {}, {}
    for label, make in progress_bar(list(factories.items()), desc="servers", disable=not progress):
        with make() as srv:
            singles.append(one_client(srv, n=single_requests, latency_ms=latency_ms if single_ms is None else single_ms)
                           .assign(server=label))
            b = load.run_load(srv.url("/io", ms=latency_ms), requests=clients, concurrency=clients, client=CLIENT)
            bursts_.append(b.assign(server=label))
            limits[label], load_limits[label] = dict(srv.limits), dict(b.attrs["limits"])
            memory[label] = srv.memory()
    return {"single": pd.concat(singles, ignore_index=True), "burst": pd.concat(bursts_, ignore_index=True),
            "limits": limits, "load_limits": load_limits, "memory": memory}


def _requests_for(rate_rps: float, seconds: float, clients: int, most: int = 20_000, rounds: int = 2) -> int:
    """Requests for a run of about ``seconds`` at ``rate_rps``, and at least ``rounds`` per client."""
    return int(min(most, max(rounds * clients, round(rate_rps * seconds))))


def db_sweep(srv, ks: Iterable[int], *, ms: float, clients: int, seconds: float = 1.0,
             progress: bool = True) -> pd.DataFrame:
    """``clients`` closed-loop clients on /db?ms=&k= of a running server, for each pool size k.

    Each run lasts about ``seconds`` at the model's throughput k / L. Returns
    one row per k: k, clients, requests, throughput_rps, model_rps (k / L per
    process), measured_over_model, max_holding (most requests holding a
    connection at once, from the server's records), p50_ms, p99_ms, errors.
    """
    ks = [_pos_int("k", k) for k in ks]
    if not ks:
        raise ValueError("ks must list at least one pool size")
    clients, hold_s = _pos_int("clients", clients), _pos_float("ms", ms) / 1000
    procs = max(1, len(srv.worker_pids()))
    rows = []
    for k in progress_bar(ks, desc="pool sizes", disable=not progress):
        model = pool_throughput_rps(k, hold_s, procs)
        df = load.run_load(srv.url("/db", ms=ms, k=k), requests=_requests_for(model, seconds, clients),
                           concurrency=clients, client=CLIENT)
        s = timing.summarize(df).iloc[0]
        rows.append({"k": k, "clients": clients, "requests": len(df), "throughput_rps": float(s["throughput_rps"]),
                     "model_rps": model, "measured_over_model": float(s["throughput_rps"]) / model,
                     "max_holding": peak_in_flight(df), "p50_ms": float(s["p50_ms"]), "p99_ms": float(s["p99_ms"]),
                     "errors": int(s["errors"]), "loadgen_cpu_share": df.attrs["limits"]["loadgen_cpu_share"]})
    out = pd.DataFrame(rows)
    out.attrs["limits"] = dict(srv.limits)
    return out


BLOCK_ENDPOINTS = ("/block", "/io-thread", "/io")


def block_vs_fix(srv, *, n: int, ms: float, warm: bool = True,
                 progress: bool = True) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``n`` requests at once to /block (time.sleep in the handler), /io-thread and /io of a running async server.

    With ``warm``, the fixes first get one untimed round of n requests at 0 ms
    (the thread pool's threads and their upstream connections exist in a
    server that has been running a while).

    Returns (summary, frames): one summary row per endpoint with duration_s,
    model_s (n x L if the loop is blocked, L otherwise), peak_in_flight,
    p50_ms, p99_ms, errors; and each endpoint's per-request table.
    """
    n, lat_s = _pos_int("n", n), _pos_float("ms", ms) / 1000
    rows, frames = [], {}
    for path in progress_bar(BLOCK_ENDPOINTS, desc="endpoints", disable=not progress):
        if warm and path != "/block":
            load.run_load(srv.url(path, ms=0), requests=n, concurrency=n, client=CLIENT)
        df = load.run_load(srv.url(path, ms=ms), requests=n, concurrency=n, client=CLIENT)
        s = timing.summarize(df).iloc[0]
        frames[path] = df
        rows.append({"endpoint": path, "requests": n, "duration_s": float(s["duration_s"]),
                     "model_s": n * lat_s if path == "/block" else lat_s,
                     "duration_latencies": float(s["duration_s"]) / lat_s, "peak_in_flight": peak_in_flight(df),
                     "p50_ms": float(s["p50_ms"]), "p99_ms": float(s["p99_ms"]), "errors": int(s["errors"])})
    return pd.DataFrame(rows), frames


def _measure_mix(srv, *, cpu_ms: float, io_ms: float, clients: int, requests: int, cores: int) -> dict[str, Any]:
    """One closed-loop run on /mix; the server's CPU use over the run (share of all cores)."""
    c0 = srv.cpu_times()
    df = load.run_load(srv.url("/mix", cpu_ms=cpu_ms, io_ms=io_ms), requests=requests, concurrency=clients,
                       client=CLIENT, keepalive=False)
    cpu_s = srv.cpu_times() - c0
    wall = df.attrs["limits"]["wall_s"]
    s = timing.summarize(df).iloc[0]
    return {"requests": len(df), "throughput_rps": float(s["throughput_rps"]), "cpu_use": cpu_s / wall / cores,
            "server_cpu_ms_per_request": cpu_s / len(df) * 1000, "p50_ms": float(s["p50_ms"]),
            "p99_ms": float(s["p99_ms"]), "errors": int(s["errors"]),
            "processes_serving": int(df["server_pid"].nunique()),
            "busiest_process_share": float(df["server_pid"].value_counts(normalize=True).max()),
            "loadgen_cpu_share": df.attrs["limits"]["loadgen_cpu_share"]}


def hybrid_sweep(upstream: str, workers: Iterable[int], *, cpu_ms: float, io_ms: float, clients: int, cores: int,
                 seconds: float = 1.0, progress: bool = True) -> pd.DataFrame:
    """gunicorn with H aiohttp (uvloop) workers, for each H, on /mix?cpu_ms=&io_ms= from ``clients`` clients.

    Every request comes on a new connection, so the kernel's shared socket
    spreads them over the workers. Returns one row per H: workers,
    throughput_rps, model_rps (min(C / T, min(H, P) / c)), cpu_use,
    processes_serving, busiest_process_share, p50_ms, p99_ms, errors; the
    servers' limits in ``attrs["limits"]``.
    """
    hs = [_pos_int("workers", h) for h in workers]
    if not hs:
        raise ValueError("workers must list at least one worker count")
    total_s = (_pos_float("cpu_ms", cpu_ms, allow_zero=True) + _pos_float("io_ms", io_ms, allow_zero=True)) / 1000
    if total_s <= 0:
        raise ValueError("cpu_ms + io_ms must be more than 0 milliseconds")
    s_share = cpu_ms / 1000 / total_s
    rows, limits = [], {}
    for h in progress_bar(hs, desc="hybrid workers", disable=not progress):
        model = throughput_rps("hybrid", s_share, total_s=total_s, clients=clients, cores=cores, workers=h)
        with Gunicorn(workers=h, worker_class="aiohttp-uvloop", upstream=upstream, key="nb05-hybrid") as srv:
            r = _measure_mix(srv, cpu_ms=cpu_ms, io_ms=io_ms, clients=clients, cores=cores,
                             requests=_requests_for(model, seconds, clients))
            limits[h] = dict(srv.limits)
        rows.append({"workers": h, "clients": clients, **r, "model_rps": model})
    out = pd.DataFrame(rows)
    out.attrs["limits"] = limits
    return out


def share_servers(kind: str, upstream: str, *, sync_workers: int, cores: int):
    """The server of each kind in the CPU-share sweep (not yet started)."""
    kind = _kind(kind)
    if kind == "sync":
        return Gunicorn(workers=sync_workers, upstream=upstream, key="nb05-share-sync")
    if kind == "async":
        return AiohttpServer(upstream=upstream, loop="uvloop", key="nb05-share-async")
    return Gunicorn(workers=cores, worker_class="aiohttp-uvloop", upstream=upstream, key="nb05-share-hybrid")


def share_sweep(upstream: str, shares: Iterable[float], *, total_ms: float, clients: int, sync_workers: int,
                cores: int, seconds: float = 0.6, kinds: Sequence[str] = KINDS, progress: bool = True) -> pd.DataFrame:
    """Requests of ``total_ms`` with CPU share s, for each s, on sync workers, one async process and the hybrid.

    The same ``clients`` closed-loop clients on every server; every request
    on a new connection. Returns one row per (kind, s): kind, s, cpu_ms,
    io_ms, throughput_rps, model_rps, cpu_use (the server's CPU seconds /
    wall / cores), model_cpu_use, p50_ms, p99_ms, errors...; the servers'
    limits in ``attrs["limits"]`` (by kind).
    """
    shares = [_share(s) for s in shares]
    if not shares:
        raise ValueError("shares must list at least one CPU share")
    kinds = [_kind(k) for k in kinds]
    total_s = _pos_float("total_ms", total_ms) / 1000
    rows, limits = [], {}
    bar = progress_bar(total=len(kinds) * len(shares), desc="servers x CPU shares", disable=not progress)
    try:
        for kind in kinds:
            hw = sync_workers if kind == "sync" else (cores if kind == "hybrid" else None)
            with share_servers(kind, upstream, sync_workers=sync_workers, cores=cores) as srv:
                limits[kind] = dict(srv.limits)
                for s in shares:
                    cpu, io = mix_ms(s, total_ms)
                    model = throughput_rps(kind, s, total_s=total_s, clients=clients, cores=cores, workers=hw)
                    r = _measure_mix(srv, cpu_ms=cpu, io_ms=io, clients=clients, cores=cores,
                                     requests=_requests_for(model, seconds, clients, rounds=4))
                    # four rounds at least: an async worker that wakes to a queue of new connections accepts them
                    # all at once, so the first round can land on one hybrid worker; later rounds even it out
                    rows.append({"kind": kind, "s": s, "cpu_ms": cpu, "io_ms": io, **r, "model_rps": model,
                                 "model_cpu_use": cpu_use(kind, s, clients=clients, cores=cores, workers=hw)})
                    bar.update(1)
    finally:
        bar.close()
    out = pd.DataFrame(rows)
    out.attrs["limits"] = limits
    return out


def share_model(*, total_ms: float, clients: int, sync_workers: int, cores: int, points: int = 201) -> pd.DataFrame:
    """The CPU-share models on a fine grid of s from 0 to 1, for drawing: one row per (kind, s).

    Columns kind, s, model_rps, model_cpu_use, and model_over_sync (the
    kind's throughput over the sync workers').
    """
    total_s = _pos_float("total_ms", total_ms) / 1000
    points = _pos_int("points", points)
    rows = []
    for s in np.linspace(0.0, 1.0, max(points, 2)):
        sync = throughput_rps("sync", s, total_s=total_s, clients=clients, cores=cores, workers=sync_workers)
        for kind in KINDS:
            w = sync_workers if kind == "sync" else (cores if kind == "hybrid" else None)
            thr = throughput_rps(kind, s, total_s=total_s, clients=clients, cores=cores, workers=w)
            rows.append({"kind": kind, "s": float(s), "model_rps": thr,
                         "model_cpu_use": cpu_use(kind, s, clients=clients, cores=cores, workers=w),
                         "model_over_sync": thr / sync})
    return pd.DataFrame(rows)


def share_ratios(sweep: pd.DataFrame) -> pd.DataFrame:
    """From a ``share_sweep``: per s, the throughput ratios async/sync and hybrid/sync, measured and modelled."""
    wide = sweep.pivot(index="s", columns="kind", values="throughput_rps")
    model = sweep.pivot(index="s", columns="kind", values="model_rps")
    out = pd.DataFrame(index=wide.index)
    for k in ("async", "hybrid"):
        if k in wide and "sync" in wide:
            out[f"{k}_over_sync"] = wide[k] / wide["sync"]
            out[f"{k}_over_sync_model"] = model[k] / model["sync"]
    return out.reset_index()


def harness_rate(url: str, *, requests: int, concurrency: int) -> dict[str, float]:
    """The load generator's rate against an endpoint that does nothing (the slow service at 0 ms).

    Every request on a new connection, the generator's slower way (as in the
    sweeps): a lower bound of what it can send. Returns throughput_rps and
    loadgen_cpu_share.
    """
    df = load.run_load(url, requests=_pos_int("requests", requests), concurrency=_pos_int("concurrency", concurrency),
                       client=CLIENT, keepalive=False)
    s = timing.summarize(df).iloc[0]
    return {"throughput_rps": float(s["throughput_rps"]), "errors": int(s["errors"]),
            "loadgen_cpu_share": float(df.attrs["limits"]["loadgen_cpu_share"])}


# ----------------------------------------------------------------------------
# limits, statistics, pictures
# ----------------------------------------------------------------------------
def caps(label: str, server_limits: Mapping[str, Any], load_limits: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One row of every cap that could limit a run: the server's and the load generator's."""
    g = server_limits.get
    row = {
        "server": label,
        "processes serving": g("workers"),
        "requests at once (server cap)": g("concurrent_requests_max") or "none (a task per connection)",
        "listen backlog": g("listen_backlog_effective"),
        "open files": g("open_files"),
        "worker_connections": (f"{g('worker_connections')} ({'enforced' if g('worker_connections_enforced') else 'not enforced'})"
                               if g("worker_connections") else "n/a"),
        "keep-alive (s)": g("keepalive_s"),
        "loop": g("loop"),
        "HTTP parser": g("http_parser"),
        "access log": "on" if g("access_log") else "off",
        "upstream connections": g("upstream_connection_limit") or g("upstream_pool"),
    }
    if load_limits:
        row.update({"client": load_limits.get("client"), "client connections": load_limits.get("connection_limit"),
                    "client keep-alive": load_limits.get("keepalive"),
                    "client open files": load_limits.get("loadgen_open_files")})
    return row


def caps_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``caps`` rows as a table, one column per server (easier to read than one row each)."""
    df = pd.DataFrame(list(rows)).set_index("server").T
    df.columns.name = None
    return df.astype(str)


def median_difference(a: Sequence[float], b: Sequence[float], *, reps: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict[str, float]:
    """median(a) - median(b) with a bootstrap interval (``level``, fixed ``seed``: the same data give the same answer)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("each sample needs at least two values")
    if not (0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    da = np.median(rng.choice(a, size=(reps, a.size)), axis=1)
    db = np.median(rng.choice(b, size=(reps, b.size)), axis=1)
    d = da - db
    q = (1 - level) / 2
    return {"diff": float(np.median(a) - np.median(b)), "lo": float(np.quantile(d, q)), "hi": float(np.quantile(d, 1 - q))}


def plot_ecdf(latencies_ms: Mapping[str, Sequence[float]], *, models_ms: Mapping[str, Sequence[float]] | None = None,
              ax=None, title: str | None = None, logx: bool = True):
    """Latency distributions as ECDFs (share of requests answered within x ms), models dashed in the same colour."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=plots.FIGSIZE, layout="constrained")
    colours = {}
    for label, values in latencies_ms.items():
        v = np.sort(np.asarray(values, dtype=float))
        (line,) = ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", lw=1.8, label=label)
        colours[label] = line.get_color()
    for label, values in (models_ms or {}).items():
        v = np.sort(np.asarray(values, dtype=float))
        ax.step(v, np.arange(1, v.size + 1) / v.size, "--", where="post", lw=1,
                color=colours.get(label, plots.COLORS["model"]), label=f"model: {label}")
    if logx:
        ax.set_xscale("log")
        from matplotlib import ticker

        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(0, 1.02)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("share of requests answered")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return ax


# ----------------------------------------------------------------------------
# exercises
# ----------------------------------------------------------------------------
def hybrid_answer(*, total_ms: float, clients: int, cores: int, s: float = 0.5) -> float:
    """Exercise 1's expected answer: the model throughput (requests/s) of the hybrid (one process per core)."""
    return throughput_rps("hybrid", s, total_s=_pos_float("total_ms", total_ms) / 1000, clients=clients, cores=cores)


def check_hybrid_prediction(answer: float | None, *, total_ms: float, clients: int, cores: int,
                            s: float = 0.5) -> bool | None:
    """Exercise 1: is ``answer`` (requests/s) the hybrid's model throughput at CPU share ``s``? (within 15 %)"""
    return exercises.compare(answer, hybrid_answer(total_ms=total_ms, clients=clients, cores=cores, s=s),
                           tolerance=0.15, unit="requests/s")


def run_hybrid_at(upstream: str, *, s: float, total_ms: float, clients: int, cores: int,
                  seconds: float = 1.0) -> dict[str, Any]:
    """Exercise 1, then run it: the hybrid at CPU share ``s``, measured beside the model."""
    cpu, io = mix_ms(s, total_ms)
    model = hybrid_answer(total_ms=total_ms, clients=clients, cores=cores, s=s)
    with Gunicorn(workers=cores, worker_class="aiohttp-uvloop", upstream=upstream, key="nb05-exercise") as srv:
        r = _measure_mix(srv, cpu_ms=cpu, io_ms=io, clients=clients, cores=cores,
                         requests=_requests_for(model, seconds, clients))
    return {"s": s, "model_rps": model, **r, "measured_over_model": r["throughput_rps"] / model}


POOL_EXERCISE = {"rate_rps": 300.0, "hold_ms": 40.0}


def check_pool_size(answer: int | None) -> bool | None:
    """Exercise 2: the smallest /db pool for 300 requests/s with 40 ms holds, from one async process."""
    expected = pool_size_needed(POOL_EXERCISE["rate_rps"], POOL_EXERCISE["hold_ms"] / 1000)
    return exercises.compare(answer, expected, tolerance=0.0, unit="connections")


CROSSOVER_EXERCISE = {"clients": 64, "workers": 8}


def check_crossover(answer: float | None, *, cores: int) -> bool | None:
    """Exercise 3: the CPU share where one async process stops beating 8 sync workers under 64 clients."""
    expected = model_crossover(clients=CROSSOVER_EXERCISE["clients"], workers=CROSSOVER_EXERCISE["workers"],
                               cores=cores)
    return exercises.compare(answer, expected, tolerance=0.15, unit="")
