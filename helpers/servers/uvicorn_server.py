"""Uvicorn: uvicorn serving the Starlette app (``asgi_app``) in one process, on a chosen loop and HTTP parser.

    with servers.Uvicorn(upstream=svc.base_url, loop="uvloop", http="httptools") as srv:
        load.run_load(srv.url("/io", ms=100), requests=1000, concurrency=1000)

``python -m helpers.servers.uvicorn_server`` is the server's process. It uses
uvicorn's Python API (``uvicorn.Config`` + ``uvicorn.Server``) with
``--no-access-log``'s equivalent (``access_log=False``) and every limit
explicit. The READY line comes from a small ``uvicorn.Server`` subclass whose
``startup()`` prints it once uvicorn's own listening socket exists: uvicorn
binds port 0 itself (with the requested backlog), and the line reports the
real port, the loop that is really running and the HTTP protocol class uvicorn
really loaded, facts a lifespan hook could not see (it runs before the socket
is bound) and a pre-bound socket would not change.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from helpers.core import checks, workloads
from helpers.core.procs import exit_with_parent
from helpers.core.system import raise_open_file_limit
from helpers.servers import base, contract

LOOPS = ("asyncio", "uvloop")
HTTP_PARSERS = ("h11", "httptools")
DEFAULT_KEEPALIVE_S = 5.0  # uvicorn's own default
APP = "helpers.servers.asgi_app:app"


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the Starlette app on uvicorn (python -m helpers.servers.uvicorn_server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default=APP)
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--http", choices=HTTP_PARSERS, default="h11")
    parser.add_argument("--keepalive", type=float, default=DEFAULT_KEEPALIVE_S)
    args = parser.parse_args(argv)
    exit_with_parent()
    workloads.calibrate()
    soft, hard = raise_open_file_limit()

    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            cfg = self.config
            port = self.servers[0].sockets[0].getsockname()[1]
            print(base.ready_line(
                port=port, pid=os.getpid(), server=f"uvicorn {uvicorn.__version__}", loop=contract.loop_name(),
                http_parser=f"{cfg.http_protocol_class.__module__}.{cfg.http_protocol_class.__name__}",
                backlog=cfg.backlog, keepalive_s=cfg.timeout_keep_alive, limit_concurrency=cfg.limit_concurrency,
                limit_max_requests=cfg.limit_max_requests, access_log=cfg.access_log,
                open_files=soft, open_files_hard=hard, upstream_connection_limit=contract.upstream_limit(),
            ), flush=True)

    config = uvicorn.Config(
        args.app, host="127.0.0.1", port=0, loop=args.loop, http=args.http, ws="none", lifespan="on",
        backlog=args.backlog, timeout_keep_alive=args.keepalive, limit_concurrency=None, limit_max_requests=None,
        access_log=False, log_level="warning", workers=1, proxy_headers=False, server_header=False,
    )
    server = AnnouncingServer(config)
    server.run()
    sys.exit(0 if server.started else 3)


class Uvicorn(base.Server):
    """uvicorn serving the Starlette app in one process, one thread, one event loop.

    upstream: base URL of the slow service (for /io, /mix, /db, /io-thread).
    loop: "asyncio" or "uvloop" (uvicorn makes it with ``uvloop.new_event_loop``, no policy).
    http: the HTTP parser, "h11" (pure Python) or "httptools" (C, llhttp).
    backlog: listen backlog asked for (uvicorn's default 2048); capped by somaxconn.
    workers: 1 only; for several ASGI worker processes use ``Gunicorn(worker_class="asgi", workers=N)``.
    upstream_limit: the aiohttp client's total connection limit for upstream calls.
    keepalive_s: seconds an idle client connection is kept open (uvicorn's default 5).
    app: the ASGI app's import string.
    """

    name = "uvicorn"

    def __init__(self, *, upstream: str | None = None, loop: str = "asyncio", http: str = "h11", backlog: int = 2048,
                 workers: int = 1, upstream_limit: int = contract.DEFAULT_UPSTREAM_LIMIT,
                 keepalive_s: float = DEFAULT_KEEPALIVE_S, app: str = APP, startup_timeout_s: float = 20.0,
                 key: str = "uvicorn") -> None:
        checks.choice("loop", loop, LOOPS)
        checks.choice("http", http, HTTP_PARSERS)
        checks.count("workers", workers)
        if workers != 1:
            raise ValueError("Uvicorn runs one worker process here; for several use "
                             "Gunicorn(worker_class='asgi', workers=N)")
        if not isinstance(app, str) or ":" not in app:
            raise ValueError(f"app must be an import string 'module:attribute', got {app!r}")
        self.backlog = base.check_backlog(backlog)
        self.upstream_limit = checks.count("upstream_limit", upstream_limit, 100_000)
        self.keepalive_s = checks.number("keepalive_s", keepalive_s, low=0, high=3600)
        self.loop, self.http, self.app = loop, http, app
        cmd = base.python_module("helpers.servers.uvicorn_server", "--app", app, "--backlog", str(self.backlog),
                                 "--loop", loop, "--http", http, "--keepalive", str(self.keepalive_s))
        env = dict(os.environ, **{contract.UPSTREAM_LIMIT_ENV: str(self.upstream_limit)})
        super().__init__(cmd, key=key, env=env, startup_timeout_s=startup_timeout_s, upstream=upstream)

    @property
    def limits(self) -> dict[str, Any]:
        return {**super().limits, "workers": 1, "threads_per_worker": 1, "concurrent_requests_max": None,
                **self._backlog_limits(self.backlog)}


if __name__ == "__main__":
    main()
