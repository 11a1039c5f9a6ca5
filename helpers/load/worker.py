"""The load generator's own process: ``python -m helpers.loadgen`` reads a JSON
spec on stdin and writes a JSON result on stdout. Use it through
``helpers.load.run_load``; this module is the part that runs apart from the
notebook kernel (and from the server), so the load generator never shares a
GIL with what it measures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
import time

from helpers.procs import raise_open_file_limit


async def run_aiohttp(spec: dict) -> tuple[list[dict], dict]:
    import aiohttp

    from helpers.clients import get_async

    n, c, url = spec["requests"], spec["concurrency"], spec["url"]
    limit = spec["connection_limit"]
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=not spec["keepalive"])
    timeout = aiohttp.ClientTimeout(total=spec["timeout_s"])
    counter = itertools.count()
    rows: list[dict] = []

    # No cookie jar (nothing here sets cookies) and no compression: less work per request.
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
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass

            await asyncio.gather(*(touch() for _ in range(min(c, limit))))
        spec["cpu0"], spec["t_start"] = time.process_time(), time.perf_counter()

        async def client(cid: int) -> None:
            while (i := next(counter)) < n:
                rec = await get_async(session, url)
                rec.update(request=i, client=cid)
                rows.append(rec)

        await asyncio.gather(*(client(k) for k in range(c)))
    return rows, {"connection_limit": limit, "limit_per_host": limit}


def run_requests(spec: dict) -> tuple[list[dict], dict]:
    import requests
    from requests.adapters import HTTPAdapter

    from helpers.clients import get_blocking

    n, c, url = spec["requests"], spec["concurrency"], spec["url"]
    counter = itertools.count()
    lock = threading.Lock()
    rows: list[dict] = []

    def client(cid: int) -> None:
        with requests.Session() as s:
            # one connection per client thread; requests' default pool is 10
            s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0))
            if not spec["keepalive"]:
                s.headers["Connection"] = "close"
            while True:
                with lock:
                    i = next(counter)
                if i >= n:
                    return
                rec = get_blocking(url, s, spec["timeout_s"])
                rec.update(request=i, client=cid)
                rows.append(rec)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rows, {"connection_limit": c, "pool_maxsize_per_client": 1}


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
    else:
        import requests  # noqa: F401


def main() -> None:
    spec = json.load(sys.stdin)
    soft, hard = raise_open_file_limit(spec["concurrency"] + 64)
    _import_client(spec["client"])
    spec["cpu0"], spec["t_start"] = time.process_time(), time.perf_counter()
    if spec["client"] == "aiohttp":
        runner = _loop_runner()
        rows, limits = runner(run_aiohttp(spec))
        limits["client_loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    else:
        rows, limits = run_requests(spec)
    t_start = spec["t_start"]  # the aiohttp client moves it past its warm-up
    wall = time.perf_counter() - t_start
    cpu = time.process_time() - spec["cpu0"]
    meta = {
        "client": spec["client"],
        "concurrency": spec["concurrency"],
        "requests": spec["requests"],
        "keepalive": spec["keepalive"],
        "warm_connections": bool(spec.get("warm_url")) and spec["client"] == "aiohttp",
        "timeout_s": spec["timeout_s"],
        **limits,
        "loadgen_open_files": soft,
        "loadgen_open_files_hard": hard,
        "loadgen_pid": os.getpid(),
        "t_start": t_start,
        "wall_s": wall,
        "loadgen_cpu_s": cpu,
    }
    json.dump({"meta": meta, "rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
