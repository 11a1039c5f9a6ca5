"""Notebook 03's experiments on gunicorn's sync workers: sweeps of workers x clients."""

from __future__ import annotations

import numpy as np
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


# --- one request at a time per worker (C1) -----------------------------------------------------
def overlapping(df: pd.DataFrame, tolerance_s: float = 1e-4) -> int:
    """How many requests started on a worker before that worker's previous request ended.

    ``df`` is one row per request with server_pid, server_start and server_end
    (seconds, from ``load.run_load``); ``tolerance_s`` absorbs clock jitter.
    0 means no worker ever had two requests at once.
    """
    for c in ("server_pid", "server_start", "server_end"):
        if c not in df.columns:
            raise ValueError(f"no column {c!r}; columns are {list(df.columns)}")
    d = df.dropna(subset=["server_start", "server_end"]).sort_values(["server_pid", "server_start"])
    prev_end = d.groupby("server_pid")["server_end"].shift()
    return int((d["server_start"] < prev_end - tolerance_s).sum())


def draw_gunicorn(workers: int = 4):
    """Diagram: gunicorn's master, the shared listening socket, and sync workers racing to accept()."""
    from helpers.core import diagrams

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 8:
        raise ValueError(f"workers must be an int from 1 to 8, got {workers!r}")
    h = max(4.2, 1.1 * workers + 0.8)
    ax = diagrams.canvas(11, h, title="gunicorn with sync workers: one shared socket, workers race to accept()")
    diagrams.box(ax, 0.2, h / 2 - 0.9, 1.6, 1.8, "clients", kind="client")
    diagrams.box(ax, 3.0, h / 2 - 1.0, 2.4, 2.0, "listening socket\n(kernel)\n\nbacklog: connections\nno worker took yet",
                 kind="kernel", fontsize=8)
    diagrams.arrow(ax, (1.8, h / 2), (3.0, h / 2), "connect()")
    diagrams.box(ax, 3.2, h - 0.75, 2.0, 0.6, "master (serves nothing)", kind="process", dashed=True, fontsize=8)
    diagrams.arrow(ax, (4.2, h - 0.75), (4.2, h / 2 + 1.0), "bind, listen", dashed=True, offset=(0.6, 0.0))
    ys = [h / 2 + (workers - 1) / 2 * 1.05 - i * 1.05 for i in range(workers)]
    for i, y in enumerate(ys):
        diagrams.box(ax, 7.4, y - 0.4, 2.4, 0.8, f"worker {i + 1}: one request\nat a time", kind="process",
                     fontsize=8)
        diagrams.arrow(ax, (7.4, y), (5.4, h / 2), "select() then accept()" if i == 0 else "", bend=0.0,
                       offset=(0.0, 0.15))
    diagrams.label(ax, 5.6, 0.15, "every idle worker waits in select() on the same socket; when a connection\n"
                   "arrives they race to accept() it and one wins (the kernel hands it to no one)", fontsize=8)
    return ax


# --- CPU-bound requests: processes, threads and cores (C4) -------------------------------------
def cpu_configs(cores: int) -> list[dict]:
    """The CPU experiment's servers: 1, ``cores`` and 2 x ``cores`` sync workers, and 1 gthread worker
    with ``cores`` threads (as many requests at once as ``cores`` sync workers, in one process)."""
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cores must be a positive int, got {cores!r}")
    sync = [{"workers": w} for w in sorted({1, cores, 2 * cores})]
    return sync + [{"workers": 1, "worker_class": "gthread", "threads": max(2, cores)}]


