"""Load generation: N requests from C concurrent clients, closed loop.

``run_load`` runs the clients in a separate process (``helpers.loadgen``), so
the load generator never shares a process or a GIL with the notebook kernel or
the server. It returns one row per request as a pandas DataFrame; every limit
that could cap the run is set explicitly and stored in ``df.attrs["limits"]``.

Two clients, because the lessons contrast them:

- ``"aiohttp"``: one thread, one event loop, one coroutine per client, an
  explicit connection limit (aiohttp's own default would be 100).
- ``"requests"``: one OS thread per client, each with its own session and one
  pooled connection (requests' own default pool holds 10).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd

from helpers import checks

CLIENTS = ("aiohttp", "requests")
MAX_CONCURRENCY = 10_000
FD_MARGIN = 64  # files a Python process holds open besides its sockets


def open_file_limit() -> tuple[int | None, int | None]:
    """(soft, hard) open-file limit of this process; (None, None) where unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return (None, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return (None if soft == inf else soft, None if hard == inf else hard)


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
) -> pd.DataFrame:
    """Send ``requests`` GETs to ``url`` from ``concurrency`` closed-loop clients.

    Each client sends its next request as soon as its previous one is answered.
    ``connection_limit`` (aiohttp only) defaults to ``concurrency``. With
    ``warm`` (aiohttp only, and only with keep-alive) the client opens its
    connections before the clock starts, so the run measures the server rather
    than a burst of TCP handshakes.
    ``timeout_s`` bounds each request, ``deadline_s`` the whole run (default:
    generous, from the number of rounds). Times are seconds since the run's
    start on the client's clock; the server's times are on the same clock.

    Returns a DataFrame, one row per request, sorted by send time, with columns
    request, client, t_send, t_done, latency_s, status, error, server_pid,
    server_thread, server_start, server_end, wait_s (sent until the handler
    started) and service_s (handler start to end). ``df.attrs["limits"]`` holds
    every limit in force.
    """
    checks.loopback_url(url)
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {CLIENTS}, got {client!r}")
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be a positive int, got {requests!r}")
    check_concurrency(concurrency)
    if connection_limit is None:
        connection_limit = concurrency
    if client == "requests" and connection_limit != concurrency:
        raise ValueError("the requests client uses exactly one connection per client; leave connection_limit unset")
    if isinstance(connection_limit, bool) or not isinstance(connection_limit, int) or connection_limit < 1:
        raise ValueError(f"connection_limit must be a positive int, got {connection_limit!r}")
    if not (0 < timeout_s <= 600):
        raise ValueError(f"timeout_s must be in (0, 600] seconds, got {timeout_s!r}")
    if deadline_s is None:
        deadline_s = 30.0 + timeout_s * math.ceil(requests / concurrency)
    spec = {
        "url": url,
        "requests": requests,
        "concurrency": concurrency,
        "client": client,
        "connection_limit": connection_limit,
        "keepalive": bool(keepalive),
        "timeout_s": float(timeout_s),
        "warm_url": _root(url) if (warm and keepalive and client == "aiohttp") else None,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "helpers.loadgen"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=deadline_s,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(
            f"the load generator did not finish {requests} requests within {deadline_s:g} s; "
            "lower the load or raise deadline_s"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    return _frame(out["rows"], out["meta"])


def _root(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _frame(rows: list[dict], meta: dict) -> pd.DataFrame:
    cols = ["request", "client", "t_send", "t_done", "latency_s", "status", "error",
            "server_pid", "server_thread", "server_start", "server_end"]
    df = pd.DataFrame(rows).reindex(columns=cols)
    t0 = meta["t_start"]
    for c in ("t_send", "t_done", "server_start", "server_end"):
        df[c] = df[c] - t0
    df["wait_s"] = df["server_start"] - df["t_send"]
    df["service_s"] = df["server_end"] - df["server_start"]
    df = df.sort_values("t_send", kind="stable").reset_index(drop=True)
    limits = {k: v for k, v in meta.items() if k not in ("t_start",)}
    limits["loadgen_cpu_share"] = meta["loadgen_cpu_s"] / meta["wall_s"] if meta["wall_s"] > 0 else float("nan")
    df.attrs["limits"] = limits
    return df
