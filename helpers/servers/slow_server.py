"""The course's slow service: a real aiohttp server, run as its own process.

Start it through ``helpers.services.SlowService``; run by hand with
``python -m helpers.slow_server --port 0``. It binds 127.0.0.1 only.

Endpoints (all GET, all answer JSON):

- ``/work?io_ms=A&cpu_ms=B``: burn B ms of calibrated CPU (this blocks the
  server's event loop, as CPU work in an async server does), then wait A ms
  without blocking (like a database call).
- ``/io?ms=A`` and ``/cpu?ms=B``: the two halves alone.
- ``/health``: readiness.

Every answer says which process and thread served it and when the handler
started and ended, on ``time.perf_counter()`` (a clock every process of the
machine shares), so clients can draw real timelines.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import sys
import threading
import time

from aiohttp import web

from helpers import workloads
from helpers.procs import exit_with_parent, raise_open_file_limit

_seq = itertools.count()


def _ms(request: web.Request, name: str) -> float:
    raw = request.query.get(name, "0")
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a number of milliseconds, got {raw!r}") from None
    if not (0 <= value <= 60_000):
        raise web.HTTPBadRequest(text=f"{name} must be between 0 and 60000 ms, got {raw!r}")
    return value


async def _serve(io_ms: float, cpu_ms: float) -> web.Response:
    start = time.perf_counter()
    seq = next(_seq)
    if cpu_ms:
        workloads.burn_cpu(cpu_ms)
    if io_ms:
        await asyncio.sleep(io_ms / 1000.0)
    return web.json_response(
        {
            "seq": seq,
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "start": start,
            "end": time.perf_counter(),
            "io_ms": io_ms,
            "cpu_ms": cpu_ms,
        }
    )


async def work(request: web.Request) -> web.Response:
    return await _serve(_ms(request, "io_ms"), _ms(request, "cpu_ms"))


async def io(request: web.Request) -> web.Response:
    return await _serve(_ms(request, "ms"), 0.0)


async def cpu(request: web.Request) -> web.Response:
    return await _serve(0.0, _ms(request, "ms"))


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "pid": os.getpid()})


def make_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [web.get("/work", work), web.get("/io", io), web.get("/cpu", cpu), web.get("/health", health)]
    )
    return app


async def _main(port: int, backlog: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=backlog, reuse_address=True)
    await site.start()
    sock: socket.socket = site._server.sockets[0]  # the real port when port=0
    real_port = sock.getsockname()[1]
    soft, hard = raise_open_file_limit()
    loop_name = "uvloop" if "uvloop" in type(asyncio.get_running_loop()).__module__ else "asyncio"
    print(f"READY port={real_port} pid={os.getpid()} backlog={backlog} nofile={soft}/{hard} loop={loop_name}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        import signal

        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, ImportError):
        pass
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    args = parser.parse_args(argv)
    exit_with_parent()
    workloads.calibrate()
    run = asyncio.run
    if args.loop != "asyncio":
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            if args.loop == "uvloop":
                parser.error("uvloop is not installed (it does not exist for Windows)")
    try:
        run(_main(args.port, args.backlog))
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
