"""What one request in flight costs: a task on one event loop, or an OS thread of its own.

Run in a fresh interpreter (``aio.inflight_cost`` starts it with
``python -m helpers.lessons.inflight_probe`` and a JSON spec on stdin), so
nothing the notebook holds blurs the memory figures. The spec::

    {"style": "asyncio" | "threads", "url": "http://127.0.0.1:PORT/io?ms=500",
     "n": 1000, "latency_s": 0.5, "timeout_s": 30}

- ``"asyncio"``: one thread, one event loop, one aiohttp ClientSession whose
  connector may open ``n`` connections; one task per request.
- ``"threads"``: one OS thread per request (``threading.Thread``, started one
  after another), each making one blocking ``requests.get``.

Both open a new connection per request and close it after the answer (aiohttp
with ``force_close``, ``requests.get`` without a shared session), so the
connections cost the same on both sides. Both first send one warm-up request
the same way (lazy imports and first-use caches are paid before the clock
starts), collect garbage and read the process's memory (psutil: RSS and USS).
Then the ``n`` requests start. As soon as all ``n`` have started (or at
``SAMPLE_BY`` × ``latency_s`` at the latest, before the first answer can come
back) the memory is read again and the requests in flight are counted
(started, not yet answered). The clock stops when the last answer is in.

Prints one JSON line: style, n, wall_s, cpu_s (this process's CPU time, all
threads, from the first request to the last answer: thread start-up and task
creation included), rss_base, uss_base, rss_peak, uss_peak (bytes),
in_flight_at_sample, threads_at_sample, errors, t_sample_s, last_start_s
(when the last request started, seconds after the first), stack_size (the
thread stack size asked for; 0 means the platform's default).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time

import psutil

SAMPLE_BY = 0.8  # read the memory no later than this far into one latency: no answer back yet
POLL_S = 0.002


def _mem(proc: psutil.Process) -> tuple[int, int]:
    m = proc.memory_full_info()
    return m.rss, m.uss


class _Book:
    """The start and end instants of every request, and the two memory readings."""

    def __init__(self, n: int, latency_s: float) -> None:
        self.n, self.latency_s = n, latency_s
        self.starts, self.dones = [0.0] * n, [0.0] * n
        self.errors = 0
        self.lock = threading.Lock()
        self.proc = psutil.Process()

    def base(self) -> None:
        gc.collect()
        self.rss0, self.uss0 = _mem(self.proc)
        self.c0, self.t0 = time.process_time(), time.perf_counter()

    def ready_to_sample(self) -> bool:
        return all(self.starts) or time.perf_counter() >= self.t0 + SAMPLE_BY * self.latency_s

    def sample(self) -> None:
        self.ts = time.perf_counter()
        self.rss1, self.uss1 = _mem(self.proc)
        self.in_flight = sum(1 for s, d in zip(self.starts, self.dones) if s and not d)
        self.threads = threading.active_count()

    def result(self) -> dict:
        wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        return {"wall_s": wall, "cpu_s": cpu, "rss_base": self.rss0, "uss_base": self.uss0,
                "rss_peak": self.rss1, "uss_peak": self.uss1, "in_flight_at_sample": self.in_flight,
                "threads_at_sample": self.threads, "errors": self.errors, "t_sample_s": self.ts - self.t0,
                "last_start_s": max(self.starts) - self.t0}


def _run_asyncio(url: str, n: int, latency_s: float, timeout_s: float) -> dict:
    import asyncio

    import aiohttp

    book = _Book(n, latency_s)

    async def main() -> dict:
        connector = aiohttp.TCPConnector(limit=n, limit_per_host=n, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            async with session.get(url) as r:  # warm-up
                await r.read()

            async def one(i: int) -> None:
                book.starts[i] = time.perf_counter()
                try:
                    async with session.get(url) as r:
                        await r.read()
                        ok = r.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                book.errors += not ok
                book.dones[i] = time.perf_counter()

            book.base()
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(one(i)) for i in range(n)]
            while not book.ready_to_sample():
                await asyncio.sleep(POLL_S)
            book.sample()
            await asyncio.gather(*tasks)
            return book.result()

    return asyncio.run(main())


def _run_threads(url: str, n: int, latency_s: float, timeout_s: float) -> dict:
    import requests

    requests.get(url, timeout=timeout_s).close()  # warm-up
    book = _Book(n, latency_s)

    def one(i: int) -> None:
        book.starts[i] = time.perf_counter()
        try:
            with requests.get(url, timeout=timeout_s) as r:
                ok = r.status_code == 200
        except requests.RequestException:
            ok = False
        if not ok:
            with book.lock:
                book.errors += 1
        book.dones[i] = time.perf_counter()

    book.base()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    while not book.ready_to_sample():
        time.sleep(POLL_S)
    book.sample()
    for t in threads:
        t.join(timeout_s + 30)
    return book.result()


STYLES = {"asyncio": _run_asyncio, "threads": _run_threads}


def main() -> int:
    """Read the spec from stdin, run one arm, print its JSON line."""
    spec = json.loads(sys.stdin.read())
    style, url, n = spec["style"], spec["url"], int(spec["n"])
    latency_s, timeout_s = float(spec["latency_s"]), float(spec.get("timeout_s", 30.0))
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, n + 64), hard), hard))
    except (ImportError, ValueError, OSError):
        pass
    out = STYLES[style](url, n, latency_s, timeout_s)
    out.update({"style": style, "n": n, "stack_size": threading.stack_size()})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
