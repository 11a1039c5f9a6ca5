"""The synchronous web server of the course: the Flask app of ``helpers.wsgi_app``
served by real gunicorn, in its own process group on 127.0.0.1.

    with sync_server.Gunicorn(workers=4, upstream=svc.base_url) as srv:
        load.run_load(srv.url("/io", ms=100), requests=..., concurrency=...)

gunicorn's master binds port 0 and the real port is read from its own
"Listening at" line; the context manager then waits until *every* worker has
booted, and on exit (or error, or interrupt, or a re-run) stops the master
and all its workers. Not available on Windows (gunicorn needs fork).
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlencode

import pandas as pd
import psutil

from helpers import checks, workloads
from helpers.procs import ManagedProcess
from helpers.services import somaxconn
from helpers.wsgi_app import UPSTREAM_ENV

WORKER_CLASSES = ("sync", "gthread", "gevent")


class Gunicorn(ManagedProcess):
    """gunicorn serving ``app`` with a chosen worker class, worker count and threads.

    workers: worker processes (1-64). worker_class: "sync" (one request at a
    time per worker), "gthread" (``threads`` requests per worker) or "gevent".
    upstream: base URL of the slow service, for the ``/io`` endpoint.
    backlog: gunicorn's listen backlog (its default is 2048; capped by somaxconn).
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        worker_class: str = "sync",
        threads: int = 1,
        upstream: str | None = None,
        app: str = "helpers.wsgi_app:app",
        backlog: int = 2048,
        preload: bool = False,
        startup_timeout_s: float = 60.0,
        key: str = "gunicorn",
    ) -> None:
        if sys.platform == "win32":
            raise RuntimeError("gunicorn does not run on Windows; use WSL, Linux or macOS for this notebook")
        for name, v, hi in (("workers", workers, 64), ("threads", threads, 256), ("backlog", backlog, 65535)):
            if isinstance(v, bool) or not isinstance(v, int) or not (1 <= v <= hi):
                raise ValueError(f"{name} must be an int from 1 to {hi}, got {v!r}")
        if worker_class not in WORKER_CLASSES:
            raise ValueError(f"worker_class must be one of {WORKER_CLASSES}, got {worker_class!r}")
        if threads > 1 and worker_class != "gthread":
            raise ValueError("threads > 1 needs worker_class='gthread'")
        if upstream is not None and not upstream.startswith("http://127."):
            raise ValueError(f"upstream must be a loopback http:// address, got {upstream!r}")
        workloads.calibrate()  # once here; the workers inherit the figure
        env = dict(os.environ)
        if upstream:
            env[UPSTREAM_ENV] = upstream
        cmd = [
            sys.executable, "-m", "gunicorn",
            "--bind", "127.0.0.1:0",
            "--workers", str(workers),
            "--worker-class", worker_class,
            "--threads", str(threads),
            "--backlog", str(backlog),
            "--timeout", "120",
            "--graceful-timeout", "2",
            "--no-control-socket",
            "--config", "python:helpers.gunicorn_conf",
            "--log-level", "info",
        ]
        if preload:
            cmd.append("--preload")
        cmd.append(app)
        super().__init__(
            cmd,
            key=key,
            ready_pattern=r"Listening at: http://127\.0\.0\.1:(\d+) \((\d+)\)",
            startup_timeout_s=startup_timeout_s,
            env=env,
        )
        self.workers, self.worker_class, self.threads = workers, worker_class, threads
        self.backlog, self.preload = backlog, preload
        self.port: int | None = None

    def after_ready(self, match) -> None:
        """The master listens: read its port, then wait until every worker has booted."""
        self.port = int(match.group(1))
        self.wait_for(r"WORKER READY pid=(\d+)", count=self.workers)

    def __enter__(self) -> "Gunicorn":
        super().__enter__()
        return self

    def url(self, path: str = "/io", **params: float) -> str:
        """URL of an endpoint, e.g. ``url("/io", ms=100)`` or ``url("/cpu", ms=20)``."""
        if self.port is None:
            raise RuntimeError("gunicorn is not running; use it inside `with Gunicorn(...) as srv:`")
        for k, v in params.items():
            checks.milliseconds(v, k)
        query = f"?{urlencode(params)}" if params else ""
        return f"http://127.0.0.1:{self.port}{path}{query}"

    def worker_pids(self) -> list[int]:
        """PIDs of the worker processes now alive."""
        try:
            return sorted(c.pid for c in psutil.Process(self.pid).children())
        except psutil.Error:
            return []

    def memory(self) -> pd.DataFrame:
        """Memory of the master and each worker: one row each, role, pid, rss_mb, uss_mb.

        RSS counts every page a process has in RAM, including pages it shares
        with others (the interpreter, libraries, pages inherited at fork);
        USS counts only the pages that are its alone: what it would free on exit.
        """
        rows = []
        for role, pid in [("master", self.pid)] + [("worker", p) for p in self.worker_pids()]:
            try:
                info = psutil.Process(pid).memory_full_info()
            except psutil.Error:
                continue
            rows.append({"role": role, "pid": pid, "rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20})
        return pd.DataFrame(rows, columns=["role", "pid", "rss_mb", "uss_mb"])

    @property
    def limits(self) -> dict:
        cap = somaxconn()
        return {
            "server": f"gunicorn {self.worker_class}",
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "concurrent_requests_max": self.workers * self.threads if self.worker_class != "gevent" else None,
            "listen_backlog_requested": self.backlog,
            "listen_backlog_effective": min(self.backlog, cap) if cap else self.backlog,
            "preload": self.preload,
        }


def worker_sweep(
    configs: list[dict],
    clients_for,
    *,
    path: str = "/io",
    ms: float = 100,
    requests_per_client: int = 3,
    upstream: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """For each gunicorn configuration, sweep the number of concurrent clients.

    configs: dicts of ``Gunicorn`` arguments, e.g. ``{"workers": 4}`` or
        ``{"workers": 2, "worker_class": "gthread", "threads": 4}``.
    clients_for: function of a config giving the list of client counts to try.
    Each run sends ``requests_per_client * clients`` requests to ``path``
    (``ms`` milliseconds each) from closed-loop clients.

    Returns one row per run: config (a label), workers, threads, capacity
    (workers x threads), clients, requests, duration_s, throughput_rps,
    p50_ms, p99_ms, errors, busiest_worker_share (the largest share of the
    requests that one worker process served), and the server and
    load-generator limits in ``attrs["limits"]`` (a list, one per config).
    """
    from tqdm import tqdm

    from helpers import load, timing

    if not configs:
        raise ValueError("configs must list at least one gunicorn configuration")
    if isinstance(requests_per_client, bool) or not isinstance(requests_per_client, int) or requests_per_client < 1:
        raise ValueError(f"requests_per_client must be a positive int, got {requests_per_client!r}")
    plan = [(cfg, c) for cfg in configs for c in clients_for(cfg)]
    rows, limits = [], []
    bar = tqdm(total=len(plan), desc="runs", disable=not progress)
    try:
        for cfg in configs:
            with Gunicorn(upstream=upstream, key="gunicorn-sweep", **cfg) as srv:
                label = _label(srv)
                lim = dict(srv.limits)
                for c in clients_for(cfg):
                    df = load.run_load(srv.url(path, ms=ms), requests=requests_per_client * c, concurrency=c)
                    s = timing.summarize(df).iloc[0]
                    rows.append({
                        "config": label, "workers": srv.workers, "threads": srv.threads,
                        "capacity": srv.workers * srv.threads, "clients": c,
                        **{k: s[k] for k in ("requests", "errors", "duration_s", "throughput_rps", "p50_ms", "p99_ms")},
                        "busiest_worker_share": df["server_pid"].value_counts(normalize=True).max(),
                    })
                    lim.update({f"loadgen_{k}": v for k, v in df.attrs["limits"].items()
                                if k in ("client", "connection_limit", "loadgen_open_files")})
                    bar.update(1)
                limits.append(lim)
    finally:
        bar.close()
    out = pd.DataFrame(rows)
    out.attrs["limits"] = limits
    return out


def _label(srv: Gunicorn) -> str:
    if srv.worker_class == "gthread":
        return f"{srv.workers} workers x {srv.threads} threads"
    return f"{srv.workers} {srv.worker_class} worker{'s' if srv.workers > 1 else ''}"
