"""The one interface every server of the course has.

A server is a real program in its own process group on 127.0.0.1, started by
a context manager::

    with servers.SlowService() as svc:            # or Gunicorn(...), AiohttpServer(...), Uvicorn(...)
        svc.url("/io", ms=100)                   # http://127.0.0.1:PORT/io?ms=100
        svc.base_url, svc.pid, svc.worker_pids(), svc.memory(), svc.limits

It binds port 0 and the real port comes from the server's own READY line
(``READY {json}`` printed once it listens: by the program itself, or by a
gunicorn hook), never from scraping its log. If it fails to start, the error
carries the server's output. It is stopped with every process it started on
exit, on an error, on an interrupt, and before a re-run starts another one
under the same key (``helpers.core.procs.ManagedProcess``).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import psutil

from helpers.core import checks, workloads
from helpers.core.procs import ManagedProcess
from helpers.core.system import effective_backlog, somaxconn
from helpers.servers import contract
from helpers.servers.contract import UPSTREAM_ENV  # noqa: F401  (public name of this module)

READY_PATTERN = r"(?m)^READY (\{.*\})\s*$"
WORKER_READY_PATTERN = r"(?m)^WORKER READY pid=(\d+)"  # optionally followed by a JSON object of facts
MB = 2**20


def ready_line(**info: Any) -> str:
    """The line a server prints once it listens (the server side of the READY protocol)."""
    return "READY " + json.dumps(info, sort_keys=True)


def check_backlog(backlog: Any) -> int:
    """Return ``backlog`` if it is a listen backlog from 1 to 65535."""
    return checks.count("backlog", backlog, 65535)


class Server(ManagedProcess):
    """Base class: a server process that announces itself with a READY line.

    Subclasses pass the command line and set ``name``; ``workers`` is the
    number of worker processes the server reports with WORKER READY lines (0
    for a single-process server, which serves in its own process).
    """

    name = "server"

    def __init__(self, cmd: list[str], *, key: str, env: dict[str, str] | None = None,
                 startup_timeout_s: float = 30.0, workers: int = 0, upstream: str | None = None) -> None:
        if upstream is not None:
            checks.loopback_url(upstream, "upstream")
        workloads.calibrate()  # once here; the server inherits the figure through the environment
        env = dict(os.environ if env is None else env)
        env.pop(UPSTREAM_ENV, None)  # only the upstream given here, never one inherited by accident
        if upstream:
            env[UPSTREAM_ENV] = upstream.rstrip("/")
        # DeprecationWarnings go to the server's log, where ``limits`` reports them.
        env.setdefault("PYTHONWARNINGS", "default::DeprecationWarning")
        super().__init__(cmd, key=key, ready_pattern=READY_PATTERN, startup_timeout_s=startup_timeout_s, env=env)
        self.upstream = upstream
        self.workers = workers
        self.info: dict[str, Any] = {}  # the READY line's facts
        self.app_info: dict[str, Any] = {}  # what the app says about itself in /health ("limits")
        self.port: int | None = None

    # -- start-up ----------------------------------------------------------
    def after_ready(self, match) -> None:
        """Read the READY line, wait for every worker, then prove one request is answered."""
        self.info = json.loads(match.group(1))
        self.port = int(self.info["port"])
        if self.workers:
            self.after_workers_ready(self.wait_for(WORKER_READY_PATTERN + r"(.*)$", count=self.workers))
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=10) as r:
                self.app_info = json.loads(r.read()).get("limits", {})
        except OSError as e:
            raise RuntimeError(f"the {self.name} printed READY but does not answer /health ({e}).\n"
                               f"Its output:\n{self.output()[-3000:]}") from None

    def after_workers_ready(self, matches) -> None:
        """Hook: every worker printed ``WORKER READY pid=N [json]`` (the matches)."""

    def __enter__(self):
        super().__enter__()
        return self

    # -- addresses -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"the {self.name} is not running; use it inside a `with` block")
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/io", **params: float) -> str:
        """URL of an endpoint with its parameters, e.g. ``url("/io", ms=100)``, ``url("/mix", cpu_ms=5, io_ms=50)``.

        Every parameter is a number of milliseconds (0 to 60,000) except ``k``
        (a pool size, for ``/db``).
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        known = contract.ENDPOINTS
        if path in known:
            unknown = sorted(set(params) - set(known[path]))
            if unknown:
                raise ValueError(f"{path} takes {', '.join(known[path]) or 'no parameters'}, not {unknown[0]!r}")
        for k, v in params.items():
            if k == "k":
                checks.count("k", v, 10_000)
            else:
                checks.milliseconds(v, k)
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}{path}{query}"

    # -- processes -----------------------------------------------------------
    def worker_pids(self) -> list[int]:
        """PIDs of the processes that serve requests: the workers, or the server itself."""
        if self.pid is None:
            return []
        if not self.workers:
            return [self.pid]
        try:
            return sorted(c.pid for c in psutil.Process(self.pid).children())
        except psutil.Error:
            return []

    def processes(self) -> list[tuple[str, int]]:
        """(role, pid) of every process of the server: master and workers, or the one server."""
        if self.pid is None:
            return []
        if not self.workers:
            return [("server", self.pid)]
        return [("master", self.pid)] + [("worker", p) for p in self.worker_pids()]

    def memory(self) -> pd.DataFrame:
        """Memory of each process of the server: one row each, role, pid, rss_mb, uss_mb.

        RSS counts every page a process has in RAM, including pages it shares
        with others (the interpreter, libraries, pages inherited at fork);
        USS counts only the pages that are its alone: what it would free on exit.
        """
        rows = []
        for role, pid in self.processes():
            try:
                info = psutil.Process(pid).memory_full_info()
            except psutil.Error:
                continue
            rows.append({"role": role, "pid": pid, "rss_mb": info.rss / MB, "uss_mb": info.uss / MB})
        return pd.DataFrame(rows, columns=["role", "pid", "rss_mb", "uss_mb"])

    def cpu_times(self) -> float:
        """CPU seconds (user + system) used so far by every process of the server."""
        total = 0.0
        for _, pid in self.processes():
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    # -- limits --------------------------------------------------------------
    def _backlog_limits(self, requested: int) -> dict[str, Any]:
        return {"listen_backlog_requested": requested, "somaxconn": somaxconn(),
                "listen_backlog_effective": effective_backlog(requested)}

    def deprecation_warnings(self) -> list[str]:
        """The DeprecationWarning lines the server printed so far (its log keeps them, the notebook does not)."""
        return sorted({line.strip() for line in self.output().splitlines() if "DeprecationWarning" in line})

    @property
    def limits(self) -> dict[str, Any]:
        """Every limit of the server that could cap a measurement (subclasses add their own).

        The READY line's facts (loop, backlog, open files...), what the app
        reports in /health (upstream client and its pool, to_thread pool), the
        /db pool rule, and any DeprecationWarning the server printed.
        """
        out: dict[str, Any] = {"server": self.name}
        out.update({k: v for k, v in self.info.items() if k not in ("port", "pid")})
        out.update({k: v for k, v in self.app_info.items() if k not in out})
        out["db_pool"] = f"k per process, the /db request's parameter (default {contract.DEFAULT_K})"
        out["access_log"] = False
        out["deprecation_warnings"] = self.deprecation_warnings()
        return out


def python_module(module: str, *args: str) -> list[str]:
    """The command line that runs ``python -m MODULE ARGS`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
