"""Servers the experiments talk to, each in its own process on 127.0.0.1.

``SlowService`` is the course's slow upstream: a real aiohttp server whose
endpoints wait (I/O), burn CPU, or both. Use it as a context manager::

    with services.SlowService() as svc:
        requests.get(svc.url(io_ms=100))

It binds 127.0.0.1 on a free port (port 0) and reports the real one, waits
until it answers, and is stopped on exit, on an exception, on an interrupt,
and before a re-run starts another one.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from urllib.parse import urlencode

from helpers import checks, workloads
from helpers.procs import ManagedProcess


def somaxconn() -> int | None:
    """The kernel's cap on any listen backlog (Linux), or None where unknown."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class SlowService(ManagedProcess):
    """The slow HTTP service (aiohttp, one process, one thread, one event loop).

    backlog: the listen backlog asked for (aiohttp's own default is 128). The
        effective value is ``min(backlog, somaxconn)`` on Linux; both are in
        ``limits``.
    loop: "auto" (uvloop where installed, so the harness is never the slow
        part), "asyncio" (the standard loop) or "uvloop".
    """

    LOOPS = ("auto", "asyncio", "uvloop")

    def __init__(
        self,
        *,
        backlog: int = 1024,
        loop: str = "auto",
        startup_timeout_s: float = 20.0,
        key: str = "slow-service",
    ) -> None:
        if isinstance(backlog, bool) or not isinstance(backlog, int) or not (1 <= backlog <= 65535):
            raise ValueError(f"backlog must be an int from 1 to 65535, got {backlog!r}")
        if loop not in self.LOOPS:
            raise ValueError(f"loop must be one of {self.LOOPS}, got {loop!r}")
        workloads.calibrate()  # once here; the server inherits the figure
        super().__init__(
            [sys.executable, "-m", "helpers.slow_server", "--port", "0", "--backlog", str(backlog), "--loop", loop],
            key=key,
            ready_pattern=r"READY port=(\d+) pid=(\d+) backlog=(\d+) nofile=(-?\d+)/(-?\d+) loop=(\w+)",
            startup_timeout_s=startup_timeout_s,
            env=dict(os.environ),
        )
        self.backlog = backlog
        self.port: int | None = None

    def after_ready(self, match) -> None:
        """The server printed READY after binding: read its port; one request proves it answers."""
        self.port = int(match.group(1))
        with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as r:
            r.read()

    def __enter__(self) -> "SlowService":
        super().__enter__()
        return self

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the service is not running; use it inside `with SlowService() as svc:`")
        return f"http://127.0.0.1:{self.port}"

    def url(self, io_ms: float = 0, cpu_ms: float = 0) -> str:
        """URL of a request that burns ``cpu_ms`` ms of CPU, then waits ``io_ms`` ms."""
        for name, v in (("io_ms", io_ms), ("cpu_ms", cpu_ms)):
            checks.milliseconds(v, name)
        return f"{self.base_url}/work?{urlencode({'io_ms': io_ms, 'cpu_ms': cpu_ms})}"

    @property
    def limits(self) -> dict:
        """Every limit of the server that could cap a measurement."""
        if self.match is None:
            return {}
        soft, hard = int(self.match.group(4)), int(self.match.group(5))
        cap = somaxconn()
        return {
            "server": f"aiohttp on {self.match.group(6)}, 1 process, 1 thread",
            "listen_backlog_requested": self.backlog,
            "somaxconn": cap,
            "listen_backlog_effective": min(self.backlog, cap) if cap else self.backlog,
            "server_open_files": soft,
            "server_open_files_hard": hard,
        }
