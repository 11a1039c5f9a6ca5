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

    Its URLs are the base ones: ``svc.url("/io", ms=100)``, ``svc.url("/mix", cpu_ms=5, io_ms=50)``.
    """

    name = "slow service"
    LOOPS = ("auto", "asyncio", "uvloop")

    def __init__(self, *, backlog: int = 1024, loop: str = "auto", keepalive_s: float = DEFAULT_KEEPALIVE_S,
                 startup_timeout_s: float = 20.0, key: str = "slow-service") -> None:
        if isinstance(backlog, bool) or not isinstance(backlog, int) or not (1 <= backlog <= 65535):
            raise ValueError(f"backlog must be an int from 1 to 65535, got {backlog!r}")
        checks.choice("loop", loop, self.LOOPS)
        self.backlog = backlog
        self.keepalive_s = checks.number("keepalive_s", keepalive_s, low=0, high=3600)
        cmd = base.python_module("helpers.servers.slow_server", "--port", "0", "--backlog", str(backlog),
                                 "--loop", loop, "--keepalive", str(self.keepalive_s))
        super().__init__(cmd, key=key, startup_timeout_s=startup_timeout_s)

    @property
    def limits(self) -> dict[str, Any]:
        out = {**super().limits, "workers": 1, "threads_per_worker": 1, "concurrent_requests_max": None,
               **self._backlog_limits(self.backlog)}
        out["server_open_files"] = self.info.get("open_files")  # the old names, kept for old callers
        out["server_open_files_hard"] = self.info.get("open_files_hard")
        return out
