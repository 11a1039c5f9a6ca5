"""Notebook 07's experiments: the price of a switch and the price of a waiter.

Every micro-benchmark runs in a fresh child process (``helpers.lessons.switch_probe``,
through ``core.procs.run_child`` with a timeout), never in the notebook
kernel: gevent and uvloop are imported only there, a stray thread or greenlet
cannot outlive its cell, and each repeat starts from a clean interpreter.

- ``switch_runs``: one switch, many ways (OS threads, processes, asyncio on
  the default loop and on uvloop, C and pure-Python tasks, greenlet, gevent),
  repeated in fresh processes, pinned to one core and not. ``summarize`` gives
  the median, minimum and maximum microseconds per switch (``us_per_switch`` =
  elapsed / (2 × round trips)).
- ``stack_depth``: a greenlet switch with frames below it, Python calls or
  calls through C.
- ``waiter_memory`` / ``per_waiter``: N parked waiters, the slope of the
  process's memory over N (bytes per waiter, shown in KiB).
- ``server_sweep``: the aiohttp server on the default loop and on uvloop,
  tiny requests, concurrency from 10 up.
- ``sync_rate``: a gunicorn sync server's rate and CPU per tiny request.
- ``figures`` / ``check_answer``: the exercises' expected answers.

Units are in the column names: ``us`` microseconds, ``_s`` seconds, ``_kib``
kibibytes (2**10 bytes), ``_mib`` mebibytes (2**20 bytes), ``_rps`` requests
per second.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from helpers.core import checks, exercises, procs, results, timing

# The child programs live in helpers/lessons/switch_probe.py. A lesson module never imports another one
# (tests/test_layers.py), so the few names both need are repeated here; tests/test_switching.py keeps them equal.
PROBE = "helpers.lessons.switch_probe"
WAITER_KINDS = ("task", "greenlet", "thread", "process")
THROUGH = ("python", "c")
MAX_DEPTH = 2000
KIB, MIB = 2**10, 2**20

# kind -> (label for tables and plots, family)
KINDS: dict[str, tuple[str, str]] = {
    "thread-event": ("2 threads, threading.Event", "OS"),
    "thread-pipe": ("2 threads, a pipe", "OS"),
    "process-pipe": ("2 processes, a pipe", "OS"),
    "asyncio": ("asyncio tasks, Event (default loop)", "event loop"),
    "asyncio-pytask": ("asyncio, pure-Python Task/Future", "event loop"),
    "uvloop": ("asyncio tasks, Event (uvloop)", "event loop"),
    "asyncio-yield": ("asyncio tasks, sleep(0) (default loop)", "event loop"),
    "uvloop-yield": ("asyncio tasks, sleep(0) (uvloop)", "event loop"),
    "greenlet": ("greenlet.switch", "greenlet"),
    "gevent": ("gevent Event (through the hub)", "greenlet"),
}
OS_THREAD_KINDS = ("thread-event", "thread-pipe")
OS_KINDS = OS_THREAD_KINDS + ("process-pipe",)
WAITERS = WAITER_KINDS
WAITER_LABELS = {"task": "asyncio task", "greenlet": "greenlet (gevent)", "thread": "OS thread",
                 "process": "process (fresh interpreter)"}
THREAD_HEADROOM = 0.5  # use at most half of whatever limit on threads is tightest
RESIDENT_PER_THREAD_GUESS = 64 * KIB  # for the memory limit on threads: generous, a thread touches less


# -- this machine ------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def machine() -> dict[str, Any]:
    """What the probes need to know (asked of a fresh child once): pinning, CPUs, thread limits, packages."""
    return procs.run_child_json(PROBE, args=["machine"], what="the machine probe", timeout_s=60)


def can_pin() -> bool:
    """True where a process can be pinned to one core (Linux: ``os.sched_setaffinity``)."""
    return bool(machine()["can_pin"])


def pin_cpu() -> int | None:
    """The CPU the pinned runs use: the last one this process may run on (often the least busy), or None."""
    cpus = machine()["cpus"]
    return cpus[-1] if cpus else None


def available(kind: str) -> str | None:
    """None if ``kind`` can run here, else why not (a sentence)."""
    m = machine()
    if kind.startswith("uvloop") and not m["uvloop"]:
        return "uvloop is not installed (it does not exist for Windows)"
    if kind in ("greenlet", "gevent") and not m[kind]:
        return f"{kind} is not installed"
    if kind == "process-pipe" and m["platform"] == "win32":
        return "os.fork does not exist on Windows"
    return None


# -- one switch --------------------------------------------------------------------
def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
    return kind


def measure_switch(kind: str, *, seconds: float = 0.2, pinned: bool = False, depth: int = 0,
                   through: str = "python", timeout_s: float = 60.0) -> dict[str, Any]:
    """One run of one switch in a fresh process; returns the probe's record.

    ``seconds``: the timed run lasts at least this long (0 < s <= 30).
    ``pinned``: pin the process (and its threads and children) to one core;
    raises RuntimeError where the OS cannot (check ``can_pin()`` first).
    ``depth``/``through``: greenlet only, frames below the switch.
    Record fields: us_per_switch, round_trips, elapsed_s, voluntary_switches,
    involuntary_switches (the kernel's counters for the timed run), and more.
    """
    _check_kind(kind)
    seconds = checks.seconds(seconds, "seconds", 30.0)
    if isinstance(depth, bool) or not isinstance(depth, int) or not (0 <= depth <= MAX_DEPTH):
        raise ValueError(f"depth must be an int from 0 to {MAX_DEPTH}, got {depth!r}")
    if depth and kind != "greenlet":
        raise ValueError("depth applies to the greenlet switch only")
    checks.choice("through", through, THROUGH)
    why = available(kind)
    if why:
        raise RuntimeError(f"cannot measure {kind!r} here: {why}")
    args = ["switch", kind, "--seconds", repr(seconds), "--depth", str(depth), "--through", through]
    if pinned:
        if not can_pin():
            raise RuntimeError(f"this OS ({machine()['platform']}) cannot pin a process to one core "
                               "(no os.sched_setaffinity); measure unpinned only")
        args += ["--pin", str(pin_cpu())]
    return procs.run_child_json(PROBE, args=args, what=f"the {kind} switch probe", timeout_s=timeout_s)


def switch_runs(kinds: Iterable[str] = tuple(KINDS), *, repeats: int = 5, seconds: float = 0.2,
                pinned: Iterable[bool] = (False, True), pinned_kinds: Iterable[str] | None = None,
                progress: Callable[[Iterable], Iterable] | None = None, timeout_s: float = 60.0) -> pd.DataFrame:
    """Every kind × pinning, ``repeats`` fresh processes each; one row per run.

    The runs are interleaved (repeat 1 of every kind, then repeat 2...), so a
    slow moment of a busy machine hits every kind alike. Pinned runs are
    skipped where the OS cannot pin (``attrs["pinning"]`` says why), kinds
    that cannot run here are skipped with their reason in ``attrs["skipped"]``.
    ``pinned_kinds`` limits the pinned runs to those kinds (default: all).
    Columns: kind, label, family, pinned, repeat, us_per_switch, round_trips,
    elapsed_s, voluntary_switches, involuntary_switches, voluntary_per_switch.
    """
    kinds = [_check_kind(k) for k in kinds]
    if not kinds:
        raise ValueError("give at least one kind")
    repeats = checks.count("repeats", repeats, 50)
    seconds = checks.seconds(seconds, "seconds", 30.0)
    pins = []
    for p in pinned:
        if not isinstance(p, (bool, np.bool_)):
            raise TypeError(f"pinned must be a sequence of booleans, got {p!r}")
        pins.append(bool(p))
    if not pins:
        raise ValueError("pinned must name at least one of False, True")
    pinning = "pinned to one core" if can_pin() else f"unavailable on {machine()['platform']} (no os.sched_setaffinity)"
    if not can_pin():
        pins = [p for p in pins if not p] or [False]
    skipped = {k: available(k) for k in kinds if available(k)}
    kinds = [k for k in kinds if k not in skipped]
    pk = set(kinds) if pinned_kinds is None else {_check_kind(k) for k in pinned_kinds}
    plan = [(r, p, k) for r in range(repeats) for p in pins for k in kinds if not p or k in pk]
    rows = []
    for r, p, k in (progress(plan) if progress else plan):
        rec = measure_switch(k, seconds=seconds, pinned=p, timeout_s=timeout_s)
        rows.append(_row(rec, k, p, r))
    df = pd.DataFrame(rows)
    df.attrs.update({"seconds": seconds, "repeats": repeats, "pin_cpu": pin_cpu() if can_pin() else None,
                     "pinning": pinning, "skipped": skipped, "measured_in": "a fresh process per run"})
    return df


def _row(rec: dict, kind: str, pinned: bool, repeat: int) -> dict:
    label, family = KINDS[kind]
    switches = 2 * rec["round_trips"]
    vol = rec.get("voluntary_switches")
    return {"kind": kind, "label": label, "family": family, "pinned": pinned, "repeat": repeat,
            "us_per_switch": rec["us_per_switch"], "round_trips": rec["round_trips"], "elapsed_s": rec["elapsed_s"],
            "voluntary_switches": vol, "involuntary_switches": rec.get("involuntary_switches"),
            "voluntary_per_switch": (vol / switches) if vol is not None else float("nan"),
            "task_class": rec.get("task_class"), "loop": rec.get("loop")}


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Per kind and pinning: runs, median, min and max µs per switch, spread (max/min) and switches per second.

    ``switches_per_s`` is what one core could do at the median: 1e6 / median µs.
    """
    for col in ("kind", "pinned", "us_per_switch"):
        if col not in runs.columns:
            raise ValueError(f"summarize needs the runs of switch_runs (no {col!r} column)")
    g = runs.groupby(["kind", "pinned"], sort=False)
    out = g["us_per_switch"].agg(runs="size", median_us="median", min_us="min", max_us="max").reset_index()
    out["spread"] = out["max_us"] / out["min_us"]
    out["voluntary_per_switch"] = g["voluntary_per_switch"].median().to_numpy()
    out["switches_per_s"] = 1e6 / out["median_us"]
    out.insert(1, "label", [KINDS[k][0] for k in out["kind"]])
    order = {k: i for i, k in enumerate(KINDS)}
    out["_order"] = out["kind"].map(order)
    return out.sort_values(["pinned", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def figure(summary: pd.DataFrame, kind: str, pinned: bool = False, what: str = "median_us") -> float:
    """One number of ``summarize``'s table (NaN if that kind or pinning was not measured)."""
    m = summary[(summary["kind"] == kind) & (summary["pinned"] == pinned)]
    return float(m[what].iloc[0]) if len(m) else float("nan")


PAIR_MARGIN = 0.05  # a pair of runs must differ by more than 5 % to count for one side


def _pairs(runs: pd.DataFrame, a: tuple[str, bool], b: tuple[str, bool]) -> pd.Series:
    """Per repeat, b's µs per switch over a's: runs of one repeat ran next to each other (``switch_runs``)."""
    for col in ("kind", "pinned", "repeat", "us_per_switch"):
        if col not in runs.columns:
            raise ValueError(f"comparisons need the runs of switch_runs (no {col!r} column)")

    def side(kind: str, pinned: bool) -> pd.Series:
        sel = runs[(runs["kind"] == kind) & (runs["pinned"] == pinned)]
        return sel.groupby("repeat")["us_per_switch"].median()

    return (side(*b) / side(*a)).dropna()


def _decide(pairs: pd.Series) -> dict[str, Any]:
    """True if at least two pairs in three favour the first side by more than ``PAIR_MARGIN``, False if at least
    two in three favour the other, else "inconclusive"; ratio is the pairs' median, ``pair_min``/``pair_max``
    their range. (Not "every pair": one run in ten on a shared machine is an outlier, and a rule that one
    outlier can overturn flips between runs of the notebook.)"""
    if pairs.empty:
        return {"ratio": float("nan"), "pair_min": float("nan"), "pair_max": float("nan"), "pairs": 0,
                "outcome": "inconclusive"}
    n = len(pairs)
    up, down = int((pairs > 1 + PAIR_MARGIN).sum()), int((pairs < 1 / (1 + PAIR_MARGIN)).sum())
    outcome: bool | str = True if 3 * up >= 2 * n else False if 3 * down >= 2 * n else "inconclusive"
    return {"ratio": float(pairs.median()), "pair_min": float(pairs.min()), "pair_max": float(pairs.max()),
            "pairs": n, "outcome": outcome}


def compare(runs: pd.DataFrame, faster: str, slower: str, *, pinned: bool = False) -> dict[str, Any]:
    """Is ``faster`` faster than ``slower`` in most repeats (two in three at least)?

    A shared machine has slow spells that last longer than one run, so each
    repeat's two runs (made next to each other) are compared with each other:
    pair ratio = µs of ``slower`` / µs of ``faster``. outcome: True if at least
    two in three pair ratios are above 1 + ``PAIR_MARGIN``, False if as many
    are below 1 / (1 + margin) (the other way round), else "inconclusive".
    ``ratio`` is the median pair ratio.
    """
    return _decide(_pairs(runs, (faster, pinned), (slower, pinned)))


def cheapest(summary: pd.DataFrame, kinds: Iterable[str], pinned: bool = False) -> str:
    """The kind with the lowest median among ``kinds`` (that were measured)."""
    sub = summary[summary["kind"].isin(list(kinds)) & (summary["pinned"] == pinned)]
    if sub.empty:
        raise ValueError(f"none of {list(kinds)} was measured")
    return str(sub.sort_values("median_us")["kind"].iloc[0])


def pinning_effect(runs: pd.DataFrame) -> pd.DataFrame:
    """Per kind measured both ways: unpinned and pinned medians, and ``compare``'s pairs of one repeat's
    unpinned and pinned runs (unpinned µs / pinned µs): ratio, pair_min, pair_max, outcome (True: pinning
    made at least two pairs in three cheaper)."""
    summary = summarize(runs)
    rows = []
    for k in dict.fromkeys(runs["kind"]):
        u, p = figure(summary, k, False), figure(summary, k, True)
        if math.isnan(u) or math.isnan(p):
            continue
        d = _decide(_pairs(runs, (k, True), (k, False)))
        rows.append({"kind": k, "label": KINDS[k][0], "family": KINDS[k][1], "unpinned_us": u, "pinned_us": p,
                     "unpinned_over_pinned": d["ratio"], "pair_min": d["pair_min"], "pair_max": d["pair_max"],
                     "outcome": d["outcome"]})
    return pd.DataFrame(rows)


def plot_switches(summary: pd.DataFrame, *, ax=None, title: str | None = None):
    """Median µs per switch per kind (min-max as whiskers), unpinned and pinned side by side, log axis."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    kinds = list(dict.fromkeys(summary["kind"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(9.0, 0.45 * len(kinds) + 1.4), layout="constrained")
    y = np.arange(len(kinds))
    pins = sorted(summary["pinned"].unique())
    h = 0.8 / len(pins)
    colors = {False: "#1f77b4", True: "#ff7f0e"}
    for j, p in enumerate(pins):
        sub = summary[summary["pinned"] == p].set_index("kind").reindex(kinds)
        yy = y - 0.4 + h * (j + 0.5)
        med = sub["median_us"].to_numpy()
        err = np.vstack([med - sub["min_us"].to_numpy(), sub["max_us"].to_numpy() - med])
        ax.barh(yy, med, height=h * 0.9, color=colors[bool(p)], xerr=err, capsize=2,
                error_kw={"elinewidth": 0.8}, label="pinned to one core" if p else "unpinned")
    ax.set_yticks(y)
    ax.set_yticklabels([KINDS[k][0] for k in kinds])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("microseconds per switch (median of fresh processes; whiskers: min to max), log scale")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


# -- published figures, set beside ours by shape ------------------------------------
PUBLISHED = [
    # source, what, figure, unit, ours: (numerator kind, denominator kind) of the same ratio, or a single kind
    {"source": "Bendersky 2018 (C, Linux)", "shape": "OS switch: unpinned / pinned", "published": 2.2 / 1.35,
     "ours": ("thread-pipe", "unpinned/pinned")},
    {"source": "Blandy, context-switch (Rust)", "shape": "thread switch / async task switch", "published": 1.7 / 0.2,
     "ours": ("thread-pipe", "asyncio")},
    {"source": "gevent's benchmarks (3.6)", "shape": "gevent hand-off / bare greenlet switch", "published": 1.25 / 0.34,
     "ours": ("gevent", "greenlet")},
    {"source": "Blandy / Bendersky", "shape": "thread switch / greenlet switch", "published": 1.7 / 0.34,
     "ours": ("thread-pipe", "greenlet")},
]


def beside_published(summary: pd.DataFrame) -> pd.DataFrame:
    """The published ratios (FIELD-NOTES) beside the same ratios measured here, and whether the shape agrees.

    A shape agrees when both ratios are on the same side of 1 (which is faster)
    and ours is within a factor of 3 of the published one.
    """
    rows = []
    for p in PUBLISHED:
        a, b = p["ours"]
        if b == "unpinned/pinned":
            ours = figure(summary, a, False) / figure(summary, a, True)
        else:
            ours = figure(summary, a) / figure(summary, b)
        same_side = (ours > 1) == (p["published"] > 1) if not math.isnan(ours) else False
        close = (not math.isnan(ours)) and 1 / 3 <= ours / p["published"] <= 3
        rows.append({"shape": p["shape"], "source": p["source"], "published_ratio": p["published"],
                     "ours_ratio": ours, "same_direction": bool(same_side), "within_3x": bool(close)})
    return pd.DataFrame(rows)


def published_sentences(table: pd.DataFrame) -> list[str]:
    """One deterministic sentence per published shape (no numbers: those are in the table)."""
    out = []
    for _, r in table.iterrows():
        if not r["same_direction"]:
            out.append(f"{r['shape']} ({r['source']}): the opposite way round here.")
        elif r["within_3x"]:
            out.append(f"{r['shape']} ({r['source']}): the same shape here, within a factor of 3.")
        elif r["ours_ratio"] > r["published_ratio"]:
            out.append(f"{r['shape']} ({r['source']}): the same direction, but a wider gap here.")
        else:
            out.append(f"{r['shape']} ({r['source']}): the same direction, but a much narrower gap here.")
    return out


# -- greenlet stack depth ------------------------------------------------------------
def stack_depth(depths: Iterable[int] = (0, 100, 500), *, through: Iterable[str] = THROUGH, repeats: int = 3,
                seconds: float = 0.1, progress: Callable[[Iterable], Iterable] | None = None,
                timeout_s: float = 60.0) -> pd.DataFrame:
    """A greenlet switch with ``depth`` frames below it, Python-to-Python calls or calls through C.

    One row per run: through, depth, repeat, us_per_switch, stack_saved_bytes
    (what greenlet copied off the C stack for the parked greenlet).
    """
    depths = list(depths)
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, int) or not (0 <= d <= MAX_DEPTH):
            raise ValueError(f"depths must be ints from 0 to {MAX_DEPTH}, got {d!r}")
    ways = [checks.choice("through", t, THROUGH) for t in through]
    repeats = checks.count("repeats", repeats, 50)
    plan = [(r, t, d) for r in range(repeats) for t in ways for d in depths]
    rows = []
    for r, t, d in (progress(plan) if progress else plan):
        rec = measure_switch("greenlet", seconds=seconds, depth=d, through=t, timeout_s=timeout_s)
        rows.append({"through": t, "depth": d, "repeat": r, "us_per_switch": rec["us_per_switch"],
                     "stack_saved_bytes": rec.get("stack_saved_bytes")})
    df = pd.DataFrame(rows)
    df.attrs.update({"seconds": seconds, "repeats": repeats})
    return df


def depth_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Median µs per switch and saved stack (KiB) per way and depth, and growth over depth 0 of the same way."""
    g = runs.groupby(["through", "depth"], sort=True)
    out = g.agg(median_us=("us_per_switch", "median"), min_us=("us_per_switch", "min"),
                max_us=("us_per_switch", "max"), stack_saved_kib=("stack_saved_bytes", "median")).reset_index()
    out["stack_saved_kib"] = out["stack_saved_kib"] / KIB
    base = out[out["depth"] == out["depth"].min()].set_index("through")["median_us"]
    out["growth"] = out["median_us"] / out["through"].map(base)
    return out


def copy_rate(summary: pd.DataFrame) -> dict[str, float]:
    """Fit µs per switch = a + b × saved KiB (all rows): b in µs per KiB, and its inverse in MiB/s (copy speed)."""
    x, y = summary["stack_saved_kib"].to_numpy(float), summary["median_us"].to_numpy(float)
    if len(np.unique(x)) < 2:
        return {"us_per_kib": float("nan"), "fixed_us": float("nan"), "mib_per_s": float("nan")}
    b, a = np.polyfit(x, y, 1)
    return {"us_per_kib": float(b), "fixed_us": float(a), "mib_per_s": float(1e6 / b / 1024) if b > 0 else float("nan")}


# -- waiters -------------------------------------------------------------------------
def thread_limit() -> dict[str, Any]:
    """The most threads one probe may start here, and which limit decides it.

    Every limit on threads is considered: ``ulimit -u`` (RLIMIT_NPROC, which
    counts threads, less the processes running now), ``kernel.threads-max``,
    the cgroup's ``pids.max``, ``vm.max_map_count`` (two mappings per
    thread: its stack and a guard page) and the memory available (at a
    generous 64 KiB resident per thread). Only ``THREAD_HEADROOM`` of the
    tightest is used, so the machine keeps working. Returns {"max_threads",
    "limited_by", "limits"}.
    """
    m = machine()
    limits: dict[str, float] = {}
    nproc = (m.get("rlimit_nproc") or [None])[0]
    if nproc:
        limits["ulimit -u (RLIMIT_NPROC), less the processes running"] = nproc - (m.get("processes_now") or 0)
    if m.get("threads_max"):
        limits["kernel.threads-max"] = m["threads_max"]
    if m.get("cgroup_pids_max"):
        limits["cgroup pids.max"] = m["cgroup_pids_max"] - (m.get("processes_now") or 0)
    if m.get("max_map_count"):
        limits["vm.max_map_count / 2"] = m["max_map_count"] / 2
    if m.get("memory_available_bytes"):
        limits["memory available / 64 KiB"] = m["memory_available_bytes"] / RESIDENT_PER_THREAD_GUESS
    if not limits:
        return {"max_threads": 1000, "limited_by": "no limit could be read: a cautious 1,000", "limits": {}}
    name = min(limits, key=limits.get)
    return {"max_threads": max(1, int(limits[name] * THREAD_HEADROOM)), "limited_by": name, "limits": limits}


MAX_WAITERS = {"task": 1_000_000, "greenlet": 1_000_000, "thread": None, "process": 16}


def waiter_memory(what: str, counts: Iterable[int], *, timeout_s: float = 120.0) -> pd.DataFrame:
    """Park N waiters of one kind in a fresh process, for each N of ``counts`` (added, never rebuilt).

    One row per N (with N = 0 first): what, waiters, rss_mib, uss_mib,
    vms_mib (the process's), create_s (cumulative seconds spent creating the
    waiters so far), parked (how many were really waiting when measured).
    For ``process`` the memory columns are the waiting processes' own (sum
    of their USS and RSS): they are not part of the probe. Counts beyond
    what the machine allows (threads: ``thread_limit()``; processes: 16) are
    refused with ValueError before anything starts.
    """
    checks.choice("what", what, WAITERS)
    counts = list(counts)
    if not counts:
        raise ValueError("counts must name at least one N")
    cap = thread_limit()["max_threads"] if what == "thread" else MAX_WAITERS[what]
    for n in counts:
        checks.count("counts", n)
    if counts != sorted(set(counts)):
        raise ValueError(f"counts must be increasing, got {counts}")
    if counts[-1] > cap:
        why = thread_limit()["limited_by"] if what == "thread" else "a few whole interpreters make the point"
        raise ValueError(f"{counts[-1]:,} {what}s is more than this machine should be asked for: at most {cap:,} "
                         f"({why})")
    r = procs.run_child_json(PROBE, args=["waiters", what, "--counts", ",".join(map(str, counts))],
                             what=f"the {what} waiter probe", timeout_s=timeout_s)
    df = pd.DataFrame(r["rows"])
    if what == "process":
        df["rss_bytes"] = df["children_rss_bytes"]
        df["uss_bytes"] = df["children_uss_bytes"]
        df["vms_bytes"] = float("nan")  # the probe's own virtual size says nothing about its children
    for c in ("rss", "uss", "vms"):
        df[f"{c}_mib"] = df[f"{c}_bytes"] / MIB
    df["create_s"] = df["create_s"].cumsum()
    df["parked"] = df.get("parked", pd.Series(dtype=float)).fillna(0).astype(int)
    df.insert(0, "what", what)
    df = df[["what", "waiters", "rss_mib", "uss_mib", "vms_mib", "create_s", "parked"]]
    df.attrs.update({"what": what, "measured_in": "a fresh process", "stack_size_bytes": machine()["thread_stack_size_bytes"]})
    return df


def per_waiter(df: pd.DataFrame) -> dict[str, Any]:
    """Slopes of one ``waiter_memory`` table: what one more waiter costs (np.polyfit, degree 1).

    Returns uss_kib, rss_kib, vms_kib (per waiter), uss_kib_se (the slope's
    standard error, from the fit's residuals), create_us (creation time per
    waiter) and parked_all (every waiter was really waiting).
    """
    for col in ("waiters", "uss_mib", "rss_mib", "vms_mib", "create_s", "parked"):
        if col not in df.columns:
            raise ValueError(f"per_waiter needs a table from waiter_memory (no {col!r} column)")
    if df["waiters"].nunique() < 2:
        raise ValueError("per_waiter needs at least two different counts")
    x = df["waiters"].to_numpy(float)

    def slope(col: str, scale: float) -> tuple[float, float]:
        y = df[col].to_numpy(float) * scale
        if len(x) >= 3:
            coef, cov = np.polyfit(x, y, 1, cov=True)
            return float(coef[0]), float(math.sqrt(max(cov[0, 0], 0.0)))
        return float(np.polyfit(x, y, 1)[0]), float("nan")

    uss, uss_se = slope("uss_mib", 1024.0)
    rss, _ = slope("rss_mib", 1024.0)
    vms, _ = slope("vms_mib", 1024.0)
    create, _ = slope("create_s", 1e6)
    top = df[df["waiters"] > 0]
    return {"what": df["what"].iloc[0], "uss_kib": uss, "uss_kib_se": uss_se, "rss_kib": rss, "vms_kib": vms,
            "create_us": create, "max_waiters": int(df["waiters"].max()),
            "parked_all": bool((top["parked"] == top["waiters"]).all())}


def course_table(per: Iterable[dict[str, Any]], *, saved: str = "02-worker-costs") -> pd.DataFrame:
    """One table for the course: memory and creation time per waiter, same units, for every kind.

    ``per``: the dicts of ``per_waiter``, measured here. Notebook 02's saved
    thread and process figures (``results.load(saved)``) are joined when that
    file exists (each source says where it came from). Columns: waiter,
    source, uss_kib_per_waiter, rss_kib_per_waiter, create_us_per_waiter,
    measured_up_to.
    """
    rows = [{"waiter": WAITER_LABELS[p["what"]], "source": "measured here (07)", "uss_kib_per_waiter": p["uss_kib"],
             "rss_kib_per_waiter": p["rss_kib"], "create_us_per_waiter": p["create_us"],
             "measured_up_to": p["max_waiters"]} for p in per]
    try:
        old = results.load(saved)
    except FileNotFoundError:
        old = None
    if old is not None and {"kind", "uss_mb_per_worker", "rss_mb_per_worker", "start_ms_per_worker"} <= set(old.columns):
        for _, r in old[old["kind"] != "bare interpreter"].iterrows():
            kind = "OS thread" if r["kind"] == "thread" else str(r["kind"])
            rows.append({"waiter": kind, "source": f"notebook 02 ({saved})",
                         "uss_kib_per_waiter": r["uss_mb_per_worker"] * 1024,
                         "rss_kib_per_waiter": r["rss_mb_per_worker"] * 1024,
                         "create_us_per_waiter": r["start_ms_per_worker"] * 1000,
                         "measured_up_to": int(r["workers"])})
    df = pd.DataFrame(rows)
    df.attrs["joined"] = saved if old is not None else None
    return df


def plot_waiters(tables: Iterable[pd.DataFrame], *, ax=None):
    """USS of the process against the number of parked waiters, one line per kind (log-log)."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    if ax is None:
        _, ax = plt.subplots(figsize=(9.0, 3.6), layout="constrained")
    for t in tables:
        t = t[t["waiters"] > 0]
        ax.plot(t["waiters"], t["uss_mib"], "o-", ms=4, label=WAITER_LABELS[t["what"].iloc[0]])
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("parked waiters (N)")
    ax.set_ylabel("memory, USS (MiB)")
    ax.set_title("What waiting costs: the process's own memory against N")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return ax


# -- the server: default loop vs uvloop ----------------------------------------------
def load_client() -> str:
    """The load generator's cheapest client: "raw" (httptools on asyncio protocols) where it exists, else aiohttp."""
    from helpers.load import generator

    return "raw" if "raw" in generator.CLIENTS else "aiohttp"


def _pinned_cpus() -> tuple[int, list[int]] | None:
    """(server CPU, generator CPUs) where this OS pins and two or more cores are usable, else None."""
    import os

    if not (can_pin() and hasattr(os, "sched_getaffinity")):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[-1], cpus[:-1]) if len(cpus) >= 2 else None


@contextlib.contextmanager
def _calling_thread_on(cpus: list[int] | None):
    """Run the block with the calling thread allowed only ``cpus`` (a child started inside inherits it).

    On Linux ``sched_setaffinity(0, ...)`` pins only the calling thread; the
    mask is restored on the way out, whatever happens. ``None``: no change.
    """
    import os

    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def server_sweep(concurrencies: Iterable[int], *, requests_for: Callable[[int], int], repeats: int = 3,
                 loops: Iterable[str] = ("asyncio", "uvloop"), path: str = "/cpu",
                 pin: bool = True, progress: Callable[[Iterable], Iterable] | None = None) -> pd.DataFrame:
    """The aiohttp server (one process, one thread) on each loop, tiny requests (``/cpu?ms=0``).

    One server per loop, started once, both up for the whole sweep. For each
    repeat and concurrency ``c`` the loops run back to back (their order
    alternating between repeats), so a slow spell of the machine hits both
    halves of a pair: ``requests_for(c)`` requests from ``c`` closed-loop
    clients (``helpers.load.run_load``, its own process). With ``pin`` (where
    the OS allows and two or more cores are usable) the servers run on the
    last core and the load generator on the others, so the two never take
    turns on one core. One row per run: loop, concurrency, repeat, requests,
    errors, throughput_rps, p50_ms, p99_ms, server_cpu_share (the server's CPU
    seconds over the run's duration: about 1.0 is one core busy; the clients'
    connection set-up can push it a little above), server_cpu_us_per_request,
    loadgen_cpu_share (the generator's, from its own process), wall_s.
    ``attrs["limits"]``: the servers' and the client's limits, and the pinning.
    """
    from helpers.load import generator
    from helpers.servers import AiohttpServer

    cs = [checks.count("concurrency", c, generator.MAX_CONCURRENCY) for c in concurrencies]
    if not cs:
        raise ValueError("concurrencies must list at least one concurrency")
    for c in cs:
        generator.check_concurrency(c)  # the open-file limit: refused before any server starts
    loops = [checks.choice("loop", lp, ("asyncio", "uvloop")) for lp in loops]
    if "uvloop" in loops and available("uvloop"):
        raise RuntimeError(f"cannot run uvloop here: {available('uvloop')}")
    repeats = checks.count("repeats", repeats, 20)
    if not isinstance(pin, bool):
        raise TypeError("pin must be True or False")
    cpus = _pinned_cpus() if pin else None
    steps = [(r, c, lp) for r in range(repeats) for c in cs for lp in (loops if r % 2 == 0 else loops[::-1])]
    rows, limits = [], {}
    with contextlib.ExitStack() as stack:
        servers = {lp: stack.enter_context(AiohttpServer(loop=lp, key=f"switching-sweep-{lp}")) for lp in loops}
        if cpus:
            import psutil

            for srv in servers.values():
                psutil.Process(srv.pid).cpu_affinity([cpus[0]])
        for r, c, lp in (progress(steps) if progress else steps):
            srv = servers[lp]
            n = checks.count("requests", int(requests_for(c)))
            cpu0, t0 = srv.cpu_times(), time.perf_counter()
            with _calling_thread_on(cpus[1] if cpus else None):
                df = generator.run_load(srv.url(path, ms=0), requests=n, concurrency=c, client=load_client())
            wall, cpu = time.perf_counter() - t0, srv.cpu_times() - cpu0
            s = timing.summarize(df).iloc[0]
            busy = float(s["duration_s"])
            lim = df.attrs["limits"]
            rows.append({"loop": lp, "concurrency": c, "repeat": r, "requests": n, "errors": int(s["errors"]),
                         "throughput_rps": float(s["throughput_rps"]), "p50_ms": float(s["p50_ms"]),
                         "p99_ms": float(s["p99_ms"]), "server_cpu_share": cpu / busy if busy > 0 else float("nan"),
                         "server_cpu_us_per_request": cpu / n * 1e6,
                         "loadgen_cpu_share": float(lim.get("loadgen_cpu_share", float("nan"))),
                         "wall_s": wall})
            if not limits:
                limits = {"servers": {k: v.limits for k, v in servers.items()}, "client": lim,
                          "loop_reported": {k: v.info.get("loop") for k, v in servers.items()},
                          "load_client": load_client(),
                          "pinned": ({"server_cpu": cpus[0], "generator_cpus": cpus[1]} if cpus else
                                     "no (pinning unavailable here, fewer than two usable cores, or pin=False)")}
    out = pd.DataFrame(rows)
    out.attrs["limits"] = json.loads(json.dumps(limits, default=str))
    return out


CLEAR_GAIN = 0.10  # "a gain": every back-to-back pair gave uvloop more than 10 % more requests per second


def loop_ratio(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per concurrency: the loops' median throughputs and the ratio uvloop/asyncio of each back-to-back pair.

    ``uvloop_over_asyncio`` is the median of the pairs' ratios, ``pair_min``
    and ``pair_max`` their range. ``gain`` is True where *every* pair gave
    uvloop more than ``CLEAR_GAIN`` more: on a shared machine one pair can
    swing by half either way, all of them together rarely do. Also the largest
    load-generator and server CPU shares seen.
    """
    if not {"asyncio", "uvloop"} <= set(sweep["loop"]):
        raise ValueError("the sweep must hold runs on both loops, 'asyncio' and 'uvloop'")
    per = sweep.pivot_table(index=["concurrency", "repeat"], columns="loop", values="throughput_rps")
    pair = (per["uvloop"] / per["asyncio"]).groupby("concurrency")
    med = sweep.groupby(["concurrency", "loop"])["throughput_rps"].median().unstack()
    out = pd.DataFrame({"asyncio_median_rps": med["asyncio"], "uvloop_median_rps": med["uvloop"],
                        "uvloop_over_asyncio": pair.median(), "pair_min": pair.min(), "pair_max": pair.max(),
                        "pairs": pair.count()})
    out["gain"] = out["pair_min"] > 1 + CLEAR_GAIN
    out["loadgen_cpu_share_max"] = sweep.groupby("concurrency")["loadgen_cpu_share"].max()
    out["server_cpu_share_max"] = sweep.groupby("concurrency")["server_cpu_share"].max()
    return out.reset_index()


LOADGEN_SATURATED = 0.9  # a load generator process using 90 % of a core or more may be what limits the run


def concurrency_verdict(ratio: pd.DataFrame) -> dict[str, Any]:
    """C12's "the loop's speed only shows at very high concurrency", decided from ``loop_ratio``.

    "A gain" at a concurrency: every back-to-back pair there gave uvloop more
    than ``CLEAR_GAIN`` more requests per second (``loop_ratio``'s ``gain``).
    holds: no gain at the lowest concurrency, a gain at the highest.
    inconclusive: the load generator used a core or nearly (90 %) at the
    highest concurrency, so the sweep measured the client as much as the
    server. Does not hold otherwise: a gain already at the lowest
    concurrency, or none even at the highest (``reason`` says which).
    """
    lo, hi = ratio.iloc[0], ratio.iloc[-1]
    low_gain, high_gain = bool(lo["gain"]), bool(hi["gain"])
    gen_limited = bool(hi["loadgen_cpu_share_max"] >= LOADGEN_SATURATED)
    if gen_limited:
        outcome: bool | str = "inconclusive"
        reason = "the load generator was saturated at the highest concurrency"
    elif high_gain and not low_gain:
        outcome, reason = True, "no gain at the lowest concurrency, a gain at the highest"
    elif low_gain:
        outcome, reason = False, "a gain already at the lowest concurrency"
    else:
        outcome, reason = False, "no gain even at the highest concurrency"
    return {"outcome": outcome, "reason": reason, "low_gain": low_gain, "high_gain": high_gain,
            "loadgen_limited": gen_limited, "ratio_low": float(lo["uvloop_over_asyncio"]),
            "ratio_high": float(hi["uvloop_over_asyncio"])}


# -- a sync server's rate: "so what?" ------------------------------------------------
def sync_rate(*, workers: int = 2, concurrency: int = 4, requests: int = 1000) -> dict[str, float]:
    """A gunicorn sync server (``workers``) on tiny ``/cpu?ms=0`` requests: its rate and its CPU per request.

    The slow service is its upstream, as in notebook 03 (tiny requests do not
    use it). Returns throughput_rps, server_cpu_us_per_request, p50_ms and
    loadgen_cpu_share.
    """
    from helpers.load import generator
    from helpers.servers import Gunicorn, SlowService

    workers = checks.count("workers", workers, 64)
    concurrency = checks.count("concurrency", concurrency, 10_000)
    requests = checks.count("requests", requests, 1_000_000)
    with SlowService(key="switching-upstream") as svc, \
            Gunicorn(workers=workers, upstream=svc.base_url, key="switching-sync") as srv:
        url = srv.url("/cpu", ms=0)
        generator.run_load(url, requests=min(200, requests), concurrency=concurrency,
                           client=load_client())  # every worker warm
        cpu0 = srv.cpu_times()
        df = generator.run_load(url, requests=requests, concurrency=concurrency, client=load_client())
        cpu = srv.cpu_times() - cpu0
    s = timing.summarize(df).iloc[0]
    return {"throughput_rps": float(s["throughput_rps"]), "server_cpu_us_per_request": cpu / requests * 1e6,
            "p50_ms": float(s["p50_ms"]), "loadgen_cpu_share": float(df.attrs["limits"]["loadgen_cpu_share"]),
            "workers": workers}


def saved_rate(name: str = "03-workers-vs-clients") -> float | None:
    """The highest throughput (req/s) notebook 03 saved, or None if it has not been run here."""
    try:
        df = results.load(name)
    except FileNotFoundError:
        return None
    if "throughput_rps" not in df.columns or df["throughput_rps"].dropna().empty:
        return None
    return float(df["throughput_rps"].max())


SWITCHES_PER_REQUEST = 2  # the fewest: the request's task (or worker) is woken once and parks once


def switch_share(switch_us: float, cpu_us_per_request: float, switches: int = SWITCHES_PER_REQUEST) -> float:
    """Share of one request's CPU cost that is switching: switches × switch_us / cpu_us_per_request."""
    switch_us = checks.number("switch_us", switch_us, low=0.0, allow_low=False)
    cpu_us_per_request = checks.number("cpu_us_per_request", cpu_us_per_request, low=0.0, allow_low=False)
    switches = checks.count("switches", switches, 1000)
    return switches * switch_us / cpu_us_per_request


def core_share(rate_rps: float, switch_us: float, switches: int = SWITCHES_PER_REQUEST) -> float:
    """Share of one core that ``rate_rps`` requests per second spend switching (switches × µs × rate / 1e6)."""
    rate_rps = checks.number("rate_rps", rate_rps, low=0.0)
    switch_us = checks.number("switch_us", switch_us, low=0.0, allow_low=False)
    switches = checks.count("switches", switches, 1000)
    return rate_rps * switches * switch_us / 1e6


# -- exercises -------------------------------------------------------------------------
EXERCISE_RATE_RPS = 2000
EXERCISE_SWITCHES = 4
EXERCISE_TASKS = 100_000
EXERCISES = {
    "07-switches-per-second": ("switches per second", "one switch takes the greenlet's median µs (unpinned); "
                               "a second has 1,000,000 µs."),
    "07-tasks-memory": ("MiB", f"multiply the asyncio task's USS per waiter (KiB) by {EXERCISE_TASKS:,}, "
                        "then divide by 1,024 for MiB."),
    "07-switch-share": ("share of one core (0 to 1)", f"{EXERCISE_RATE_RPS:,} requests/s × {EXERCISE_SWITCHES} "
                        "switches each × the asyncio Event switch's median µs, divided by 1,000,000 µs."),
}


def figures(summary: pd.DataFrame, per: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The measured figures the exercises are checked against (µs per switch, KiB per waiter)."""
    out = {f"{k}_us": figure(summary, k) for k in dict.fromkeys(summary["kind"])}
    for p in per:
        out[f"{p['what']}_uss_kib"] = p["uss_kib"]
    return out


def expected(name: str, figs: dict[str, float]) -> float:
    """The answer to exercise ``name``, computed from this run's figures."""
    checks.choice("exercise", name, tuple(EXERCISES))
    need = {"07-switches-per-second": "greenlet_us", "07-tasks-memory": "task_uss_kib", "07-switch-share": "asyncio_us"}[name]
    if need not in figs or not np.isfinite(figs[need]):
        raise ValueError(f"exercise {name!r} needs the figure {need!r}; run the notebook's measurements first")
    if name == "07-switches-per-second":
        return 1e6 / figs["greenlet_us"]
    if name == "07-tasks-memory":
        return figs["task_uss_kib"] * EXERCISE_TASKS / 1024
    return EXERCISE_RATE_RPS * EXERCISE_SWITCHES * figs["asyncio_us"] / 1e6


def check_answer(name: str, answer: float | None, figs: dict[str, float], *, tolerance: float = 0.15) -> bool | None:
    """Check the learner's ``answer`` to exercise ``name`` against this run's figures; print a hint if wrong."""
    unit, hint = EXERCISES[checks.choice("exercise", name, tuple(EXERCISES))]
    ok = exercises.compare(answer, expected(name, figs), tolerance=tolerance, unit=unit if name != "07-switch-share" else "")
    if ok is False:
        print(f"Hint: {hint}")
    return ok


__all__ = ["KINDS", "WAITERS", "available", "beside_published", "can_pin", "check_answer", "cheapest", "compare",
           "concurrency_verdict", "copy_rate", "core_share", "course_table", "depth_summary", "expected", "figure",
           "figures", "loop_ratio", "machine", "measure_switch", "per_waiter", "pinning_effect", "plot_switches",
           "plot_waiters", "published_sentences", "saved_rate", "server_sweep", "stack_depth", "summarize",
           "switch_runs", "switch_share", "sync_rate", "thread_limit", "waiter_memory"]
