"""Queueing under random arrivals (notebook 03): latency against utilisation, the hockey stick.

Open-loop load (``helpers.load.run_open_loop``: Poisson arrivals at a set rate,
latency from the scheduled instant) against gunicorn sync workers whose
``/io`` waits on the slow service. For each worker count W and each target
utilisation rho the rate is ``rho * W / S``, where S is the service time the
server itself records (its handlers' start to end, from a short calibration
run at one client). Each point's own utilisation is then recomputed from its
measured service time, and set beside the M/D/c (fixed service) or M/M/c
(exponential service) model of ``helpers.core.models``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from helpers import load
from helpers.core import models
from helpers.core.progress import bar as progress_bar
from helpers.servers import Gunicorn, SlowService

SERVICES = {"fixed": "M/D/c", "exponential": "M/M/c"}


def params() -> dict[str, Any]:
    """The experiment's size in this mode (``hockey_stick`` arguments); the notebook and
    ``scripts/flips_queueing.py`` both use it."""
    from helpers.core import config

    return {
        "workers": config.pick(full=(1, 2, 4), quick=(1, 4)),
        "rhos": config.pick(full=(0.2, 0.4, 0.6, 0.7, 0.8, 0.9), quick=(0.2, 0.5, 0.8, 0.9)),
        "ms": config.pick(full=20, quick=10),
        "seconds": config.pick(full=6.0, quick=1.0),
        "min_requests": config.pick(full=100, quick=30),
        "max_requests": config.pick(full=2000, quick=300),
        "service": "fixed",
    }


def requests_for(rate_rps: float, seconds: float, lo: int, hi: int) -> int:
    """How many requests a point sends: ``rate_rps * seconds``, clipped to [lo, hi]."""
    if not (rate_rps > 0 and seconds > 0 and 1 <= lo <= hi):
        raise ValueError(f"need rate_rps > 0, seconds > 0 and 1 <= lo <= hi, got {rate_rps}, {seconds}, {lo}, {hi}")
    return int(min(hi, max(lo, round(rate_rps * seconds))))


def model_quantile(service: str, rate_rps: float, service_s: float, servers: int, q: float) -> float:
    """The response-time quantile ``q`` (seconds) of the model for ``service`` ("fixed": M/D/c,
    "exponential": M/M/c); NaN at or above utilisation 1 (no steady state)."""
    if service not in SERVICES:
        raise ValueError(f"service must be one of {tuple(SERVICES)}, got {service!r}")
    if rate_rps * service_s / servers >= 1:
        return float("nan")
    fn = models.mdc_response_quantile if service == "fixed" else models.mmc_response_quantile
    return float(fn(rate_rps, service_s, servers, q))


def point(df: pd.DataFrame, *, workers: int, rate_rps: float, service: str = "fixed") -> dict[str, Any]:
    """One point of the sweep from one open-loop run's table: its utilisation from the server's own
    service times, measured and model P50/P99 (milliseconds), and what the generator did."""
    ok = df[df["error"].isna()]
    service_s = float(ok["service_s"].mean())
    rho = rate_rps * service_s / workers
    lim = df.attrs.get("limits", {})
    p50, p99 = (float(x) * 1000 for x in ok["latency_s"].quantile([0.5, 0.99]))
    return {
        "workers": workers, "rate_rps": rate_rps, "requests": len(df), "errors": int(df["error"].notna().sum()),
        "service_ms": service_s * 1000, "rho": rho, "p50_ms": p50, "p99_ms": p99,
        "model_p50_ms": model_quantile(service, rate_rps, service_s, workers, 0.5) * 1000,
        "model_p99_ms": model_quantile(service, rate_rps, service_s, workers, 0.99) * 1000,
        "queued_share": float((ok["wait_s"] > 0.2 * service_s).mean()),
        "send_late_p99_ms": lim.get("send_late_p99_s", float("nan")) * 1000,
        "waited_for_connection": lim.get("waited_for_connection", 0),
        "loadgen_cpu_share": lim.get("loadgen_cpu_share", float("nan")),
    }


def calibrate(url: str, requests: int = 5, warmup: int = 1) -> float:
    """The handler time (seconds) the server records for ``url``: the median of ``requests`` sequential
    GETs sent from this process (one client, so nothing queues), after ``warmup`` GETs (give each
    worker one: its first call opens its connection to the upstream)."""
    from helpers.core.timing import request_frame
    from helpers.load.clients import get_blocking

    for _ in range(warmup):
        get_blocking(url)
    rows = [get_blocking(url) for _ in range(requests)]
    bad = [r["error"] or r["status"] for r in rows if r["error"] or r["status"] != 200]
    if bad:
        raise RuntimeError(f"the calibration requests to {url} failed: {bad[0]}")
    return float(request_frame(rows, 0.0)["service_s"].median())


def hockey_stick(workers=(1, 4), rhos=(0.2, 0.5, 0.8, 0.9), *, ms: float = 10, seconds: float = 1.0,
                 min_requests: int = 30, max_requests: int = 300, service: str = "fixed", seed: int = 0,
                 progress: bool = True) -> pd.DataFrame:
    """Latency against utilisation: for each sync worker count and target utilisation, one open-loop run.

    One slow service (``io_service=service``, mean ``ms`` milliseconds per /io, seeded) and, per
    worker count, one gunicorn with that many sync workers. ``calibrate`` (5 + W requests, one
    client, after 2W warm-ups) gives the handler time S from the server's records; each point then sends
    ``requests_for(rho * W / S, seconds, min_requests, max_requests)`` Poisson arrivals at rate
    rho * W / S (schedule seed ``seed + 100 * W + k`` for the k-th rho: every run sees the same
    arrivals). Returns one row per point (``point``) plus rho_target and seed; ``attrs`` hold the
    service kind, its model name and the servers' limits.
    """
    if service not in SERVICES:
        raise ValueError(f"service must be one of {tuple(SERVICES)}, got {service!r}")
    workers, rhos = list(workers), list(rhos)
    if not workers or not rhos:
        raise ValueError("workers and rhos must each list at least one value")
    if any(not (0 < r < 1) for r in rhos):
        raise ValueError(f"every target utilisation must be strictly between 0 and 1, got {rhos}")
    rows, limits = [], []
    bar = progress_bar(total=len(workers) * len(rhos), desc="points", disable=not progress)
    try:
        with SlowService(key="queueing-upstream", io_service=service, io_seed=seed) as svc:
            for w in workers:
                with Gunicorn(workers=w, upstream=svc.base_url, key="queueing-gunicorn") as srv:
                    url = srv.url("/io", ms=ms)
                    s_cal = calibrate(url, requests=5 + w, warmup=2 * w)
                    limits.append({"workers": w, "server": dict(srv.limits), "upstream": dict(svc.limits),
                                   "calibration_service_ms": s_cal * 1000})
                    for k, r in enumerate(rhos):
                        rate = r * w / s_cal
                        n = requests_for(rate, seconds, min_requests, max_requests)
                        sd = seed + 100 * w + k
                        df = load.run_open_loop(url, rate_rps=rate, requests=n, seed=sd)
                        rows.append({"rho_target": r, "seed": sd, **point(df, workers=w, rate_rps=rate,
                                                                          service=service)})
                        limits[-1].setdefault("loadgen", df.attrs["limits"])
                        bar.update(1)
    finally:
        bar.close()
    out = pd.DataFrame(rows)
    out.attrs.update({"service": service, "model": SERVICES[service], "ms": ms, "limits": limits})
    return out


def curves(points: pd.DataFrame, rho_grid=None) -> pd.DataFrame:
    """The model's P50 and P99 (ms) against utilisation for each worker count, at that worker
    count's median measured service time: one row per (workers, rho)."""
    service = points.attrs.get("service", "fixed")
    grid = np.linspace(0.05, 0.95, 37) if rho_grid is None else np.asarray(rho_grid, dtype=float)
    rows = []
    for w, g in points.groupby("workers"):
        s = float(g["service_ms"].median()) / 1000
        for r in grid:
            rate = r * w / s
            rows.append({"workers": w, "rho": r, "model_p50_ms": model_quantile(service, rate, s, w, 0.5) * 1000,
                         "model_p99_ms": model_quantile(service, rate, s, w, 0.99) * 1000})
    return pd.DataFrame(rows)


