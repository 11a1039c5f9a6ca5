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


# Queueing under random arrivals (issue 12) --------------------------------------------------
# Poisson arrivals at ``rate_rps``, ``servers`` identical servers, mean service time ``service_s``.
# Utilisation rho = rate_rps * service_s / servers must be < 1 (otherwise the queue grows without bound).


def _queue_args(rate_rps, service_s, servers) -> tuple[float, float, int, float]:
    lam = _nonneg("rate_rps", rate_rps)
    s = _nonneg("service_s", service_s)
    c = _pos_int("servers", servers)
    if lam == 0 or s == 0:
        raise ValueError("rate_rps and service_s must both be > 0")
    rho = lam * s / c
    if rho >= 1:
        raise ValueError(f"utilisation rate_rps * service_s / servers = {rho:.3g} must be < 1 "
                         "(at or above 1 the queue grows without bound)")
    return lam, s, c, rho


def erlang_c(rate_rps: float, service_s: float, servers: int) -> float:
    """M/M/c: probability that an arriving request has to wait (Erlang C formula).

    With offered load a = rate_rps * service_s and c servers:
    C = (a^c / c! * c / (c - a)) / (sum_{k<c} a^k / k! + a^c / c! * c / (c - a)).
    Computed with the stable recursion of Erlang B (B_0 = 1, B_k = a B / (k + a B)),
    then C = B / (1 - rho (1 - B)).
    """
    lam, s, c, rho = _queue_args(rate_rps, service_s, servers)
    a, b = lam * s, 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b / (1.0 - rho * (1.0 - b))


def mmc(rate_rps: float, service_s: float, servers: int) -> dict[str, float]:
    """M/M/c (exponential service, mean ``service_s``): rho, p_wait, mean wait and mean response.

    Mean wait in the queue Wq = C / (c mu - lambda), mu = 1 / service_s;
    mean response W = Wq + service_s. For c = 1: W = 1 / (mu - lambda).
    """
    lam, s, c, rho = _queue_args(rate_rps, service_s, servers)
    pw = erlang_c(lam, s, c)
    wq = pw / (c / s - lam)
    return {"rho": rho, "p_wait": pw, "wait_s": wq, "response_s": wq + s}


def _tail_mmc(t: float, lam: float, s: float, c: int, pw: float) -> float:
    """P(response > t) for M/M/c: the wait is 0 with 1 - C, else Exp(theta = c mu - lambda); plus Exp(mu) service."""
    mu, theta = 1.0 / s, c / s - lam
    if abs(theta - mu) < 1e-12 * mu:
        both = (1.0 + mu * t) * math.exp(-mu * t)
    else:
        both = (mu * math.exp(-theta * t) - theta * math.exp(-mu * t)) / (mu - theta)
    return (1.0 - pw) * math.exp(-mu * t) + pw * both


def mmc_response_quantile(rate_rps: float, service_s: float, servers: int, q: float) -> float:
    """M/M/c: the ``q`` quantile (0 < q < 1) of the response time (wait + service), exact, by bisection.

    For c = 1 the response time is Exp(mu - lambda), so the quantile is -ln(1 - q) / (mu - lambda).
    """
    lam, s, c, _ = _queue_args(rate_rps, service_s, servers)
    q = _quantile_arg(q)
    pw = erlang_c(lam, s, c)
    lo, hi = 0.0, s
    while _tail_mmc(hi, lam, s, c, pw) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _tail_mmc(mid, lam, s, c, pw) > 1.0 - q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _quantile_arg(q) -> float:
    if isinstance(q, bool) or not isinstance(q, (int, float, np.floating)) or not (0 < q < 1):
        raise ValueError(f"q must be a number strictly between 0 and 1, got {q!r}")
    return float(q)


def mdc(rate_rps: float, service_s: float, servers: int) -> dict[str, float]:
    """M/D/c (fixed service time ``service_s``), Allen-Cunneen approximation.

    Wq(M/G/c) ~ Wq(M/M/c) * (ca^2 + cs^2) / 2 with ca^2 = 1 (Poisson) and cs^2 = 0
    (fixed service): half the M/M/c wait. For c = 1 this is exact
    (Pollaczek-Khinchine: Wq = rho * service_s / (2 (1 - rho))); for c > 1 it is an
    approximation (slightly pessimistic at low load). p_wait is the M/M/c Erlang C value.
    """
    m = mmc(rate_rps, service_s, servers)
    wq = 0.5 * m["wait_s"]
    return {"rho": m["rho"], "p_wait": m["p_wait"], "wait_s": wq, "response_s": wq + service_s}


def mdc_response_quantile(rate_rps: float, service_s: float, servers: int, q: float) -> float:
    """M/D/c: approximate ``q`` quantile of the response time.

    Stated approximation: a request waits with probability C (Erlang C), and a
    waiting request's wait is exponential with the Allen-Cunneen mean
    (``mdc(...)["wait_s"] / C``); the service adds exactly ``service_s``.
    So the quantile is service_s + max(0, ln(C / (1 - q)) * Wq / C).
    Good enough to draw the hockey stick; not exact (the true M/D/1 wait is not exponential).
    """
    q = _quantile_arg(q)
    m = mdc(rate_rps, service_s, servers)
    pw, wq = m["p_wait"], m["wait_s"]
    if pw <= 1.0 - q or wq == 0:
        return float(service_s)
    return float(service_s) + math.log(pw / (1.0 - q)) * wq / pw
