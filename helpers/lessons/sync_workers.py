"""Notebook 03's experiments on gunicorn's sync workers: sweeps of workers x clients."""

from __future__ import annotations

import pandas as pd

from helpers import load
from helpers.core import timing
from helpers.core.progress import bar as progress_bar  # these functions take a `progress` flag
from helpers.servers import Gunicorn


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
    if not configs:
        raise ValueError("configs must list at least one gunicorn configuration")
    if isinstance(requests_per_client, bool) or not isinstance(requests_per_client, int) or requests_per_client < 1:
        raise ValueError(f"requests_per_client must be a positive int, got {requests_per_client!r}")
    plan = [(cfg, c) for cfg in configs for c in clients_for(cfg)]
    rows, limits = [], []
    bar = progress_bar(total=len(plan), desc="runs", disable=not progress)
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
