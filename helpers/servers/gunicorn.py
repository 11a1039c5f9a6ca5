"""Gunicorn: real gunicorn with a chosen worker class, serving the course's Flask, aiohttp or Starlette app.

    with servers.Gunicorn(workers=4, upstream=svc.base_url) as srv:
        load.run_load(srv.url("/io", ms=100), requests=..., concurrency=...)

Worker classes (``WORKER_CLASSES``) and the app each one serves:

- "sync", "gthread", "gevent": the Flask app (``flask_app``, WSGI);
- "aiohttp" (``aiohttp.GunicornWebWorker``) and "aiohttp-uvloop"
  (``aiohttp.GunicornUVLoopWebWorker``): the aiohttp app (``aiohttp_app:app_factory``);
- "asgi": gunicorn's own native ASGI worker (``-k asgi``, gunicorn >= 24):
  the Starlette app (``asgi_app``).

The master binds 127.0.0.1 port 0 and its ``when_ready`` hook prints the
READY line with the real port; each worker prints ``WORKER READY pid=N``
(``gunicorn_conf``) and the context manager waits for all of them. On exit
(or error, or interrupt, or a re-run) it stops the master and every worker.
No access log (no ``--access-logfile``). Not available on Windows (gunicorn
needs fork).

Found on this machine (Python 3.11, gunicorn 27.0.1, aiohttp 3.14.5, uvloop 0.23):
"aiohttp-uvloop" calls ``asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())``
in each worker: asyncio deprecates policies from Python 3.14 and uvloop
drops ``EventLoopPolicy`` in 3.16; on 3.11 neither warns (checked with
``-W error::DeprecationWarning``; servers run with DeprecationWarnings shown
and ``limits["deprecation_warnings"]`` lists any they printed: none here).
The "asgi" worker's own default loop is "auto" (uvloop when installed); here
it is set explicitly (``loop``, default "asyncio"). The "asgi" worker
parses HTTP with gunicorn's pure-Python ``PythonProtocol`` (the C parser
``gunicorn_h1c`` is not installed) and does not enforce
``worker_connections``; the aiohttp workers ignore it too (only gevent caps
connections with it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from helpers.core import checks
from helpers.servers import base, contract

WORKER_CLASSES = ("sync", "gthread", "gevent", "aiohttp", "aiohttp-uvloop", "asgi")
# worker class -> (gunicorn's -k value, the app spec it serves)
_WORKERS = {
    "sync": ("sync", "helpers.servers.flask_app:app"),
    "gthread": ("gthread", "helpers.servers.flask_app:app"),
    "gevent": ("gevent", "helpers.servers.flask_app:app"),
    "aiohttp": ("aiohttp.GunicornWebWorker", "helpers.servers.aiohttp_app:app_factory"),
    "aiohttp-uvloop": ("aiohttp.GunicornUVLoopWebWorker", "helpers.servers.aiohttp_app:app_factory"),
    "asgi": ("asgi", "helpers.servers.asgi_app:app"),
}
ASGI_LOOPS = ("asyncio", "uvloop")


class Gunicorn(base.Server):
    """gunicorn serving the course's app with a chosen worker class, worker count and threads.

    workers: worker processes (1-64).
    worker_class: one of ``WORKER_CLASSES``: "sync" (one request at a time per
        worker), "gthread" (``threads`` requests per worker), "gevent"
        (``worker_connections`` greenlets per worker), "aiohttp",
        "aiohttp-uvloop", "asgi" (one event loop per worker).
    threads: threads per worker ("gthread" only).
    upstream: base URL of the slow service, for /io, /mix, /db (and /io-thread).
    app: the app spec (default: the app the worker class serves).
    backlog: gunicorn's listen backlog (its default 2048; capped by somaxconn).
    worker_connections: gunicorn's cap on connections per worker (enforced by gevent only).
    keepalive_s: seconds an idle keep-alive connection is kept (gunicorn's default 2;
        the sync worker does not keep connections alive).
    preload: import the app in the master before forking the workers.
    loop: "asgi" only: the ASGI worker's event loop, "asyncio" or "uvloop".
    upstream_limit: the async apps' aiohttp client connection limit (per worker).
    timeout_s: gunicorn's worker timeout (a worker silent this long is killed).
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        worker_class: str = "sync",
        threads: int = 1,
        upstream: str | None = None,
        app: str | None = None,
        backlog: int = 2048,
        worker_connections: int = 1000,
        keepalive_s: float = 2.0,
        preload: bool = False,
        loop: str | None = None,
        upstream_limit: int = contract.DEFAULT_UPSTREAM_LIMIT,
        timeout_s: float = 120.0,
        startup_timeout_s: float = 60.0,
        key: str = "gunicorn",
    ) -> None:
        if sys.platform == "win32":
            raise RuntimeError("gunicorn does not run on Windows; use WSL, Linux or macOS for this notebook")
        for name, v, hi in (("workers", workers, 64), ("threads", threads, 256), ("backlog", backlog, 65535),
                            ("worker_connections", worker_connections, 100_000),
                            ("upstream_limit", upstream_limit, 100_000)):
            if isinstance(v, bool) or not isinstance(v, int) or not (1 <= v <= hi):
                raise ValueError(f"{name} must be an int from 1 to {hi}, got {v!r}")
        checks.choice("worker_class", worker_class, WORKER_CLASSES)
        if threads > 1 and worker_class != "gthread":
            raise ValueError("threads > 1 needs worker_class='gthread'")
        if worker_class == "asgi":
            loop = checks.choice("loop", "asyncio" if loop is None else loop, ASGI_LOOPS)
        elif loop is not None:
            raise ValueError(f"loop is an 'asgi' worker setting; the {worker_class!r} worker class fixes its own loop")
        if not isinstance(preload, bool):
            raise TypeError(f"preload must be True or False, not {type(preload).__name__}")
        if app is not None and (not isinstance(app, str) or ":" not in app):
            raise ValueError(f"app must be a gunicorn app spec 'module:attribute', got {app!r}")
        keepalive_s = checks.number("keepalive_s", keepalive_s, low=0, high=3600)
        timeout_s = checks.seconds(timeout_s, "timeout_s")
        k_value, default_app = _WORKERS[worker_class]
        self.worker_class, self.threads, self.backlog, self.preload = worker_class, threads, backlog, preload
        self.worker_connections, self.keepalive_s, self.asgi_loop = worker_connections, keepalive_s, loop
        self.upstream_limit = upstream_limit
        self.app = app or default_app
        self.name = f"gunicorn {worker_class}"
        self.worker_info: dict[int, dict[str, Any]] = {}
        cmd = base.python_module(
            "gunicorn",
            "--bind", "127.0.0.1:0",
            "--workers", str(workers),
            "--worker-class", k_value,
            "--threads", str(threads),
            "--backlog", str(backlog),
            "--worker-connections", str(worker_connections),
            "--keep-alive", f"{keepalive_s:g}",
            "--timeout", f"{timeout_s:g}",
            "--graceful-timeout", "2",
            "--http-parser", "python",  # gunicorn's own parser; its C parser (gunicorn_h1c) is not installed
            "--no-control-socket",
            "--config", "python:helpers.servers.gunicorn_conf",
            "--log-level", "info",
        )
        if loop is not None:
            cmd += ["--asgi-loop", loop]
        if preload:
            cmd.append("--preload")
        cmd.append(self.app)
        import os

        env = dict(os.environ, **{contract.UPSTREAM_LIMIT_ENV: str(upstream_limit)})
        super().__init__(cmd, key=key, env=env, startup_timeout_s=startup_timeout_s, workers=workers,
                         upstream=upstream)

    def after_workers_ready(self, matches) -> None:
        for m in matches:
            try:
                self.worker_info[int(m.group(1))] = json.loads(m.group(2).strip() or "{}")
            except ValueError:
                self.worker_info[int(m.group(1))] = {}

    @property
    def limits(self) -> dict[str, Any]:
        out = super().limits
        if self.worker_class == "sync":
            cap = self.workers
        elif self.worker_class == "gthread":
            cap = self.workers * self.threads
        elif self.worker_class == "gevent":
            cap = self.workers * self.worker_connections
        else:
            cap = None  # one event loop per worker: no cap in the server
        first = next(iter(self.worker_info.values()), {})
        out.update({
            "server": self.name,
            "worker_class": self.worker_class,
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "concurrent_requests_max": cap,
            "worker_connections": self.worker_connections,
            "worker_connections_enforced": self.worker_class == "gevent",
            "keepalive_s": self.keepalive_s if self.worker_class != "sync" else 0,
            "preload": self.preload,
            "app_spec": self.app,
            "loop": first.get("loop", out.get("loop")),
            "event_loop_policy": first.get("event_loop_policy"),
            "http_parser": first.get("http_parser"),
            **self._backlog_limits(self.backlog),
        })
        if self.worker_class in ("aiohttp", "aiohttp-uvloop", "asgi"):
            out["upstream_connection_limit_per_worker"] = self.upstream_limit
        return out
