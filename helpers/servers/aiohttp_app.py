"""The app contract (``contract``) as an aiohttp app: one event loop, one thread per process.

Served standalone by ``aiohttp_server`` (``AiohttpServer``), by gunicorn's
aiohttp workers (app spec ``helpers.servers.aiohttp_app:app_factory``) and,
with ``make_app(local=True)``, as the slow service itself, whose waits are
local ``asyncio.sleep`` calls instead of calls to an upstream.

Upstream calls go through one aiohttp ClientSession per process with an
explicit connector limit (``upstream.AsyncUpstream``). ``/cpu`` burns CPU
inside the handler, blocking the loop, as CPU work in an async server does.
``/block`` is the taught bug (``time.sleep`` in an ``async def`` handler);
``/io-thread`` is the fix (the blocking call moved to ``asyncio.to_thread``,
whose pool is set explicitly to ``contract.BLOCKING_THREADS``).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from helpers.core import workloads
from helpers.servers import contract
from helpers.servers.upstream import AsyncUpstream, SyncUpstream, use_blocking_pool

CLIENT = web.AppKey("client", AsyncUpstream)
BLOCKING = web.AppKey("blocking", SyncUpstream)
POOLS = web.AppKey("pools", contract.Pools)
LOCAL = web.AppKey("local", bool)


def _params(request: web.Request) -> dict:
    return contract.parse(request.path, request.query)


async def _wait(request: web.Request, ms: float) -> int | None:
    """Wait ``ms`` without blocking the loop: on the upstream, or locally in the slow service."""
    if request.app[LOCAL]:
        await asyncio.sleep(ms / 1000.0)
        return None
    return await request.app[CLIENT].wait(ms)


def _blocking_wait(request: web.Request, ms: float) -> int | None:
    """The same wait as a blocking call (requests, or time.sleep in the slow service)."""
    if request.app[LOCAL]:
        time.sleep(ms / 1000.0)
        return None
    return request.app[BLOCKING].wait(ms)


async def health(request: web.Request) -> web.Response:
    """Readiness, and the app's own limits (loop, parser, upstream client)."""
    start = time.perf_counter()
    app = request.app
    limits = {"app": "aiohttp", "loop": contract.loop_name(), "http_parser": contract.aiohttp_parser(),
              "blocking_threads": contract.BLOCKING_THREADS}
    if not app[LOCAL]:
        limits.update(app[CLIENT].limits())
    return web.json_response(contract.answer("/health", start, {}, ok=True, limits=limits))


async def io(request: web.Request) -> web.Response:
    """Wait ``ms`` on the upstream without blocking the loop (or locally, in the slow service)."""
    start = time.perf_counter()
    p = _params(request)
    pid = await _wait(request, p["ms"])
    return web.json_response(contract.answer(request.path, start, p, upstream_pid=pid))


async def cpu(request: web.Request) -> web.Response:
    """Burn ``ms`` of CPU in the handler: it blocks the event loop, which is the lesson."""
    start = time.perf_counter()
    p = _params(request)
    workloads.burn_cpu(p["ms"])  # blocks the event loop: that is the lesson
    return web.json_response(contract.answer(request.path, start, p))


async def mix(request: web.Request) -> web.Response:
    """Burn ``cpu_ms``, then wait ``io_ms`` on the upstream."""
    start = time.perf_counter()
    p = _params(request)
    workloads.burn_cpu(p["cpu_ms"])
    pid = await _wait(request, p["io_ms"])
    return web.json_response(contract.answer(request.path, start, p, upstream_pid=pid))


async def db(request: web.Request) -> web.Response:
    """Wait ``ms`` on the upstream holding one of at most ``k`` connections of this process."""
    arrived = time.perf_counter()
    p = _params(request)
    async with request.app[POOLS].get(p["k"]):  # at most k requests of this process hold a "connection"
        start = time.perf_counter()  # /db's start: the connection is held from here
        pid = await _wait(request, p["ms"])
    return web.json_response(contract.answer(request.path, start, p, upstream_pid=pid, arrived=arrived))


async def block(request: web.Request) -> web.Response:
    """The bug: a blocking call inside ``async def``. The whole loop, every other request, waits."""
    start = time.perf_counter()
    p = _params(request)
    time.sleep(p["ms"] / 1000.0)
    return web.json_response(contract.answer(request.path, start, p))


async def io_thread(request: web.Request) -> web.Response:
    """The fix: the blocking call runs in a thread; the loop keeps serving."""
    start = time.perf_counter()
    p = _params(request)
    pid = await asyncio.to_thread(_blocking_wait, request, p["ms"])
    return web.json_response(contract.answer(request.path, start, p, upstream_pid=pid))


@web.middleware
async def errors(request: web.Request, handler):
    """Bad parameters -> 400, no upstream -> 503, upstream failure -> 502, unknown path -> 404: JSON, with a reason."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status >= 400:
            return web.json_response({"error": f"{e.reason}: {request.path}"}, status=e.status)
        raise
    except (ValueError, contract.NoUpstream, OSError, asyncio.TimeoutError) as e:
        status, body = contract.error(e)
        return web.json_response(body, status=status)
    except Exception as e:  # aiohttp.ClientError and friends
        import aiohttp

        if isinstance(e, aiohttp.ClientError):
            status, body = contract.error(e)
            return web.json_response(body, status=status)
        raise


async def _startup(app: web.Application) -> None:
    use_blocking_pool()


async def _cleanup(app: web.Application) -> None:
    await app[CLIENT].close()


def make_app(local: bool = False) -> web.Application:
    """The aiohttp app. ``local``: the slow service (its waits are local: it is the upstream)."""
    app = web.Application(middlewares=[errors])
    app[LOCAL] = bool(local)
    app[CLIENT] = AsyncUpstream()
    app[BLOCKING] = SyncUpstream()
    app[POOLS] = contract.Pools(asyncio.Semaphore)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    routes = [web.get("/health", health), web.get("/io", io), web.get("/cpu", cpu), web.get("/mix", mix),
              web.get("/db", db), web.get("/block", block), web.get("/io-thread", io_thread)]
    app.add_routes(routes)
    return app


async def app_factory() -> web.Application:
    """gunicorn's aiohttp workers call this in each worker (``helpers.servers.aiohttp_app:app_factory``)."""
    return make_app()