def decision(points: pd.DataFrame, *, growth: float = 2.0, queued_gap: float = 0.3, factor: float = 2.0) -> dict:
    """The C3 rule for the hockey stick (stable: see scripts/flips_queueing.py).

    grew: with the fewest workers, P99 at the highest utilisation > ``growth`` x P99 at the lowest
    (with more workers the rise is real but smaller, and a short run's P99 at low load is as
    much the machine's jitter as the queue's);
    fewer_queue: at the same arrival rate (1 worker at its target 0.8, the most workers at their
    lowest target, when the plan holds both rates: rho 0.8 x 1 = 0.2 x 4), the share of requests
    that waited for a worker (``queued_share``) is more than ``queued_gap`` higher with 1 worker
    (None when the plan has no such pair; the P99 ratio is reported as same_rate_ratio, but one
    hiccup of the machine moves a short run's P99, and hardly moves a share);
    model: the median over every point of measured / model, P50 and P99 together, is within a
    factor ``factor`` (points at or beyond utilisation 1 have no model and are left out).
    Returns dict(outcome, grew, fewer_queue, model, growth, queued_gap, same_rate_ratio, model_ratio).
    """
    g = points.sort_values("rho_target")
    fewest = g[g["workers"] == g["workers"].min()]
    out: dict[str, Any] = {"growth": float(fewest["p99_ms"].iloc[-1] / fewest["p99_ms"].iloc[0])}
    out["grew"] = out["growth"] > growth
    most = int(points["workers"].max())
    a = points[(points["workers"] == 1) & np.isclose(points["rho_target"], 0.2 * most)]
    b = points[(points["workers"] == most) & np.isclose(points["rho_target"], 0.2)]
    if most > 1 and len(a) and len(b):
        out["same_rate_ratio"] = float(a["p99_ms"].iloc[0] / b["p99_ms"].iloc[0])
        out["queued_gap"] = float(a["queued_share"].iloc[0] - b["queued_share"].iloc[0])
        out["fewer_queue"] = out["queued_gap"] > queued_gap
    else:
        out["same_rate_ratio"], out["queued_gap"], out["fewer_queue"] = float("nan"), float("nan"), None
    ratios = pd.concat([points["p50_ms"] / points["model_p50_ms"], points["p99_ms"] / points["model_p99_ms"]])
    ratios = ratios.replace([np.inf, -np.inf], np.nan).dropna()
    out["model_ratio"] = float(ratios.median()) if len(ratios) else float("nan")
    out["model"] = bool(len(ratios)) and 1 / factor <= out["model_ratio"] <= factor
    out["outcome"] = bool(out["grew"] and out["fewer_queue"] is not False and out["model"])
    return out


