"""Models the notebooks overlay on their measurements.

All times are in seconds. Each function is the simplest model that explains
an experiment; where a measurement departs from it, that is the lesson.
"""

from __future__ import annotations

import math

import numpy as np


def _pos_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


def _nonneg(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v < 0:
        raise ValueError(f"{name} must be a number >= 0 (seconds), got {v!r}")
    return float(v)


def batch_time(n: int, concurrency: int, latency_s: float) -> float:
    """Time for ``n`` requests of ``latency_s`` each, at most ``concurrency`` at a time.

    They go in rounds: ``ceil(n / concurrency) * latency_s`` (the staircase).
    ``concurrency=1`` is the sequential case, ``n * latency_s``.
    """
    n = _pos_int("n", n)
    c = _pos_int("concurrency", concurrency)
    return math.ceil(n / c) * _nonneg("latency_s", latency_s)


def sequential_time(n: int, latency_s: float, overhead_s: float = 0.0) -> float:
    """``n`` blocking requests one after the other: ``n * (latency_s + overhead_s)``."""
    return _pos_int("n", n) * (_nonneg("latency_s", latency_s) + _nonneg("overhead_s", overhead_s))


def closed_loop(clients: int, workers: int, service_s: float) -> dict[str, float]:
    """``clients`` closed-loop clients against ``workers`` servers of ``service_s`` each.

    Returns throughput_rps = min(clients, workers) / service_s and the mean
    latency_s = service_s * max(1, clients / workers): once clients outnumber
    workers, each request waits for a free worker.
    """
    c = _pos_int("clients", clients)
    w = _pos_int("workers", workers)
    s = _nonneg("service_s", service_s)
    if s == 0:
        raise ValueError("service_s must be > 0 for a throughput")
    return {"throughput_rps": min(c, w) / s, "latency_s": s * max(1.0, c / w)}


def speedup_ideal(workers: int, cores: int) -> float:
    """Ideal speed-up of CPU-bound work on ``workers`` processes: ``min(workers, cores)``."""
    return float(min(_pos_int("workers", workers), _pos_int("cores", cores)))


def simul_time(boards: int, move_pairs: int, master_move_s: float, opponent_move_s: float, mode: str) -> float:
    """Duration of the chess simul from CLAIMS.md, until the last reply is in.

    ``"sync"``: the master plays each game to the end before the next:
    ``boards * move_pairs * (master + opponent)``.

    ``"async"``: she moves on every board in turn, never waiting while any
    board is ready. Either she is the bottleneck (all her moves back to back,
    then the last reply: ``boards * move_pairs * master + opponent``), or the
    opponents are (the last board starts ``(boards - 1) * master`` late and
    then plays ``move_pairs`` full move pairs); the simul takes the longer.
    With the story's 24 boards, 30 move pairs, 5 s and 55 s: 12 h and just
    over 1 h.
    """
    b = _pos_int("boards", boards)
    p = _pos_int("move_pairs", move_pairs)
    m = _nonneg("master_move_s", master_move_s)
    o = _nonneg("opponent_move_s", opponent_move_s)
    if mode == "sync":
        return b * p * (m + o)
    if mode == "async":
        return max(b * p * m + o, (b - 1) * m + p * (m + o))
    raise ValueError(f"mode must be 'sync' or 'async', got {mode!r}")
