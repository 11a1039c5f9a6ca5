"""One request, timed: the blocking (requests) and the asyncio (aiohttp) way.

Both return the same record, so blocking and async runs land in the same
table: t_send and t_done (client clock, perf_counter seconds), latency_s,
status, error, and what the server said about itself (server_pid,
server_thread, server_start, server_end) when it answers with the slow
service's JSON. ``helpers.core.timing.request_frame`` turns a list of them
into the per-request DataFrame.

``blocking_clients`` is the one thread-pool HTTP client: ``threads`` OS
threads, each with its own requests.Session, send ``n`` requests between them
(closed loop). The load generator's "requests" client and the lessons' thread
pools both use it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any, Callable

SERVER_FIELDS = {"pid": "server_pid", "thread": "server_thread", "start": "server_start", "end": "server_end"}


def record(t_send: float, status: int | None, body: bytes | None, error: str | None,
           t_done: float | None = None) -> dict[str, Any]:
    """The record of one request (``t_done`` defaults to now). The body is parsed here: a hot
    loop can keep the raw bytes and call this after its clock has stopped."""
    if t_done is None:
        t_done = time.perf_counter()
    rec: dict[str, Any] = {
        "t_send": t_send,
        "t_done": t_done,
        "latency_s": t_done - t_send,
        "status": status,
        "error": error,
    }
    if body:
        try:
            info = json.loads(body)
        except ValueError:
            info = None
        if isinstance(info, dict):
            for src, dst in SERVER_FIELDS.items():
                if src in info:
                    rec[dst] = info[src]
    return rec


def get_blocking(url: str, session=None, timeout_s: float = 30.0) -> dict[str, Any]:
    """GET ``url`` with requests (blocking this thread until the answer is in)."""
    import requests

    getter = session if session is not None else requests
    t_send = time.perf_counter()
    try:
        r = getter.get(url, timeout=timeout_s)
        return record(t_send, r.status_code, r.content, None)
    except requests.RequestException as e:
        return record(t_send, None, None, f"{type(e).__name__}: {e}")


async def get_async(session, url: str) -> dict[str, Any]:
    """GET ``url`` with an aiohttp ClientSession (gives the event loop back while waiting)."""
    import asyncio

    import aiohttp

    t_send = time.perf_counter()
    try:
        async with session.get(url) as r:
            body = await r.read()
            return record(t_send, r.status, body, None)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        return record(t_send, None, None, f"{type(e).__name__}: {e}")


def blocking_clients(
    url: str,
    n: int,
    threads: int,
    *,
    timeout_s: float = 30.0,
    session_per_thread: bool = True,
    keepalive: bool = True,
    start_gate: Callable[[], float] | None = None,
) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """Send ``n`` blocking GETs to ``url`` from ``threads`` OS threads; return ``(rows, t0, limits)``.

    Closed loop: every thread takes the next request index (0..n-1) from a
    shared counter, sends it, waits for the answer, and takes the next, until
    all ``n`` are taken; so all ``n`` are queued at ``t0`` and at most
    ``threads`` are in flight. With ``session_per_thread`` each thread has its
    own ``requests.Session`` with one pooled, kept-alive connection (an
    explicit ``HTTPAdapter(pool_maxsize=1, max_retries=0)``: requests' own
    pool of 10 never caps it, and nothing is retried behind the clock's
    back); without it every request opens its own connection. ``keepalive=False``
    sends ``Connection: close``.

    The threads are started and ready before the clock starts: ``t0`` is
    ``time.perf_counter()`` then, or what ``start_gate()`` returns (the load
    generator's processes use it to agree on one start instant; it is
    called once every thread is ready and may wait).

    Each row: request, client (thread index 0..threads-1), thread (its
    ident), t_send, t_done, latency_s, status, error, and the server fields
    when the server says them (see ``record``). Rows are in completion
    order; times are raw ``perf_counter`` seconds: pass rows and t0 to
    ``helpers.core.timing.request_frame``. Any exception that is not a
    request error (a bug) is raised here after every thread has stopped.
    """
    import requests
    from requests.adapters import HTTPAdapter

    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    counter = itertools.count()
    lock = threading.Lock()
    rows: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    aborted = False

    def client(cid: int) -> None:
        session = None
        try:
            if session_per_thread:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                if not keepalive:
                    session.headers["Connection"] = "close"
            ident = threading.get_ident()
            ready.wait()
            go.wait()
            while not aborted:
                with lock:
                    i = next(counter)
                if i >= n:
                    return
                rec = get_blocking(url, session, timeout_s)
                rec["request"], rec["client"], rec["thread"] = i, cid, ident
                rows.append(rec)
        except threading.BrokenBarrierError:
            pass
        except BaseException as e:  # a bug, not a request error: report it after the join
            failures.append(e)
        finally:
            if session is not None:
                session.close()

    workers = [threading.Thread(target=client, args=(k,), name=f"blocking-client-{k}", daemon=True)
               for k in range(threads)]
    for t in workers:
        t.start()
    try:
        ready.wait()
        t0 = start_gate() if start_gate is not None else time.perf_counter()
    except BaseException:
        aborted = True
        ready.abort()
        raise
    finally:
        go.set()
    for t in workers:
        t.join()
    if failures:
        raise failures[0]
    limits = {
        "http_client": "requests, one Session per thread" if session_per_thread else "requests, a new connection per request",
        "threads": threads,
        "connection_limit": threads,
        "pool_maxsize_per_client": 1 if session_per_thread else 0,
        "max_retries": 0,
        "keepalive": bool(keepalive) and session_per_thread,
    }
    return rows, t0, limits
