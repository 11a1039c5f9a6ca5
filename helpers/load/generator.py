"""Load generation: N requests from C concurrent clients, closed loop.

``run_load`` runs the clients in a separate process (``helpers.load.worker``), so
the load generator never shares a process or a GIL with the notebook kernel or
the server. It returns one row per request as a pandas DataFrame; every limit
that could cap the run is set explicitly and stored in ``df.attrs["limits"]``.

Three clients: two because the lessons contrast them, one for the ceiling:

- ``"aiohttp"``: one thread, one event loop, one coroutine per client, an
  explicit connection limit (aiohttp's own default would be 100).
- ``"requests"``: one OS thread per client, each with its own session and one
  pooled connection (requests' own default pool holds 10)
  (``helpers.load.clients.blocking_clients``).
- ``"raw"``: one event loop, one kept-alive HTTP/1.1 connection per client,
  written and parsed directly on asyncio protocols (httptools, the parser
  uvicorn uses): several times less CPU per request than aiohttp, so the
  generator stays clearly faster than the servers it measures.

``processes`` splits the clients and the requests across several generator
processes that start at one agreed instant; their rows are merged into one
table (unique request and client numbers, one t0).

``run_open_loop`` is the open-loop mode: requests arrive at random (Poisson)
instants at a given rate, whatever the server does, and each latency counts
from the instant the request was due (no coordinated omission).
"""

from __future__ import annotations

import math
import tempfile
import threading

import pandas as pd

from helpers.core import checks
from helpers.core.procs import run_child_json
from helpers.core.system import open_file_limit, usable_cores
from helpers.core.timing import request_frame

CLIENTS = ("aiohttp", "requests", "raw")
MAX_CONCURRENCY = 10_000
MAX_PROCESSES = 64
MAX_DEADLINE_S = 3600.0  # the longest a child process may run (helpers.core.procs.run_child)
FD_MARGIN = 64  # files a Python process holds open besides its sockets
COLUMNS = ("request", "client", "t_send", "t_done", "latency_s", "status", "error",
           "server_pid", "server_thread", "server_start", "server_end")
OPEN_COLUMNS = ("request", "client", "t_sched", "t_send", "t_done", "latency_s", "status", "error",
                "server_pid", "server_thread", "server_start", "server_end")
# One open-loop generator process (raw client, one event loop) is refused rates above this: each
# request may need its own TCP connection (gunicorn's sync workers close every one), and the
# generator must stay far from saturating its core, or its own lateness would dominate what it measures.
MAX_RATE_RPS = 2000.0


