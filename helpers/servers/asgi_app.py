"""The app contract (``contract``) as an ASGI app (Starlette): one event loop, one thread per process.

Served by uvicorn (``Uvicorn``) and by gunicorn's native ASGI worker
(``-k asgi``), app spec ``helpers.servers.asgi_app:app``.

Starlette, not FastAPI: FastAPI is built on Starlette and would only add
validation and documentation layers on top; the lesson is the ASGI interface
and the server under it, so the app stays as thin as the Flask and aiohttp
ones, with the same endpoints and answers.

Upstream calls use aiohttp's client (``upstream.AsyncUpstream``, one
ClientSession per process with an explicit connector limit), the same client
as the aiohttp app, so the two async apps differ only in framework and
server. (httpx is installed too, but its default pool of 100 would need its
own limits and would make the comparison one of clients as well.)
``/cpu`` blocks the loop while it burns, as it should; ``/block`` is the
taught bug and ``/io-thread`` its fix, as in the aiohttp app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers.core import workloads
from helpers.servers import contract
from helpers.servers.upstream import AsyncUpstream, SyncUpstream, use_blocking_pool

_client = AsyncUpstream()
_blocking = SyncUpstream()
_pools = contract.Pools(asyncio.Semaphore)


def _params(request: Request) -> dict:
    return contract.parse(request.url.path, request.query_params)


def _answer(request: Request, start: float, p: dict, **extra) -> JSONResponse:
    return JSONResponse(contract.answer(request.url.path, start, p, **extra))


async def health(request: Request) -> JSONResponse:
    """Readiness, and the app's own limits (loop, upstream client)."""
    start = time.perf_counter()
    limits = {"app": "starlette", "loop": contract.loop_name(), "blocking_threads": contract.BLOCKING_THREADS,
              **_client.limits()}
    return JSONResponse(contract.answer("/health", start, {}, ok=True, limits=limits))


async def io(request: Request) -> JSONResponse:
    """Wait ``ms`` on the upstream without blocking the loop."""
    start = time.perf_counter()
    p = _params(request)
    return _answer(request, start, p, upstream_pid=await _client.wait(p["ms"]))


async def cpu(request: Request) -> JSONResponse:
    """Burn ``ms`` of CPU in the handler: it blocks the event loop, which is the lesson."""
    start = time.perf_counter()
    p = _params(request)
    workloads.burn_cpu(p["ms"])  # blocks the event loop: that is the lesson
    return _answer(request, start, p)


async def mix(request: Request) -> JSONResponse:
    """Burn ``cpu_ms``, then wait ``io_ms`` on the upstream."""
    start = time.perf_counter()
    p = _params(request)
    workloads.burn_cpu(p["cpu_ms"])
    return _answer(request, start, p, upstream_pid=await _client.wait(p["io_ms"]))


async def db(request: Request) -> JSONResponse:
    """Wait ``ms`` on the upstream holding one of at most ``k`` connections of this process."""
    arrived = time.perf_counter()
    p = _params(request)
    async with _pools.get(p["k"]):  # at most k requests of this process hold a "connection"
        start = time.perf_counter()  # /db's start: the connection is held from here
        pid = await _client.wait(p["ms"])
    return _answer(request, start, p, upstream_pid=pid, arrived=arrived)


async def block(request: Request) -> JSONResponse:
    """The bug: a blocking call inside ``async def``. The whole loop, every other request, waits."""
    start = time.perf_counter()
    p = _params(request)
    time.sleep(p["ms"] / 1000.0)
    return _answer(request, start, p)


async def io_thread(request: Request) -> JSONResponse:
    """The fix: the blocking requests call runs in a thread; the loop keeps serving."""
    start = time.perf_counter()
    p = _params(request)
    return _answer(request, start, p, upstream_pid=await asyncio.to_thread(_blocking.wait, p["ms"]))


async def _handler_error(request: Request, exc: Exception) -> JSONResponse:
    """Bad parameters -> 400, no upstream -> 503, upstream failure -> 502: JSON with the reason."""
    status, body = contract.error(exc)
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc) -> JSONResponse:
    return JSONResponse({"error": f"{exc.detail}: {request.url.path}"}, status_code=exc.status_code)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette):
    """Start-up: the thread pool for /io-thread; shut-down: close the upstream client."""
    use_blocking_pool()
    yield
    await _client.close()


def _errors() -> dict:
    import aiohttp
    from starlette.exceptions import HTTPException

    return {ValueError: _handler_error, contract.NoUpstream: _handler_error, OSError: _handler_error,
            asyncio.TimeoutError: _handler_error, aiohttp.ClientError: _handler_error, HTTPException: _http_error}


app = Starlette(
    routes=[Route("/health", health), Route("/io", io), Route("/cpu", cpu), Route("/mix", mix), Route("/db", db),
            Route("/block", block), Route("/io-thread", io_thread)],
    exception_handlers=_errors(),
    lifespan=lifespan,
)
