"""Try an exercise's answer on real servers: ``tryouts.run("00-batch", my_answer)``.

The exercises of 00-04 (see helpers/core/exercises.py) are checked against
the models; this runs the situation each one describes (the slow service,
gunicorn workers, the load generator in its own process) and prints what was
measured beside your answer, so the model itself can be doubted. Each run
takes about a second. The exercises that ask for a number of workers or
threads run the server with *your* number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers import load, servers
from helpers.core import exercises, models, timing

# exercise id -> (what is run, with the learner's number substituted where the key says so)
_BATCHES = {
    "00-batch": dict(requests=8, concurrency=4, ms=100),
    "01-sequential": dict(requests=6, concurrency=1, ms=80),
    "02-batch": dict(requests=7, concurrency=3, ms=100),
    "04-hidden-cap": dict(requests=250, concurrency=250, ms=200, connection_limit=100),
}
RUNNABLE = tuple(_BATCHES) + ("00-throughput", "03-workers", "03-throughput", "03-threads")


def _wall_s(df: pd.DataFrame) -> float:
    return float(df["t_done"].max() - df["t_send"].min())


def _answer_number(exercise_id: str, answer: Any) -> float | None:
    """The learner's answer as a number, or None after printing why it is not usable."""
    f = exercises.feedback(exercise_id, answer, **({"limit": 100} if exercise_id == "04-hidden-cap" else {}))
    if f.status in ("empty", "type"):
        print(f.message)
        return None
    return float(answer)


def run(exercise_id: str, answer: Any = None) -> None:
    """Run exercise ``exercise_id``'s situation on real servers; print measured beside ``answer``.

    Returns nothing, so a cell ending in it shows only the sentence; ``measure`` returns the records.
    """
    measure(exercise_id, answer)


def measure(exercise_id: str, answer: Any = None) -> pd.DataFrame | None:
    """``run``, returning the request records (None when nothing was run)."""
    if exercise_id not in RUNNABLE:
        raise KeyError(f"no real-server run for {exercise_id!r}; these have one: {', '.join(RUNNABLE)}")
    value = _answer_number(exercise_id, answer)
    if value is None and exercise_id in ("03-workers", "03-threads"):
        return None  # the server is built with the learner's number: nothing to run without one
    with servers.SlowService(key="tryouts-upstream") as svc:
        if exercise_id in _BATCHES:
            p = _BATCHES[exercise_id]
            df = load.run_load(svc.url("/io", ms=p["ms"]), requests=p["requests"], concurrency=p["concurrency"],
                               connection_limit=p.get("connection_limit"), warm=True)
            measured, what, unit = _wall_s(df), "the batch took", "s"
            model = models.batch_time(p["requests"], p.get("connection_limit") or p["concurrency"], p["ms"] / 1000)
        else:
            kw: dict[str, Any] = {"workers": 4, "clients": 40, "requests": 120}
            if exercise_id == "03-workers":
                kw = {"workers": max(1, int(value)), "clients": 30, "requests": 90}
            elif exercise_id == "03-throughput":
                kw = {"workers": 3, "clients": 12, "requests": 60}
            elif exercise_id == "03-threads":
                kw = {"workers": 2, "threads": max(1, int(value)), "worker_class": "gthread", "clients": 8,
                      "requests": 40}
            clients, requests = kw.pop("clients"), kw.pop("requests")
            m = models.closed_loop(clients, kw["workers"] * kw.get("threads", 1), 0.100)
            with servers.Gunicorn(upstream=svc.base_url, key="tryouts", **kw) as srv:
                df = load.run_load(srv.url("/io", ms=100), requests=requests, concurrency=clients)
            bad = int((df["status"] != 200).sum())
            if bad:
                raise RuntimeError(f"{bad} of {len(df)} requests failed on the server; nothing to compare")
            s = timing.summarize(df).iloc[0]
            if exercise_id in ("03-workers", "03-threads"):
                # the models give the mean latency, so the mean is what is compared
                measured, what, unit, model = float(df["latency_s"].mean()), "mean latency", "s", m["latency_s"]
            else:
                measured, what, unit, model = float(s["throughput_rps"]), "throughput", "requests/s", m["throughput_rps"]
    yours = "" if value is None else f"; your answer: {value:g}"
    print(f"measured on the real servers: {what} {measured:.3g} {unit} (the model: {model:.3g} {unit}{yours})")
    return df
