"""Measuring: wall versus CPU time, repeat-and-take-the-median, latency summaries.

One timing idiom everywhere::

    with timing.Timer() as t:
        do_something()
    t.wall_s, t.cpu_s, t.idle_share
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd


class Timer:
    """Context manager: wall time and this process's CPU time of the block.

    Attributes (seconds): ``wall_s``, ``cpu_s``; ``idle_share`` is the share
    of the wall time the process spent *not* on a CPU (waiting), from 0 to 1.
    With several busy threads CPU time can exceed wall time.
    """

    def __enter__(self) -> "Timer":
        self.wall_s = self.cpu_s = float("nan")
        self._w0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall_s = time.perf_counter() - self._w0
        self.cpu_s = time.process_time() - self._c0

    @property
    def idle_share(self) -> float:
        if not self.wall_s > 0:
            return float("nan")
        return max(0.0, 1.0 - self.cpu_s / self.wall_s)

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "idle_share": self.idle_share}


def repeat(fn: Callable[[], Any], repeats: int = 5, warmup: int = 0) -> pd.DataFrame:
    """Run ``fn()`` ``repeats`` times (after ``warmup`` untimed runs).

    Returns one row per run: run, wall_s, cpu_s. Take ``.median()`` of it.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    for _ in range(warmup):
        fn()
    rows = []
    for i in range(repeats):
        with Timer() as t:
            fn()
        rows.append({"run": i, "wall_s": t.wall_s, "cpu_s": t.cpu_s})
    return pd.DataFrame(rows)


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 0) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs."""
    return float(repeat(fn, repeats, warmup)["wall_s"].median())


def summarize(df: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Throughput and latency percentiles of a per-request table (from ``run_load``).

    Returns, per group (or one row): requests, errors, duration_s (first send to
    last answer), throughput_rps (answered requests per second) and latency
    p50_ms, p90_ms, p99_ms, max_ms.
    """
    for col in ("t_send", "t_done", "latency_s"):
        if col not in df.columns:
            raise ValueError(f"summarize needs a per-request table with a {col!r} column")

    def one(g: pd.DataFrame) -> pd.Series:
        ok = g[g["error"].isna()] if "error" in g else g
        duration = g["t_done"].max() - g["t_send"].min()
        lat_ms = ok["latency_s"] * 1000.0
        return pd.Series(
            {
                "requests": len(g),
                "errors": len(g) - len(ok),
                "duration_s": duration,
                "throughput_rps": len(ok) / duration if duration > 0 else float("nan"),
                "p50_ms": lat_ms.quantile(0.50),
                "p90_ms": lat_ms.quantile(0.90),
                "p99_ms": lat_ms.quantile(0.99),
                "max_ms": lat_ms.max(),
            }
        )

    if by is None:
        return one(df).to_frame().T
    return df.groupby(by, sort=True)[list(df.columns)].apply(one).reset_index()


TIME_COLUMNS = ("t_submit", "t_send", "t_done", "server_start", "server_end")


def request_frame(rows: list[dict], t0: float, columns: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """The per-request table from client records (``helpers.load.clients``): the one way to build it.

    ``rows`` are dicts with times on ``time.perf_counter()`` (the client's and
    the server's clocks are the same clock on one machine). ``columns``, when
    given, fixes the columns and their order (missing ones are filled with
    NaN, others dropped). Every time column present (t_submit, t_send, t_done,
    server_start, server_end) becomes seconds since ``t0``; ``wait_s`` (sent
    until the handler started: server_start - t_send) and ``service_s``
    (server_end - server_start) are added where their columns are present.
    Rows are sorted by t_send (stable; errors keep their send time too), with
    a fresh 0..n-1 index.
    """
    df = pd.DataFrame(rows)
    if columns is not None:
        df = df.reindex(columns=list(columns))
    for c in TIME_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce") - t0
    if "t_send" in df.columns and "server_start" in df.columns:
        df["wait_s"] = df["server_start"] - df["t_send"]
    if "server_start" in df.columns and "server_end" in df.columns:
        df["service_s"] = df["server_end"] - df["server_start"]
    if "t_send" in df.columns:
        df = df.sort_values("t_send", kind="stable")
    return df.reset_index(drop=True)


def peak_in_flight(df: pd.DataFrame, start: str = "server_start", end: str = "server_end") -> int:
    """The most requests in progress at one instant (by default: inside the server), from one row per request.

    Counts, over the rows' [start, end) intervals, how many overlap at their
    busiest instant (an end and a start at the same instant do not overlap);
    rows without times (errors) are left out.
    """
    for c in (start, end):
        if c not in df.columns:
            raise ValueError(f"no column {c!r}; columns are {list(df.columns)}")
    ok = df[[start, end]].dropna()
    events = sorted([(t, 1) for t in ok[start]] + [(t, -1) for t in ok[end]], key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak
