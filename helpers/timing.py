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
