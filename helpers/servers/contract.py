"""The app contract, written once: endpoints, their parameters, validation and answer fields.

Three apps implement it with identical endpoints and answers (Flask in
``flask_app``, aiohttp in ``aiohttp_app``, Starlette in ``asgi_app``), and the
slow service serves it too, waiting locally instead of on an upstream.

Endpoints (all GET, all answer JSON):

=============  ==================  ==================================================
path           parameters          what the handler does
=============  ==================  ==================================================
/health        (none)              answers at once (readiness), with the app's limits
/io            ms                  waits ms on the upstream (the slow service)
/cpu           ms                  burns ms of calibrated CPU in the handler
/mix           cpu_ms, io_ms       burns cpu_ms, then waits io_ms on the upstream
/db            ms, k               waits ms on the upstream holding one of at most k
                                   "database connections" of this process
/block         ms                  async apps only, the taught bug: time.sleep in
                                   an ``async def`` handler (blocks the event loop)
/io-thread     ms                  async apps only, the fix: the blocking requests
                                   call moved to ``asyncio.to_thread``
=============  ==================  ==================================================

A bad parameter raises ``ValueError`` (the apps answer 400 with
``{"error": ...}``); no upstream configured raises ``NoUpstream`` (503).
Every answer carries ``pid``, ``thread``, ``start`` and ``end`` (the
handler's start and end on ``time.perf_counter()``, a clock every process of
the machine shares), ``endpoint``, the parameters, and ``upstream_pid`` when
the handler called the upstream. For ``/db``, ``start`` is when the handler
got its connection (so ``[start, end)`` is the time it held one, and the
wait for the pool counts as waiting) and ``arrived`` is when it began.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Mapping

UPSTREAM_ENV = "COURSE_UPSTREAM"  # where an app's /io, /mix and /db wait: the slow service's base URL
UPSTREAM_LIMIT_ENV = "COURSE_UPSTREAM_LIMIT"  # the async apps' aiohttp client connection limit
DEFAULT_UPSTREAM_LIMIT = 10_000  # aiohttp's own default (100) would cap a 1,000-client run
BLOCKING_THREADS = 64  # the async apps' asyncio.to_thread pool (asyncio's default: min(32, cores + 4))
MAX_MS = 60_000.0
MAX_K = 10_000
DEFAULT_K = 10  # /db pool size when the request does not say

# path -> its parameters, in order; every one is milliseconds except k (a pool size).
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "/health": (),
    "/io": ("ms",),
    "/cpu": ("ms",),
    "/mix": ("cpu_ms", "io_ms"),
    "/db": ("ms", "k"),
    "/block": ("ms",),
    "/io-thread": ("ms",),
}
ASYNC_ONLY = ("/block", "/io-thread")  # meaningless in a sync app: every call there blocks
UPSTREAM_ENDPOINTS = ("/io", "/mix", "/db", "/io-thread")


class NoUpstream(RuntimeError):
    """An endpoint needs the upstream but none is configured (answered with 503)."""

    def __init__(self) -> None:
        super().__init__(f"no upstream: start the server with upstream=<the slow service's base_url> "
                         f"(environment variable {UPSTREAM_ENV})")


def _milliseconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of milliseconds, got {raw!r}") from None
    if not (0 <= value <= MAX_MS):  # also refuses nan
        raise ValueError(f"{name} must be between 0 and {MAX_MS:g} milliseconds, got {raw!r}")
    return value


def _pool_size(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"k must be a whole number of connections, got {raw!r}") from None
    if not (1 <= value <= MAX_K):
        raise ValueError(f"k must be from 1 to {MAX_K}, got {raw!r}")
    return value


def parameters(path: str) -> tuple[str, ...]:
    """The parameter names of an endpoint; ValueError for an unknown one."""
    if path not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {path!r}; the endpoints are {', '.join(ENDPOINTS)}")
    return ENDPOINTS[path]


def parse(path: str, query: Mapping[str, str]) -> dict[str, Any]:
    """Validate the query of a request to ``path``; return its parameters (defaults filled in).

    Raises ValueError, with a message for the client, for an unknown or a bad
    parameter. Milliseconds default to 0, ``k`` to ``DEFAULT_K``.
    """
    names = parameters(path)
    unknown = sorted(set(query) - set(names))
    if unknown:
        allowed = ", ".join(names) or "none"
        raise ValueError(f"unknown parameter {unknown[0]!r} for {path}; its parameters: {allowed}")
    out: dict[str, Any] = {}
    for name in names:
        raw = query.get(name)
        if name == "k":
            out[name] = DEFAULT_K if raw is None else _pool_size(raw)
        else:
            out[name] = 0.0 if raw is None else _milliseconds(name, raw)
    return out


def answer(path: str, start: float, params: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The JSON body of a successful answer (call it last: ``end`` is taken now)."""
    body = {"pid": os.getpid(), "thread": threading.get_ident(), "start": start, "end": time.perf_counter(),
            "endpoint": path, **params}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def error(exc: BaseException) -> tuple[int, dict[str, str]]:
    """(HTTP status, JSON body) for an exception raised by a handler."""
    if isinstance(exc, NoUpstream):
        return 503, {"error": str(exc)}
    if isinstance(exc, ValueError):
        return 400, {"error": str(exc)}
    return 502, {"error": f"the upstream call failed: {type(exc).__name__}: {exc}"}


def upstream() -> str:
    """The upstream's base URL from the environment; NoUpstream if none is set."""
    url = os.environ.get(UPSTREAM_ENV, "").rstrip("/")
    if not url:
        raise NoUpstream()
    return url


def upstream_limit() -> int:
    """The upstream client's connection limit: COURSE_UPSTREAM_LIMIT, else the default."""
    raw = os.environ.get(UPSTREAM_LIMIT_ENV)
    return int(raw) if raw else DEFAULT_UPSTREAM_LIMIT


class Pools:
    """The /db "database connection" pools of one process: one semaphore per size k, made on first use.

    ``factory(k)`` makes the semaphore: ``threading.BoundedSemaphore`` in a
    sync app, ``asyncio.Semaphore`` in an async one.
    """

    def __init__(self, factory: Callable[[int], Any]) -> None:
        self._factory = factory
        self._pools: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, k: int) -> Any:
        pool = self._pools.get(k)
        if pool is None:
            with self._lock:
                pool = self._pools.setdefault(k, self._factory(k))
        return pool


def loop_name() -> str:
    """What drives this process's concurrency: "uvloop", "asyncio (ClassName)", "gevent hub" or "none"."""
    import asyncio
    import sys

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        mod = type(loop).__module__
        return "uvloop" if mod.startswith("uvloop") else f"asyncio ({type(loop).__name__})"
    if "gevent" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return "gevent hub"
    return "none (blocking calls, one request per thread)"


def aiohttp_parser() -> str:
    """Which HTTP parser aiohttp uses in this process: its C extension or the pure-Python fallback."""
    from aiohttp import http_parser

    mod = http_parser.HttpRequestParser.__module__
    return "aiohttp C parser (llhttp)" if mod.endswith("_http_parser") else "aiohttp pure-Python parser"