def generator_kept_up(points: pd.DataFrame) -> bool:
    """True if no request failed and none waited for a free connection (the open loop was never capped).
    How late the generator sent (``send_late_p99_ms``) is printed, not judged: that lateness is
    part of each latency already, since latency counts from the scheduled instant."""
    return bool((points["waited_for_connection"] == 0).all() and (points["errors"] == 0).all())


def plot(points: pd.DataFrame, curve: pd.DataFrame | None = None):
    """P50 (circles) and P99 (squares) against utilisation, one colour per worker count, over the
    model's curves (dashed P99, dotted P50); log latency axis. Returns the Axes."""
    import matplotlib.pyplot as plt

    curve = curves(points) if curve is None else curve
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    model = points.attrs.get("model", "model")
    for i, (w, g) in enumerate(points.groupby("workers")):
        col = colours[i % len(colours)]
        cv = curve[curve["workers"] == w]
        lab = f"{w} sync worker{'s' if w > 1 else ''}"
        ax.plot(cv["rho"], cv["model_p99_ms"], "--", color=col, lw=1.2, label=f"{model} P99, {lab}")
        ax.plot(cv["rho"], cv["model_p50_ms"], ":", color=col, lw=1.2)
        ax.plot(g["rho"], g["p99_ms"], "s", color=col, ms=7, label=f"measured P99, {lab}")
        ax.plot(g["rho"], g["p50_ms"], "o", color=col, ms=6, mfc="white", label=f"measured P50, {lab}")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("utilisation rho = arrival rate x service time / workers")
    ax.set_ylabel("latency from the scheduled send (ms, log)")
    ax.set_title("Random arrivals: latency against utilisation (dotted: model P50)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    return ax


__all__ = ["SERVICES", "curves", "decision", "generator_kept_up", "hockey_stick", "model_quantile", "params",
           "plot", "point", "requests_for"]