def cpu_sweep(cores: int, *, ms: float = 10, repeats: int = 5, requests: int = 60,
              progress: bool = True) -> tuple[pd.DataFrame, "object"]:
    """CPU-bound requests (``/cpu?ms=``) on every ``cpu_configs(cores)`` server, interleaved.

    All servers run at once; each repeat runs every configuration once, back to back, so drift
    in the machine's speed hits them alike. Each run sends ``requests`` requests from
    2 x capacity closed-loop clients (capacity = workers x threads). The whole sweep is inside a
    ``system.CpuWindow``, returned with the table.

    Returns (runs, window): one row per run with config, worker_class, workers, threads, capacity,
    clients, repeat, throughput_rps, p50_ms, service_ms (median handler time from the server's
    own server_start/server_end), loadgen_cpu_share (the load generator's CPU per wall second)
    and errors.
    """
    from contextlib import ExitStack

    from helpers.core import system

    for name, v in (("repeats", repeats), ("requests", requests)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    configs = cpu_configs(cores)
    rows = []
    bar = progress_bar(total=len(configs) * repeats, desc="runs", disable=not progress)
    try:
        with ExitStack() as stack:
            srvs = [stack.enter_context(Gunicorn(key=f"gunicorn-cpu-{i}", **cfg)) for i, cfg in enumerate(configs)]
            with system.CpuWindow() as window:
                for rep in range(repeats):
                    for srv in srvs:
                        cap = srv.workers * srv.threads
                        df = load.run_load(srv.url("/cpu", ms=ms), requests=requests, concurrency=2 * cap)
                        s = timing.summarize(df).iloc[0]
                        rows.append({
                            "config": _label(srv), "worker_class": srv.worker_class, "workers": srv.workers,
                            "threads": srv.threads, "capacity": cap, "clients": 2 * cap, "repeat": rep,
                            "throughput_rps": s["throughput_rps"], "p50_ms": s["p50_ms"],
                            "service_ms": df["service_s"].median() * 1000,
                            "loadgen_cpu_share": df.attrs["limits"].get("loadgen_cpu_share", float("nan")),
                            "errors": s["errors"],
                        })
                        bar.update(1)
    finally:
        bar.close()
    return pd.DataFrame(rows), window


def cpu_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: median throughput, p50, service time and load-generator CPU share
    over the repeats, and the spread of throughput (min, max)."""
    g = runs.groupby("config", sort=False)
    out = g.agg(worker_class=("worker_class", "first"), workers=("workers", "first"),
                threads=("threads", "first"), clients=("clients", "first"),
                throughput_rps=("throughput_rps", "median"), rps_min=("throughput_rps", "min"),
                rps_max=("throughput_rps", "max"), p50_ms=("p50_ms", "median"),
                service_ms=("service_ms", "median"), loadgen_cpu_share=("loadgen_cpu_share", "median"))
    return out.reset_index()


def _paired(runs: pd.DataFrame, num: str, den: str) -> float:
    """Median over repeats of throughput(num) / throughput(den), each pair from the same repeat."""
    p = runs.pivot_table(index="repeat", columns="config", values="throughput_rps")
    return float((p[num] / p[den]).median())


def cpu_decision(runs: pd.DataFrame, cores: int, free_cores: float) -> dict:
    """The C4 rule, from the interleaved runs of ``cpu_sweep`` and the cores the run really had.

    Ratios are medians over repeats of back-to-back pairs. The ideal gain from 1 worker to
    ``cores`` workers is what the machine offered: ``available = min(cores, free_cores)``.
    Each ratio is judged against the log-scale midpoint of its two models:
    processes helped if the 1 -> cores gain > sqrt(available) (nearer the ideal than none);
    no further if the cores -> 2 x cores gain < sqrt(2) (nearer flat than doubling);
    threads did not add CPU throughput if 1 gthread worker / 1 sync worker < sqrt(available).
    Returns dict(outcome, reason, gain, beyond, threads, available); outcome is True, False or
    "inconclusive" (one usable core, or less than 1.5 cores free for the experiment: "busy").
    """
    import math

    one, many, over = "1 sync worker", f"{cores} sync workers", f"{2 * cores} sync workers"
    thr = [c for c in runs["config"].unique() if "threads" in c]
    available = min(float(cores), float(free_cores))
    out = {"gain": float("nan"), "beyond": float("nan"), "threads": float("nan"), "available": available}
    if cores < 2:
        return {**out, "outcome": "inconclusive", "reason": "one-core"}
    out["gain"], out["beyond"] = _paired(runs, many, one), _paired(runs, over, many)
    out["threads"] = _paired(runs, thr[0], one) if thr else float("nan")
    if available < 1.5:
        return {**out, "outcome": "inconclusive", "reason": "busy"}
    helped = out["gain"] > math.sqrt(available)
    flat = out["beyond"] < math.sqrt(2)
    gil = not thr or out["threads"] < math.sqrt(available)
    out["helped"], out["flat"], out["gil"] = helped, flat, gil
    if helped and flat and gil:
        return {**out, "outcome": True, "reason": "model"}
    return {**out, "outcome": False, "reason": "+".join(k for k, ok in (("not-helped", helped),
                                                                         ("grew-beyond", flat),
                                                                         ("threads-scaled", gil)) if not ok)}


def cpu_params() -> dict:
    """The CPU experiment's size (``cpu_sweep`` arguments) in this mode: the notebook and
    ``scripts/flips_c4.py`` both use it, so the script tests the notebook's sizes."""
    from helpers.core import config

    return {"ms": config.pick(full=20, quick=10), "repeats": config.pick(full=7, quick=3),
            "requests": config.pick(full=120, quick=40)}


def plot_cpu(cpu: pd.DataFrame, cores: int):
    """Throughput of the CPU-bound runs (median, with the repeats' range), sync workers as a line
    against the model ``model_rps``, the one gthread worker as a point; the y axis starts at 0."""
    import matplotlib.pyplot as plt

    from helpers.core import plots

    sync = cpu[cpu["threads"] == 1].sort_values("workers")
    ax = plots.sweep(sync, "workers", "throughput_rps", model=sync, model_y="model_rps",
                     model_label="model min(W, cores) / service time", xlabel="sync workers (W)",
                     ylabel="throughput (requests/s)", title=f"CPU-bound requests on {cores} usable cores")
    ax.vlines(sync["workers"], sync["rps_min"], sync["rps_max"], color="#1f77b4", alpha=0.5, lw=3,
              label="range over the repeats")
    for _, r in cpu[cpu["threads"] > 1].iterrows():
        ax.errorbar([r["threads"]], [r["throughput_rps"]],
                    yerr=[[r["throughput_rps"] - r["rps_min"]], [r["rps_max"] - r["throughput_rps"]]],
                    fmt="s", color="#2ca02c", capsize=4, label=f"{r['config']} (x = its threads)")
    ax.set_xticks(sorted(set(sync["workers"]) | set(cpu.loc[cpu["threads"] > 1, "threads"])))
    ax.set_ylim(bottom=0, top=max(cpu["rps_max"].max(), cpu["model_rps"].max()) * 1.15)
    ax.legend(fontsize=8, loc="lower right")
    plt.setp(ax.get_legend().get_texts(), fontsize=8)
    return ax


def plot_sweep(grid: pd.DataFrame):
    """Section 4's two panels (throughput, median latency) against the closed-loop model, with
    plain-number ticks on the log axes and one legend below both panels."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    from helpers.core import plots

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    plots.sweep(grid, "clients", "throughput_rps", hue="config", model=grid, model_y="model_rps",
                model_label="model min(C, W)/L", ax=ax1, logx=True, xlabel="concurrent clients (C)",
                ylabel="throughput (requests/s)", title="Throughput")
    plots.sweep(grid, "clients", "p50_ms", hue="config", model=grid, model_y="model_ms",
                model_label="model L·max(1, C/W)", ax=ax2, logx=True, logy=True,
                xlabel="concurrent clients (C)", ylabel="median latency (ms)", title="Median latency")
    clients = sorted(grid["clients"].unique())
    lo, hi = grid[["p50_ms", "model_ms"]].min().min(), grid[["p50_ms", "model_ms"]].max().max()
    yt = [v for v in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if lo / 1.5 <= v <= hi * 1.5]
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(FixedLocator(clients))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
    ax2.yaxis.set_major_locator(FixedLocator(yt))
    ax2.yaxis.set_minor_locator(NullLocator())
    ax2.yaxis.set_major_formatter(ScalarFormatter())
    handles, labels = ax1.get_legend_handles_labels()
    for ax in (ax1, ax2):
        if ax.get_legend():
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    return fig


def bare_interpreter_uss_mb(timeout_s: float = 30.0) -> float:
    """USS (MB) of a bare ``python -c`` interpreter that imports nothing: what one more process costs
    before any app is loaded. Started, measured and stopped here (always stopped)."""
    import subprocess
    import sys
    import time

    import psutil

    p = subprocess.Popen([sys.executable, "-S", "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return psutil.Process(p.pid).memory_full_info().uss / 2**20
            except psutil.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=timeout_s)


# the sentence parts for each way ``cpu_decision`` can find the runs departing from the model
# --- published figures beside ours (Cal Paterson's tails, iximiuz's threads) ----------------------
def _published(measure: str, source: str) -> float:
    from helpers.core import course

    df = course.published()
    row = df[df["source"].str.startswith(source) & (df["measure"] == measure)]
    if row.empty:
        raise KeyError(f"no published figure {measure!r} from {source!r} in data/published_figures.csv")
    return float(row["value"].iloc[0])


def published_beside(hundred: pd.DataFrame, grid: pd.DataFrame, points: pd.DataFrame | None = None) -> pd.DataFrame:
    """Two published shapes beside the same shapes measured in notebook 03, one row each
    (shape, source, published, ours, ours_what, model) plus, for the tail, the published range.

    - Cal Paterson (2020): P99 / P50 of gunicorn + Flask (sync), against ours at 100 closed-loop
      clients on 4 sync workers (``hundred``) and, with ``points`` (``queueing.hockey_stick``),
      under random arrivals at the highest utilisation tried with the most workers.
    - iximiuz: threaded / single-threaded Flask throughput (5 clients, 1 s upstream), against
      ours: the gthread server / 1 sync worker at the same client count from ``grid`` (section 4),
      the largest count both ran with at most 5 clients; model min(C, capacity) / min(C, 1).
    """
    from helpers.core import course

    src_cal, src_ix = "Cal Paterson", "iximiuz"
    cal = _published("gunicorn+Flask (sync) P99", src_cal) / _published("gunicorn+Flask (sync) P50", src_cal)
    pub = course.published()
    pub = pub[pub["source"].str.startswith(src_cal)]
    p50s = {m[:-4]: v for m, v in zip(pub["measure"], pub["value"]) if m.endswith(" P50")}
    p99s = {m[:-4]: v for m, v in zip(pub["measure"], pub["value"]) if m.endswith(" P99")}
    spread = [p99s[k] / p50s[k] for k in p50s if k in p99s]
    lat = hundred["latency_s"]
    rounds = np.ceil(np.arange(1, len(hundred) + 1) / 4)
    rows = [{"shape": "P99 / P50", "source": src_cal, "published": cal, "published_min": min(spread),
             "published_max": max(spread), "ours": float(lat.quantile(0.99) / lat.quantile(0.5)),
             "ours_what": f"{len(hundred)} clients at once, 4 sync workers (closed loop)",
             "model": float(np.quantile(rounds, 0.99) / np.quantile(rounds, 0.5))}]
    if points is not None and len(points):
        most = points[points["workers"] == points["workers"].max()].sort_values("rho_target").iloc[-1]
        rows.append({"shape": "P99 / P50", "source": src_cal, "published": cal, "published_min": min(spread),
                     "published_max": max(spread), "ours": float(most["p99_ms"] / most["p50_ms"]),
                     "ours_what": f"random arrivals, {int(most['workers'])} sync workers, utilisation "
                                  f"{most['rho']:.2f}",
                     "model": float(most["model_p99_ms"] / most["model_p50_ms"])})
    ix = _published("Flask threaded", src_ix) / _published("Flask single-threaded", src_ix)
    thr = grid[grid["threads"] > 1]
    one = grid[(grid["workers"] == 1) & (grid["threads"] == 1)]
    common = sorted(set(thr["clients"]) & set(one["clients"]))
    common = [c for c in common if c <= 5] or common
    if thr.empty or one.empty or not common:
        raise ValueError("grid needs a gthread server and 1 sync worker run at a common client count")
    c = common[-1]
    t = thr[thr["clients"] == c].iloc[0]
    o = one[one["clients"] == c].iloc[0]
    rows.append({"shape": "threaded / single-threaded throughput", "source": src_ix, "published": ix,
                 "published_min": ix, "published_max": ix, "ours": float(t["throughput_rps"] / o["throughput_rps"]),
                 "ours_what": f"{t['config']} / 1 sync worker, {c} clients",
                 "model": float(min(c, t["capacity"]) / min(c, 1))})
    return pd.DataFrame(rows)


def published_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per row of ``published_beside``, with its numbers (print it in a cell whose output
    is not compared): the published figure, ours, our model, and whether the shape agrees (ours on the
    same side of 1 and within a factor of 2 of the published figure)."""
    out = []
    for _, r in table.iterrows():
        same_side = (r["ours"] > 1) == (r["published"] > 1)
        close = same_side and 0.5 <= r["ours"] / r["published"] <= 2
        verdict = ("the same shape here (within a factor of 2)" if close else
                   "the same direction, but a wider gap here" if same_side and r["ours"] > r["published"] else
                   "the same direction, but a narrower gap here" if same_side else "the opposite way round here")
        extra = (f" (their servers ranged {r['published_min']:.1f}x to {r['published_max']:.1f}x)"
                 if r["published_max"] > r["published_min"] else "")
        out.append(f"{r['shape']}: {r['source']} published {r['published']:.2f}x{extra}; ours {r['ours']:.2f}x "
                   f"({r['ours_what']}; our model {r['model']:.2f}x): {verdict}.")
    return out


CPU_DEPARTURES = {
    "not-helped": "going up to one worker per core did not come nearer the ideal gain than none",
    "grew-beyond": "throughput kept growing beyond the core count",
    "threads-scaled": "one worker's threads added throughput as processes would",
}
