"""SlowService: the course's slow upstream, a real aiohttp server in one process, one thread.

It serves the app contract (``contract``) but, being the upstream itself,
its /io, /mix and /db wait locally with ``asyncio.sleep``::

    with servers.SlowService() as svc:
        requests.get(svc.url("/io", ms=100))
        requests.get(svc.url("/mix", cpu_ms=5, io_ms=50))

It binds 127.0.0.1 on port 0 and reports the real port in its READY line,
and is stopped on exit, on an exception, on an interrupt, and before a re-run
starts another one under the same key.
"""

from __future__ import annotations

from typing import Any

from helpers.core import checks
from helpers.servers import base
from helpers.servers.aiohttp_server import DEFAULT_KEEPALIVE_S


class SlowService(base.Server):
    """The slow HTTP service (aiohttp, one process, one thread, one event loop).

    backlog: the listen backlog asked for (aiohttp's run_app would use 128).
        The effective value is ``min(backlog, somaxconn)`` on Linux; both are in
        ``limits``.
    loop: "auto" (uvloop where installed, so the harness is never the slow
        part), "asyncio" (the standard loop) or "uvloop".
    io_service: how long /io waits: "fixed" (the default: exactly ``ms``),
        "exponential" (a draw of mean ``ms``) or "lognormal" (mean ``ms``,
        shape ``io_sigma``), drawn in arrival order from one generator seeded
        with ``io_seed`` (``slow_server.draw_ms``). The answer's ``ms`` is the
        wait drawn. Recorded in ``limits``.

    Its URLs are the base ones: ``svc.url("/io", ms=100)``, ``svc.url("/mix", cpu_ms=5, io_ms=50)``.
    """

    name = "slow service"
    LOOPS = ("auto", "asyncio", "uvloop")
    IO_SERVICES = ("fixed", "exponential", "lognormal")

    def __init__(self, *, backlog: int = 1024, loop: str = "auto", keepalive_s: float = DEFAULT_KEEPALIVE_S,
                 startup_timeout_s: float = 20.0, key: str = "slow-service", io_service: str = "fixed",
                 io_sigma: float = 0.5, io_seed: int = 0) -> None:
        if isinstance(backlog, bool) or not isinstance(backlog, int) or not (1 <= backlog <= 65535):
            raise ValueError(f"backlog must be an int from 1 to 65535, got {backlog!r}")
        checks.choice("loop", loop, self.LOOPS)
        self.backlog = backlog
        self.keepalive_s = checks.number("keepalive_s", keepalive_s, low=0, high=3600)
        checks.choice("io_service", io_service, self.IO_SERVICES)
        self.io_service = io_service
        self.io_sigma = checks.number("io_sigma", io_sigma, low=0, high=3, allow_low=False)
        if isinstance(io_seed, bool) or not isinstance(io_seed, int) or io_seed < 0:
            raise ValueError(f"io_seed must be an int >= 0, got {io_seed!r}")
        self.io_seed = io_seed
        cmd = base.python_module("helpers.servers.slow_server", "--port", "0", "--backlog", str(backlog),
                                 "--loop", loop, "--keepalive", str(self.keepalive_s))
        if io_service != "fixed":  # the fixed service's command line stays what it always was
            cmd += ["--io-service", io_service, "--io-sigma", repr(self.io_sigma), "--io-seed", str(io_seed)]
        super().__init__(cmd, key=key, startup_timeout_s=startup_timeout_s)

    @property
    def limits(self) -> dict[str, Any]:
        out = {**super().limits, "workers": 1, "threads_per_worker": 1, "concurrent_requests_max": None,
               **self._backlog_limits(self.backlog)}
        out["io_service"] = self.io_service
        if self.io_service != "fixed":
            out["io_seed"] = self.io_seed
            if self.io_service == "lognormal":
                out["io_sigma"] = self.io_sigma
        out["server_open_files"] = self.info.get("open_files")  # the old names, kept for old callers
        out["server_open_files_hard"] = self.info.get("open_files_hard")
        return out
