"""AiohttpServer: the aiohttp app standalone, one process, one thread, one event loop.

    with servers.AiohttpServer(upstream=svc.base_url, loop="uvloop") as srv:
        load.run_load(srv.url("/io", ms=100), requests=1000, concurrency=1000)

``python -m helpers.servers.aiohttp_server --port 0 ...`` is the server's own
process (``serve`` is shared with the slow service): it listens through
aiohttp's AppRunner/TCPSite with an explicit backlog and keep-alive, no access
log, then prints its READY line with the real port (from the runner's public
``addresses``), the loop it really runs on, the HTTP parser and its open-file
limit. uvloop is started with ``uvloop.run()`` (helpers.core.loops),
never through an event-loop policy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from helpers.core import checks, loops, workloads
from helpers.core.procs import exit_with_parent
from helpers.core.system import raise_open_file_limit
from helpers.servers import base, contract

LOOPS = ("asyncio", "uvloop")
DEFAULT_KEEPALIVE_S = 75.0  # aiohttp's own default is 3,630 s (3.14)


async def _serve(app, port: int, backlog: int, keepalive_s: float, info: dict[str, Any]) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=keepalive_s)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=backlog, reuse_address=True)
    await site.start()
    real_port = runner.addresses[0][1]  # (host, port): the real port when port=0
    soft, hard = raise_open_file_limit()
    print(base.ready_line(port=real_port, pid=os.getpid(), loop=contract.loop_name(), backlog=backlog,
                          http_parser=contract.aiohttp_parser(), keepalive_s=keepalive_s, access_log=False,
                          open_files=soft, open_files_hard=hard, **info), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            pass
    await stop.wait()
    await runner.cleanup()


def serve(app, *, port: int = 0, backlog: int = 1024, loop: str = "asyncio", keepalive_s: float = DEFAULT_KEEPALIVE_S,
          **info: Any) -> None:
    """Run ``app`` on 127.0.0.1:``port`` until SIGTERM/SIGINT, on the chosen loop ("asyncio", "uvloop", "auto")."""
    main = _serve(app, port, backlog, keepalive_s, info)
    try:
        loops.run(main, loop)
    except ValueError as e:  # uvloop asked for but not installed
        raise SystemExit(str(e)) from None
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the aiohttp app (python -m helpers.servers.aiohttp_server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--keepalive", type=float, default=DEFAULT_KEEPALIVE_S)
    args = parser.parse_args(argv)
    exit_with_parent()
    workloads.calibrate()
    from helpers.servers.aiohttp_app import make_app

    serve(make_app(), port=args.port, backlog=args.backlog, loop=args.loop, keepalive_s=args.keepalive,
          server="aiohttp", upstream_connection_limit=contract.upstream_limit())
    sys.exit(0)


class AiohttpServer(base.Server):
    """The aiohttp app (``aiohttp_app``) in one process: one thread, one event loop.

    upstream: base URL of the slow service (for /io, /mix, /db, /io-thread).
    loop: "asyncio" (the standard loop) or "uvloop".
    backlog: listen backlog asked for (aiohttp's run_app would use 128); capped by somaxconn.
    upstream_limit: the aiohttp client's total connection limit for upstream calls.
    keepalive_s: seconds an idle client connection is kept open.
    """

    name = "aiohttp"

    def __init__(self, *, upstream: str | None = None, loop: str = "asyncio", backlog: int = 1024,
                 upstream_limit: int = contract.DEFAULT_UPSTREAM_LIMIT, keepalive_s: float = DEFAULT_KEEPALIVE_S,
                 startup_timeout_s: float = 20.0, key: str = "aiohttp-server") -> None:
        checks.choice("loop", loop, LOOPS)
        self.backlog = base.check_backlog(backlog)
        self.upstream_limit = checks.count("upstream_limit", upstream_limit, 100_000)
        self.keepalive_s = checks.number("keepalive_s", keepalive_s, low=0, high=3600)
        self.loop = loop
        cmd = base.python_module("helpers.servers.aiohttp_server", "--port", "0", "--backlog", str(self.backlog),
                                 "--loop", loop, "--keepalive", str(self.keepalive_s))
        env = dict(os.environ, **{contract.UPSTREAM_LIMIT_ENV: str(self.upstream_limit)})
        super().__init__(cmd, key=key, env=env, startup_timeout_s=startup_timeout_s, upstream=upstream)

    @property
    def limits(self) -> dict[str, Any]:
        return {**super().limits, "workers": 1, "threads_per_worker": 1,
                "concurrent_requests_max": None,  # no cap in the server: every connection gets a task
                **self._backlog_limits(self.backlog)}


if __name__ == "__main__":
    main()
