"""The load generator's own process: ``python -m helpers.load.worker`` reads a JSON
spec on stdin and writes a JSON result on stdout. Use it through
``helpers.load.run_load`` (which may start several at once); this module is the
part that runs apart from the notebook kernel (and from the server), so the
load generator never shares a GIL with what it measures.

The hot loops only time and keep the raw answer; parsing the server's JSON
(its pid, thread and times) happens after the clock has stopped.

Several worker processes agree on one start instant through files in a shared
directory (``spec["barrier"]``): each one, once ready (client library
imported, connections open), writes its ``perf_counter()`` there; when all
have, every one starts at the latest of those instants plus a small margin.
``perf_counter`` is one system-wide clock (CLOCK_MONOTONIC on Linux, the
same on macOS and Windows), so the instant means the same in every process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path

from helpers.core.system import raise_open_file_limit

START_MARGIN_S = 0.05  # after the last process is ready: time for the others to see it
BARRIER_TIMEOUT_S = 60.0


# -- one start instant for every generator process ---------------------------
def start_gate(spec: dict) -> float:
    """Wait for the agreed start instant and return it (now, for a lone process)."""
    b = spec.get("barrier")
    if not b:
        return time.perf_counter()
    d, k, count = Path(b["dir"]), b["index"], b["count"]
    tmp = d / f".ready-{k}"
    tmp.write_text(repr(time.perf_counter()))
    os.replace(tmp, d / f"ready-{k}")
    deadline = time.monotonic() + b.get("timeout_s", BARRIER_TIMEOUT_S)
    while True:
        files = list(d.glob("ready-*"))
        if len(files) >= count:
            break
        if any(d.glob("failed-*")):
            raise RuntimeError("another load generator process failed before the start")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(files)} of {count} load generator processes were ready in time")
        time.sleep(0.001)
    start_at = max(float(f.read_text()) for f in files) + START_MARGIN_S
    while (left := start_at - time.perf_counter()) > 0.002:
        time.sleep(left - 0.002)
    while time.perf_counter() < start_at:
        pass
    spec["start_late_s"] = time.perf_counter() - start_at
    return start_at


def _mark_failed(spec: dict) -> None:
    b = spec.get("barrier")
    if b:
        try:
            (Path(b["dir"]) / f"failed-{b['index']}").write_text("failed")
        except OSError:
            pass


def _rows(raw: list[tuple], request_offset: int, client_offset: int) -> list[dict]:
    """Hot-loop tuples (i, cid, t_send, t_done, status, body, error) to records, after the clock."""
    from helpers.load.clients import record

    out = []
    for i, cid, t_send, t_done, status, body, error in raw:
        rec = record(t_send, status, body, error, t_done)
        rec["request"], rec["client"] = i + request_offset, cid + client_offset
        out.append(rec)
    return out


# -- the aiohttp client --------------------------------------------------------
async def run_aiohttp(spec: dict) -> tuple[list[tuple], dict]:
    """The aiohttp client: one coroutine per client on one session with an explicit connection limit."""
    import aiohttp
    import yarl

    n, c = spec["requests"], spec["concurrency"]
    url = yarl.URL(spec["url"])  # parsed once, not once per request
    limit = spec["connection_limit"]
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=not spec["keepalive"])
    timeout = aiohttp.ClientTimeout(total=spec["timeout_s"])
    counter = itertools.count()
    raw: list[tuple] = []
    errors = (aiohttp.ClientError, asyncio.TimeoutError)

    # No cookie jar (nothing here sets cookies) and no decompression: less work per request.
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    ) as session:

        if spec.get("warm_url"):
            # Open the connections before the clock starts: each client's first
            # request then measures the server, not the TCP handshake.
            async def touch() -> None:
                try:
                    async with session.get(spec["warm_url"]) as r:
                        await r.read()
                except errors:
                    pass

            await asyncio.gather(*(touch() for _ in range(min(c, limit))))
        spec["cpu0"], spec["t_start"] = time.process_time(), start_gate(spec)
        perf = time.perf_counter

        async def client(cid: int) -> None:
            while (i := next(counter)) < n:
                t_send = perf()
                try:
                    async with session.get(url) as r:
                        body = await r.read()
                    raw.append((i, cid, t_send, perf(), r.status, body, None))
                except errors as e:
                    raw.append((i, cid, t_send, perf(), None, None, f"{type(e).__name__}: {e}"))

        await asyncio.gather(*(client(k) for k in range(c)))
    return raw, {"connection_limit": limit, "limit_per_host": limit}


# -- the raw client: HTTP/1.1 on asyncio protocols, parsed by httptools ---------------
class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; ``request()`` returns a future of (status, body)."""

    def __init__(self, loop) -> None:
        import httptools

        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.parse_error = httptools.HttpParserError
        self.transport = None
        self.fut = None
        self.body: list[bytes] = []
        self.closed = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except self.parse_error as e:
            self._fail(e)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(exc or ConnectionResetError("the server closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        fut, self.fut = self.fut, None
        body, self.body = b"".join(self.body), []
        if not self.parser.should_keep_alive():
            self.close()
        if fut is not None and not fut.done():
            fut.set_result((self.parser.get_status_code(), body))

    # use
    def request(self, data: bytes):
        self.fut = self.loop.create_future()
        self.transport.write(data)
        return self.fut

    def _fail(self, exc: BaseException) -> None:
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(exc)
        self.close()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.abort()
        self.closed = True


def _request_bytes(spec: dict) -> tuple[str, int, bytes]:
    """(host, port, the GET request's bytes) for ``spec["url"]``, keep-alive unless ``spec["keepalive"]`` is off."""
    from urllib.parse import urlsplit

    parts = urlsplit(spec["url"])
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    head = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: course-loadgen\r\n"
    request = (head + ("" if spec["keepalive"] else "Connection: close\r\n") + "\r\n").encode()
    return parts.hostname, parts.port or 80, request


async def run_raw(spec: dict) -> tuple[list[tuple], dict]:
    """The raw client: one coroutine and one kept-alive connection (``_Connection``) per client."""
    from httptools import HttpParserError

    n, c = spec["requests"], spec["concurrency"]
    timeout_s = spec["timeout_s"]
    host, port, request = _request_bytes(spec)
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    raw: list[tuple] = []

    async def connect() -> _Connection:
        _, conn = await asyncio.wait_for(loop.create_connection(lambda: _Connection(loop), host, port), timeout_s)
        return conn

    conns: list[_Connection | None] = [None] * c
    if spec.get("warm_url"):
        # Open the connections and send one request on each before the clock
        # starts: then the server has accepted them all (a finished TCP
        # handshake alone only means the kernel queued the connection).
        _, _, warm_request = _request_bytes({"url": spec["warm_url"], "keepalive": True})

        async def open_one(k: int) -> None:
            try:
                conn = await connect()
                await asyncio.wait_for(conn.request(warm_request), timeout_s)
                conns[k] = None if conn.closed else conn
            except (OSError, asyncio.TimeoutError, HttpParserError):
                pass

        await asyncio.gather(*(open_one(k) for k in range(c)))
    spec["cpu0"], spec["t_start"] = time.process_time(), start_gate(spec)
    perf = time.perf_counter

    def expire(conn: _Connection) -> None:
        conn._fail(asyncio.TimeoutError(f"no answer within {timeout_s:g} s"))

    async def client(cid: int) -> None:
        conn = conns[cid]
        while (i := next(counter)) < n:
            t_send = perf()
            try:
                if conn is None or conn.closed:
                    conn = await connect()
                timer = loop.call_later(timeout_s, expire, conn)
                try:
                    status, body = await conn.request(request)
                finally:
                    timer.cancel()
                raw.append((i, cid, t_send, perf(), status, body, None))
            except (OSError, asyncio.TimeoutError, HttpParserError) as e:
                raw.append((i, cid, t_send, perf(), None, None, f"{type(e).__name__}: {e}"))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    await asyncio.gather(*(client(k) for k in range(c)))
    return raw, {"connection_limit": c, "pool_maxsize_per_client": 1}


# -- the requests client ---------------------------------------------------------
def run_requests(spec: dict) -> tuple[list[dict], dict]:
    """The requests client: ``helpers.load.clients.blocking_clients``, one thread per client."""
    from helpers.load.clients import blocking_clients

    def gate() -> float:  # every thread has its session: the clock starts here
        spec["cpu0"] = time.process_time()
        return start_gate(spec)

    rows, t0, limits = blocking_clients(
        spec["url"], spec["requests"], spec["concurrency"], timeout_s=spec["timeout_s"],
        keepalive=spec["keepalive"], start_gate=gate,
    )
    spec["t_start"] = t0
    for r in rows:
        r["request"] += spec.get("request_offset", 0)
        r["client"] += spec.get("client_offset", 0)
    return rows, {"connection_limit": limits["connection_limit"], "pool_maxsize_per_client": 1,
                  "max_retries": limits["max_retries"]}


def _loop_runner():
    """The harness uses uvloop when it is installed (it is not on Windows): the
    load generator should be the fastest part of every experiment."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def _import_client(kind: str) -> None:
    """Import the client library before the clock starts."""
    if kind == "aiohttp":
        import aiohttp  # noqa: F401
        import yarl  # noqa: F401
    elif kind == "raw":
        import httptools  # noqa: F401
    else:
        import requests  # noqa: F401


def main() -> None:
    """Read the spec on stdin, run it, write the result as JSON on stdout."""
    spec = json.load(sys.stdin)
    try:
        result = run_open(spec) if spec.get("open_loop") else run(spec)
    except BaseException:
        _mark_failed(spec)
        raise
    json.dump(result, sys.stdout)


def run(spec: dict) -> dict:
    """Run one generator process's share of the load; return {"meta": ..., "rows": ...}."""
    soft, hard = raise_open_file_limit(spec["concurrency"] + 64)
    _import_client(spec["client"])
    spec["cpu0"], spec["t_start"] = time.process_time(), time.perf_counter()
    if spec["client"] in ("aiohttp", "raw"):
        runner = _loop_runner()
        raw, limits = runner(run_aiohttp(spec) if spec["client"] == "aiohttp" else run_raw(spec))
        limits["client_loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    else:
        raw, limits = run_requests(spec)
    t_start = spec["t_start"]  # moved past the warm-up and the start gate
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - spec["cpu0"]
    if spec["client"] != "requests":
        rows = _rows(raw, spec.get("request_offset", 0), spec.get("client_offset", 0))
    else:
        rows = raw
    meta = {
        "client": spec["client"],
        "concurrency": spec["concurrency"],
        "requests": spec["requests"],
        "keepalive": spec["keepalive"],
        "warm_connections": bool(spec.get("warm_url")) and spec["client"] != "requests",
        "timeout_s": spec["timeout_s"],
        **limits,
        "loadgen_open_files": soft,
        "loadgen_open_files_hard": hard,
        "loadgen_pid": os.getpid(),
        "t_start": t_start,
        "start_late_s": spec.get("start_late_s", 0.0),
        "wall_s": wall,
        "loadgen_cpu_s": cpu,
    }
    return {"meta": meta, "rows": rows}


# -- open loop: requests sent at scheduled instants, whatever the answers do ------------------
async def open_loop_raw(spec: dict) -> tuple[list[tuple], dict]:
    """The open-loop raw client: request i is due at ``t_start + offsets_s[i]`` and is sent then,
    on an idle kept-alive connection or a new one, whether or not earlier requests were answered.

    At most ``connection_limit`` requests are in flight; a request due while all are busy waits
    for one (``waited_for_connection`` counts them; that wait is part of its latency, which the
    caller measures from the scheduled instant). A request is never sent before its instant.
    Hot-loop tuples: (i, connection, t_sched, t_send, t_done, status, body, error).
    """
    from httptools import HttpParserError

    offsets = spec["open_loop"]["offsets_s"]
    limit = spec["connection_limit"]
    timeout_s = spec["timeout_s"]
    host, port, request = _request_bytes(spec)
    loop = asyncio.get_running_loop()
    perf = time.perf_counter
    raw: list[tuple] = []
    idle: list[tuple[int, _Connection]] = []
    slots = asyncio.Semaphore(limit)
    stats = {"opened": 0, "in_flight": 0, "max_in_flight": 0, "waited": 0}

    def expire(conn: _Connection) -> None:
        conn._fail(asyncio.TimeoutError(f"no answer within {timeout_s:g} s"))

    async def one(i: int, t_sched: float) -> None:
        if slots.locked():
            stats["waited"] += 1
        async with slots:
            stats["in_flight"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
            t_send = perf()
            cid, conn = idle.pop() if idle else (None, None)
            try:
                if conn is None or conn.closed:
                    cid, stats["opened"] = stats["opened"], stats["opened"] + 1
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(lambda: _Connection(loop), host, port), timeout_s)
                timer = loop.call_later(timeout_s, expire, conn)
                try:
                    status, body = await conn.request(request)
                finally:
                    timer.cancel()
                raw.append((i, cid, t_sched, t_send, perf(), status, body, None))
                if not conn.closed:
                    idle.append((cid, conn))
            except (OSError, asyncio.TimeoutError, HttpParserError) as e:
                raw.append((i, cid, t_sched, t_send, perf(), None, None, f"{type(e).__name__}: {e}"))
                if conn is not None:
                    conn.close()
            finally:
                stats["in_flight"] -= 1

    spec["cpu0"], spec["t_start"] = time.process_time(), start_gate(spec)
    t0 = spec["t_start"]
    tasks = []
    for i, off in enumerate(offsets):
        due = t0 + off
        left = due - perf()
        if left > 0.001:
            await asyncio.sleep(left - 0.0005)  # the loop's timers are coarse (uvloop: whole ms)
        while perf() < due:  # never early: the last fraction of a millisecond, yielding
            await asyncio.sleep(0)
        tasks.append(loop.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    for _, conn in idle:
        conn.close()
    return raw, {"connection_limit": limit, "connections_opened": stats["opened"],
                 "max_in_flight": stats["max_in_flight"], "waited_for_connection": stats["waited"]}


def run_open(spec: dict) -> dict:
    """Run an open-loop spec (``spec["open_loop"]``: rate_rps, seed, offsets_s); {"meta": ..., "rows": ...}."""
    from helpers.load.clients import record

    soft, hard = raise_open_file_limit(spec["connection_limit"] + 64)
    _import_client("raw")
    spec["cpu0"], spec["t_start"] = time.process_time(), time.perf_counter()
    runner = _loop_runner()
    raw, limits = runner(open_loop_raw(spec))
    limits["client_loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    t_start = spec["t_start"]
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - spec["cpu0"]
    rows = []
    for i, cid, t_sched, t_send, t_done, status, body, error in raw:
        rec = record(t_send, status, body, error, t_done)
        rec["request"], rec["client"], rec["t_sched"] = i, cid, t_sched
        rows.append(rec)
    ol = spec["open_loop"]
    meta = {
        "client": "raw", "mode": "open loop", "rate_rps": ol["rate_rps"], "seed": ol["seed"],
        "requests": len(ol["offsets_s"]), "keepalive": spec["keepalive"], "warm_connections": False,
        "timeout_s": spec["timeout_s"], **limits, "loadgen_open_files": soft, "loadgen_open_files_hard": hard,
        "loadgen_pid": os.getpid(), "t_start": t_start, "start_late_s": spec.get("start_late_s", 0.0),
        "wall_s": wall, "loadgen_cpu_s": cpu,
    }
    return {"meta": meta, "rows": rows}


if __name__ == "__main__":
    main()