def check_concurrency(concurrency: int) -> None:
    """Refuse, with a clear message, a concurrency this machine cannot open sockets for."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, not {type(concurrency).__name__}")
    if not (1 <= concurrency <= MAX_CONCURRENCY):
        raise ValueError(f"concurrency must be from 1 to {MAX_CONCURRENCY}, got {concurrency}")
    _, hard = open_file_limit()
    need = concurrency + FD_MARGIN
    if hard is not None and need > hard:
        raise ValueError(
            f"{concurrency} concurrent connections need about {need} open files, but this machine "
            f"allows a process at most {hard} (see `ulimit -Hn`). Use at most "
            f"{hard - FD_MARGIN} clients, or raise the hard limit and restart Jupyter."
        )


def run_load(
    url: str,
    *,
    requests: int,
    concurrency: int,
    client: str = "aiohttp",
    connection_limit: int | None = None,
    keepalive: bool = True,
    warm: bool = True,
    timeout_s: float = 30.0,
    deadline_s: float | None = None,
    processes: int | str = 1,
) -> pd.DataFrame:
    """Send ``requests`` GETs to ``url`` from ``concurrency`` closed-loop clients.

    Each client sends its next request as soon as its previous one is answered.
    ``connection_limit`` (aiohttp only) defaults to ``concurrency``; the
    requests and raw clients use exactly one connection per client. With
    ``warm`` (aiohttp and raw, and only with keep-alive) the client opens its
    connections before the clock starts, so the run measures the server rather
    than a burst of TCP handshakes.
    ``timeout_s`` bounds each request, ``deadline_s`` the whole run (default:
    generous, from the number of rounds). Times are seconds since the run's
    start on the client's clock; the server's times are on the same clock.

    ``processes`` (default 1): how many generator processes share the clients
    and the requests (each gets a near-equal part of both, so each runs its
    own closed loop); they start together at one agreed instant, which is the
    table's t0. ``"auto"`` takes half the usable cores (the other half is left
    for the server), at least 1. One process is enough unless the generator's
    CPU (``attrs["limits"]["loadgen_cpu_share"]``) is near 100 %.

    Returns a DataFrame, one row per request, sorted by send time, with columns
    request, client, t_send, t_done, latency_s, status, error, server_pid,
    server_thread, server_start, server_end, wait_s (sent until the handler
    started) and service_s (handler start to end). ``df.attrs["limits"]`` holds
    every limit in force, ``generator_processes`` and each process's CPU share
    (``loadgen_cpu_shares``; ``loadgen_cpu_share`` is the busiest one's).
    """
    checks.loopback_url(url)
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {CLIENTS}, got {client!r}")
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be a positive int, got {requests!r}")
    check_concurrency(concurrency)
    if connection_limit is None:
        connection_limit = concurrency
    if client != "aiohttp" and connection_limit != concurrency:
        raise ValueError(f"the {client} client uses exactly one connection per client; leave connection_limit unset")
    if isinstance(connection_limit, bool) or not isinstance(connection_limit, int) or connection_limit < 1:
        raise ValueError(f"connection_limit must be a positive int, got {connection_limit!r}")
    if not (0 < timeout_s <= 600):
        raise ValueError(f"timeout_s must be in (0, 600] seconds, got {timeout_s!r}")
    procs = check_processes(processes, requests=requests, concurrency=concurrency,
                            connection_limit=connection_limit)
    if deadline_s is None:
        deadline_s = min(MAX_DEADLINE_S, 30.0 + 2.0 * procs + timeout_s * math.ceil(requests / concurrency))
    deadline_s = checks.seconds(deadline_s, "deadline_s", MAX_DEADLINE_S)
    base = {
        "url": url,
        "client": client,
        "keepalive": bool(keepalive),
        "timeout_s": float(timeout_s),
        "warm_url": _root(url) if (warm and keepalive and client != "requests") else None,
    }
    n_parts, c_parts = _split(requests, procs), _split(concurrency, procs)
    l_parts = _split(connection_limit, procs)
    specs, r_off, c_off = [], 0, 0
    for k in range(procs):
        specs.append({**base, "requests": n_parts[k], "concurrency": c_parts[k], "connection_limit": l_parts[k],
                      "request_offset": r_off, "client_offset": c_off})
        r_off, c_off = r_off + n_parts[k], c_off + c_parts[k]
    if procs == 1:
        outs = [_run_one(specs[0], deadline_s, requests)]
    else:
        with tempfile.TemporaryDirectory(prefix="course-loadgen-") as d:
            for k, sp in enumerate(specs):
                sp["barrier"] = {"dir": d, "index": k, "count": procs, "timeout_s": min(60.0, deadline_s)}
            outs = _run_many(specs, deadline_s, requests)
    return _merge(outs, processes)


def check_processes(processes, *, requests: int, concurrency: int, connection_limit: int | None = None) -> int:
    """The number of generator processes for ``processes`` (an int, or "auto"); a clear error otherwise."""
    most = min(requests, concurrency, connection_limit or concurrency, MAX_PROCESSES)
    if processes == "auto":
        return max(1, min(usable_cores() // 2, most))
    if isinstance(processes, bool) or not isinstance(processes, int):
        raise ValueError(f'processes must be a positive int or "auto", got {processes!r}')
    if not (1 <= processes <= most):
        raise ValueError(
            f"processes must be from 1 to {most} (each generator process needs at least one client, "
            f"one connection and one request; at most {MAX_PROCESSES}), got {processes}"
        )
    return processes


def _split(total: int, parts: int) -> list[int]:
    q, r = divmod(total, parts)
    return [q + (1 if k < r else 0) for k in range(parts)]


def _run_one(spec: dict, deadline_s: float, requests: int) -> dict:
    try:
        return run_child_json("helpers.load.worker", spec, what="the load generator", timeout_s=deadline_s)
    except TimeoutError:
        raise TimeoutError(
            f"the load generator did not finish {requests} requests within {deadline_s:g} s; "
            "lower the load or raise deadline_s"
        ) from None


def _run_many(specs: list[dict], deadline_s: float, requests: int) -> list[dict]:
    """Run every spec in its own generator process, all at once (the first in this thread)."""
    outs: list = [None] * len(specs)
    errors: list[BaseException] = []

    def one(k: int) -> None:
        try:
            outs[k] = _run_one(specs[k], deadline_s, requests)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(1, len(specs))]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    if errors:
        timeouts = [e for e in errors if isinstance(e, TimeoutError)]
        raise (timeouts or errors)[0]
    return outs


def _root(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


SUMMED = ("concurrency", "requests", "connection_limit", "limit_per_host", "loadgen_cpu_s")


def _merge(outs: list[dict], processes_requested) -> pd.DataFrame:
    """One table from every generator process: t0 is their common start."""
    metas = [o["meta"] for o in outs]
    rows = [r for o in outs for r in o["rows"]]
    t0 = min(m["t_start"] for m in metas)  # the same instant in every process (the start gate)
    df = request_frame(rows, t0, COLUMNS)
    limits = {k: v for k, v in metas[0].items() if k not in ("t_start", "start_late_s")}
    for k in SUMMED:
        if k in limits:
            limits[k] = sum(m[k] for m in metas)
    ends = [m["t_start"] + m["wall_s"] for m in metas]
    limits["wall_s"] = max(ends) - t0
    shares = [m["loadgen_cpu_s"] / m["wall_s"] if m["wall_s"] > 0 else float("nan") for m in metas]
    limits["loadgen_cpu_share"] = max(shares)
    limits["loadgen_cpu_shares"] = shares
    limits["generator_processes"] = len(metas)
    limits["generator_processes_requested"] = processes_requested
    limits["loadgen_pids"] = [m["loadgen_pid"] for m in metas]
    limits["generator_start_late_s"] = max(m.get("start_late_s", 0.0) for m in metas)
    limits["loadgen_open_files"] = min(m["loadgen_open_files"] for m in metas)
    df.attrs["limits"] = limits
    return df


# -- open loop: Poisson arrivals -------------------------------------------------------------
def poisson_schedule(rate_rps: float, requests: int, seed: int = 0) -> "np.ndarray":
    """When each of ``requests`` Poisson arrivals at ``rate_rps`` per second is due, in seconds from 0.

    The gaps between arrivals are independent exponentials of mean ``1 / rate_rps``, drawn
    from ``numpy.random.default_rng(seed)``: the same seed gives the same schedule. The first
    arrival is due one gap after 0. Returns a float array, increasing.
    """
    import numpy as np

    rate_rps = _rate(rate_rps)
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be a positive int, got {requests!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate_rps, requests))


def _rate(rate_rps) -> float:
    if isinstance(rate_rps, bool) or not isinstance(rate_rps, (int, float)) or not (0 < rate_rps <= MAX_RATE_RPS):
        raise ValueError(
            f"rate_rps must be a number of requests per second in (0, {MAX_RATE_RPS:g}], got {rate_rps!r}: one "
            "open-loop generator process cannot send faster and still keep to its schedule on this harness")
    return float(rate_rps)


def run_open_loop(
    url: str,
    *,
    rate_rps: float,
    requests: int,
    seed: int = 0,
    connection_limit: int | None = None,
    keepalive: bool = True,
    timeout_s: float = 30.0,
    deadline_s: float | None = None,
) -> pd.DataFrame:
    """Open loop: send ``requests`` GETs to ``url`` at Poisson instants, ``rate_rps`` per second on average.

    The schedule is ``poisson_schedule(rate_rps, requests, seed)``; each request is sent at its
    instant (never before; later if the generator falls behind) whatever happened to the earlier
    ones. ``latency_s`` is measured from the **scheduled** instant (``t_sched``), so any lateness of
    the generator, and any wait for a connection, counts: no coordinated omission.
    ``connection_limit`` caps the requests in flight (default: ``requests``, so no request ever
    waits for a free connection; refused if the machine's open-file limit cannot hold it). One
    generator process (the raw client: asyncio protocols parsed by httptools), no warm-up
    connections (a sync worker would sit on an idle one). ``timeout_s`` bounds each request,
    ``deadline_s`` the whole run (default: the schedule's length plus ``timeout_s`` plus 30 s).

    Returns one row per request, sorted by send time: request, client (which connection carried
    it), t_sched, t_send, t_done, latency_s (t_done - t_sched), status, error, the server's fields,
    send_late_s (t_send - t_sched: the generator's own lateness plus any wait for a connection),
    wait_s (server_start - t_sched: scheduled until the handler started) and service_s.
    ``attrs["limits"]`` holds mode, rate_rps, seed, connection_limit, connections_opened,
    max_in_flight, waited_for_connection (requests that found every connection busy),
    loadgen_cpu_share, send_late_p99_s and send_late_max_s.
    """
    checks.loopback_url(url)
    rate_rps = _rate(rate_rps)
    offsets = poisson_schedule(rate_rps, requests, seed)
    if connection_limit is None:
        connection_limit = min(requests, MAX_CONCURRENCY)
    if isinstance(connection_limit, bool) or not isinstance(connection_limit, int) or connection_limit < 1:
        raise ValueError(f"connection_limit must be a positive int, got {connection_limit!r}")
    check_concurrency(connection_limit)
    if not (0 < timeout_s <= 600):
        raise ValueError(f"timeout_s must be in (0, 600] seconds, got {timeout_s!r}")
    if deadline_s is None:
        deadline_s = min(MAX_DEADLINE_S, 30.0 + float(offsets[-1]) + timeout_s)
    deadline_s = checks.seconds(deadline_s, "deadline_s", MAX_DEADLINE_S)
    if float(offsets[-1]) >= deadline_s:
        raise ValueError(f"{requests} requests at {rate_rps:g}/s take about {offsets[-1]:.1f} s to send, longer "
                         f"than deadline_s = {deadline_s:g} s; send fewer or raise deadline_s")
    spec = {"url": url, "client": "raw", "keepalive": bool(keepalive), "timeout_s": float(timeout_s),
            "requests": requests, "concurrency": connection_limit, "connection_limit": connection_limit,
            "open_loop": {"rate_rps": rate_rps, "seed": seed, "offsets_s": [float(x) for x in offsets]}}
    out = _run_one(spec, deadline_s, requests)
    meta, t0 = out["meta"], out["meta"]["t_start"]
    df = request_frame(out["rows"], t0, OPEN_COLUMNS)
    df["t_sched"] = pd.to_numeric(df["t_sched"], errors="coerce") - t0
    df["latency_s"] = df["t_done"] - df["t_sched"]
    df["send_late_s"] = df["t_send"] - df["t_sched"]
    df["wait_s"] = df["server_start"] - df["t_sched"]
    limits = {k: v for k, v in meta.items() if k not in ("t_start",)}
    limits["generator_start_late_s"] = limits.pop("start_late_s", 0.0)
    limits["loadgen_cpu_share"] = meta["loadgen_cpu_s"] / meta["wall_s"] if meta["wall_s"] > 0 else float("nan")
    limits["generator_processes"] = 1
    limits["loadgen_pids"] = [meta["loadgen_pid"]]
    late = df["send_late_s"]
    limits["send_late_p99_s"] = float(late.quantile(0.99)) if len(late) else float("nan")
    limits["send_late_max_s"] = float(late.max()) if len(late) else float("nan")
    df.attrs["limits"] = limits
    return df
