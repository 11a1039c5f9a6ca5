"""helpers.lessons.async_server: the models' formulas, the sweeps (tiny sizes), bad input, exercise feedback."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.lessons import async_server as A
from helpers.servers import AiohttpServer


# -- models ------------------------------------------------------------------
def test_sync_burst_latencies_are_rounds():
    lat = A.sync_burst_latencies_s(5, 4, 0.1)
    assert lat.tolist() == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.2])
    hundred = A.sync_burst_latencies_s(100, 4, 1.0)
    assert hundred.max() == 25 and np.median(hundred) == 13


def test_burst_time_adds_the_loops_own_work():
    assert A.burst_time_s(1000, 2.0) == 2.0
    assert A.burst_time_s(1000, 2.0, 0.0005) == pytest.approx(2.5)


def test_pool_throughput_and_size():
    assert A.pool_throughput_rps(10, 0.05) == pytest.approx(200)
    assert A.pool_throughput_rps(10, 0.05, processes=4) == pytest.approx(800)
    assert A.pool_size_needed(300, 0.040) == 12
    assert A.pool_size_needed(200, 0.050) == 10  # exactly enough, no rounding up past it


def test_mix_ms_splits_the_total():
    assert A.mix_ms(0.25, 20) == (5.0, 15.0)
    assert A.mix_ms(0, 20) == (0.0, 20.0)
    assert A.mix_ms(1, 20) == (20.0, 0.0)


@pytest.mark.parametrize("s, sync, asyn, hybrid", [
    (0.0, 200, 800, 800),      # C/T and N/T: all waiting
    (0.25, 200, 200, 400),     # one async core runs out at s = 1/N
    (0.5, 200, 100, 200),      # sync's cores run out at s = P/N
    (1.0, 100, 50, 100),       # CPU-bound: P/c vs 1/c
])
def test_throughput_models(s, sync, asyn, hybrid):
    kw = dict(total_s=0.020, clients=16, cores=2)
    assert A.throughput_rps("sync", s, workers=4, **kw) == pytest.approx(sync)
    assert A.throughput_rps("async", s, **kw) == pytest.approx(asyn)
    assert A.throughput_rps("hybrid", s, **kw) == pytest.approx(hybrid)


def test_sync_throughput_never_exceeds_its_clients_or_workers_cores():
    # fewer clients than workers: the clients are the cap
    assert A.throughput_rps("sync", 0, total_s=0.1, clients=2, cores=2, workers=8) == pytest.approx(20)
    # fewer workers than cores: a worker uses one core at most
    assert A.throughput_rps("sync", 1, total_s=0.1, clients=16, cores=8, workers=2) == pytest.approx(20)


def test_cpu_use_models_and_the_async_correction():
    kw = dict(clients=16, cores=2)
    assert A.cpu_use("sync", 0.25, workers=4, **kw) == pytest.approx(0.5)       # min(1, N s / P)
    assert A.cpu_use("sync", 1.0, workers=4, **kw) == pytest.approx(1.0)
    assert A.cpu_use("hybrid", 0.05, **kw) == pytest.approx(0.4)                # min(1, C s / P)
    # one async process: at most one core of two, not min(1, C s / P) = 1
    assert A.cpu_use("async", 1.0, **kw) == pytest.approx(0.5)
    assert A.cpu_use("async", 0.05, **kw) == pytest.approx(0.4)                  # min(1, C s) / P
    for kind in A.KINDS:
        assert A.cpu_use(kind, 0.0, workers=4, **kw) == 0.0


def test_model_crossovers():
    assert A.model_crossover(clients=16, workers=4, cores=2) == pytest.approx(0.25, abs=1e-5)
    assert A.model_crossover(clients=16, workers=4, cores=2, against="hybrid") == pytest.approx(0.5, abs=1e-5)
    assert A.model_crossover(clients=64, workers=8, cores=4) == pytest.approx(0.125, abs=1e-5)
    assert A.model_crossover(clients=4, workers=4, cores=2) == 0.0   # never ahead: no more clients than workers


def test_measured_crossover_interpolates():
    assert A.measured_crossover([0, 0.5, 1], [3, 0.5, 0.4]) == pytest.approx(0.4)
    assert math.isnan(A.measured_crossover([0, 1], [3, 2]))
    assert A.measured_crossover([0, 1], [0.9, 0.5]) == 0
    assert A.measured_crossover([1, 0, 0.5], [0.4, 3, 0.5]) == pytest.approx(0.4)  # order of the points does not matter


def test_share_model_grid():
    g = A.share_model(total_ms=20, clients=16, sync_workers=4, cores=2, points=11)
    assert len(g) == 33 and set(g["kind"]) == set(A.KINDS)
    assert (g.loc[g["kind"] == "sync", "model_over_sync"] == 1).all()
    at0 = g[g["s"] == 0].set_index("kind")["model_over_sync"]
    assert at0["async"] == pytest.approx(4) and at0["hybrid"] == pytest.approx(4)


@pytest.mark.parametrize("call, err", [
    (lambda: A.throughput_rps("threads", 0.5, total_s=1, clients=1, cores=1), ValueError),
    (lambda: A.throughput_rps("async", 1.5, total_s=1, clients=1, cores=1), ValueError),
    (lambda: A.throughput_rps("async", "half", total_s=1, clients=1, cores=1), TypeError),
    (lambda: A.throughput_rps("sync", 0.5, total_s=1, clients=4, cores=1), TypeError),  # sync needs workers
    (lambda: A.throughput_rps("async", 0.5, total_s=0, clients=4, cores=1), ValueError),
    (lambda: A.sync_burst_latencies_s(0, 4, 0.1), ValueError),
    (lambda: A.sync_burst_latencies_s(True, 4, 0.1), TypeError),
    (lambda: A.burst_time_s(10, 1.0, -0.1), ValueError),
    (lambda: A.pool_throughput_rps(5, 0), ValueError),
    (lambda: A.mix_ms(0.5, -1), ValueError),
    (lambda: A.model_crossover(clients=4, workers=2, cores=1, against="sync"), ValueError),
    (lambda: A.measured_crossover([0, 1], [1]), ValueError),
    (lambda: A.median_difference([1.0], [1.0, 2.0]), ValueError),
])
def test_bad_input_is_refused(call, err):
    with pytest.raises(err):
        call()


# -- reading the server's records ---------------------------------------------
def test_in_flight_and_peak():
    df = pd.DataFrame({"server_start": [0.0, 0.0, 0.5, 1.0], "server_end": [1.0, 1.0, 0.8, 2.0]})
    assert A.peak_in_flight(df) == 3
    f = A.in_flight(df)
    assert f["in_flight"].iloc[-1] == 0 and f["in_flight"].min() == 0
    # back to back (one ends as the next starts) is one at a time
    serial = pd.DataFrame({"server_start": [0.0, 1.0, 2.0], "server_end": [1.0, 2.0, 3.0]})
    assert A.peak_in_flight(serial) == 1
    assert A.peak_in_flight(serial.iloc[0:0]) == 0
    with_errors = pd.DataFrame({"server_start": [0.0, np.nan], "server_end": [1.0, np.nan]})
    assert A.peak_in_flight(with_errors) == 1


def test_memory_sampler_with_a_stand_in_server():
    class Fake:
        def __init__(self):
            self.calls = 0

        def memory(self):
            self.calls += 1
            return pd.DataFrame({"rss_mb": [10.0 + self.calls], "uss_mb": [5.0 + self.calls]})

    fake = Fake()
    with A.MemorySampler(fake, interval_s=0.01) as m:
        import time

        time.sleep(0.1)
    f = m.frame()
    assert list(f.columns) == ["t_s", "rss_mb", "uss_mb"] and len(f) >= 3
    assert m.peak_uss_mb == f["uss_mb"].max() and f["t_s"].is_monotonic_increasing
    with pytest.raises(ValueError):
        A.MemorySampler(fake, interval_s=0)


def test_big_burst_size_fits_or_refuses_clearly():
    n, msg = A.big_burst_size(10_000, hard_limit=None)
    assert n == 10_000
    n, msg = A.big_burst_size(10_000, hard_limit=1_048_576)
    assert n == 10_000 and "allows" in msg
    n, msg = A.big_burst_size(10_000, hard_limit=20_000)
    assert n == 9_000 and msg.startswith("Refused") and "ulimit -Hn" in msg and "9,000" in msg
    n, msg = A.big_burst_size(10_000, hard_limit=1_024)
    assert n is None and msg.startswith("Refused")


def test_median_difference_is_reproducible():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 1, 200), rng.normal(12, 1, 200)
    d1, d2 = A.median_difference(a, b), A.median_difference(a, b)
    assert d1 == d2
    assert d1["lo"] <= d1["diff"] <= d1["hi"] < 0


def test_caps_row_and_table():
    limits = {"workers": 4, "concurrent_requests_max": 4, "listen_backlog_effective": 2048, "open_files": 1024,
              "worker_connections": 1000, "worker_connections_enforced": False, "keepalive_s": 0, "loop": "none",
              "http_parser": "python", "access_log": False, "upstream_pool": 1}
    row = A.caps("sync", limits, {"client": "raw", "connection_limit": 100, "keepalive": True,
                                   "loadgen_open_files": 4096})
    assert row["requests at once (server cap)"] == 4 and row["access log"] == "off"
    assert row["worker_connections"] == "1000 (not enforced)" and row["client connections"] == 100
    async_row = A.caps("async", {"workers": 1, "concurrent_requests_max": None, "access_log": False})
    assert async_row["requests at once (server cap)"].startswith("none")
    t = A.caps_table([row, async_row])
    assert list(t.columns) == ["sync", "async"] and "listen backlog" in t.index


# -- exercises -----------------------------------------------------------------
def test_exercise_answers_come_from_the_models():
    assert A.hybrid_answer(total_ms=20, clients=16, cores=2, s=0.5) == pytest.approx(200)
    assert A.hybrid_answer(total_ms=40, clients=32, cores=2, s=0.5) == pytest.approx(100)


def test_exercise_checkers_give_feedback(capsys):
    assert A.check_hybrid_prediction(None, total_ms=20, clients=16, cores=2) is None
    assert "No answer yet" in capsys.readouterr().out
    assert A.check_hybrid_prediction(190, total_ms=20, clients=16, cores=2) is True
    assert "Right" in capsys.readouterr().out
    assert A.check_hybrid_prediction(800, total_ms=20, clients=16, cores=2) is False
    assert "Not yet" in capsys.readouterr().out
    assert A.check_pool_size(12) is True
    assert A.check_pool_size(11) is False
    assert A.check_crossover(0.125, cores=2) is True
    assert A.check_crossover(0.25, cores=2) is False
    capsys.readouterr()
    assert A.check_pool_size("twelve") is False  # text is a clear message, not a traceback
    assert "write a number without quotes" in capsys.readouterr().out


# -- experiments, tiny sizes ------------------------------------------------------
def test_sweeps_refuse_bad_input_before_starting_anything(slow_service):
    with pytest.raises(ValueError):
        A.hybrid_sweep(slow_service.base_url, [], cpu_ms=1, io_ms=1, clients=2, cores=1)
    with pytest.raises(ValueError):
        A.share_sweep(slow_service.base_url, [0.5, 2.0], total_ms=10, clients=2, sync_workers=2, cores=1)
    with pytest.raises(ValueError):
        A.share_sweep(slow_service.base_url, [0.5], total_ms=10, clients=2, sync_workers=2, cores=1, kinds=["gevent"])
    with pytest.raises(ValueError):
        A.bursts({}, n=2, latency_ms=1)
    with pytest.raises(ValueError):
        A.side_by_side({}, clients=2, latency_ms=1, single_requests=2)


def test_async_server_experiments_tiny(slow_service):
    with AiohttpServer(upstream=slow_service.base_url, key="test-async-server-lesson") as srv:
        b = A.burst(srv, n=8, latency_ms=50, interval_s=0.01)
        s = A.burst_summary(b)
        assert s["requests"] == 8 and s["errors"] == 0 and s["server_pids"] == 1 and s["server_threads"] == 1
        assert s["peak_in_flight"] == 8 and s["duration_latencies"] < 5
        # the OS counts CPU time in clock ticks (often 10 ms): eight tiny requests may not reach one
        assert s["server_cpu_ms_per_request"] >= 0 and not b.attrs["memory"].empty

        db = A.db_sweep(srv, [2], ms=20, clients=6, seconds=0.05, progress=False)
        assert list(db["k"]) == [2] and db["max_holding"].iloc[0] == 2 and db["errors"].iloc[0] == 0
        assert db["model_rps"].iloc[0] == pytest.approx(100)
        with pytest.raises(ValueError):
            A.db_sweep(srv, [], ms=20, clients=6)

        summary, frames = A.block_vs_fix(srv, n=3, ms=30, progress=False)
        by = summary.set_index("endpoint")
        assert list(summary["endpoint"]) == list(A.BLOCK_ENDPOINTS) and set(frames) == set(A.BLOCK_ENDPOINTS)
        assert by.loc["/block", "peak_in_flight"] == 1 and by.loc["/io", "peak_in_flight"] == 3
        assert by.loc["/block", "model_s"] == pytest.approx(0.09)

        one = A.one_client(srv, n=3, latency_ms=1)
        assert len(one) == 3 and one.attrs["limits"]["concurrency"] == 1


def test_side_by_side_and_share_sweep_tiny(slow_service):
    up = slow_service.base_url
    duel = A.side_by_side({"aiohttp": lambda: AiohttpServer(upstream=up, key="test-async-duel")},
                          clients=4, latency_ms=20, single_requests=3, single_ms=1, progress=False)
    assert set(duel["single"]["server"]) == {"aiohttp"} and len(duel["single"]) == 3
    assert len(duel["burst"]) == 4 and set(duel["limits"]) == {"aiohttp"}

    sw = A.share_sweep(up, [0.0, 1.0], total_ms=4, clients=2, sync_workers=2, cores=1, seconds=0.02,
                       kinds=("async",), progress=False)
    assert list(sw["kind"]) == ["async", "async"] and list(sw["s"]) == [0.0, 1.0]
    assert (sw["errors"] == 0).all() and (sw["requests"] >= 4).all()
    assert sw.loc[sw["s"] == 1.0, "model_rps"].iloc[0] == pytest.approx(250)
    assert {"cpu_use", "model_cpu_use", "throughput_rps"} <= set(sw.columns)
    r = A.share_ratios(sw)
    assert list(r["s"]) == [0.0, 1.0] and "async_over_sync" not in r  # no sync runs, no ratio


def test_hybrid_sweep_and_harness_tiny(slow_service):
    h = A.hybrid_sweep(slow_service.base_url, [1], cpu_ms=2, io_ms=2, clients=2, cores=1, seconds=0.02,
                       progress=False)
    assert list(h["workers"]) == [1] and h["errors"].iloc[0] == 0 and h["processes_serving"].iloc[0] == 1
    assert h["model_rps"].iloc[0] == pytest.approx(500)
    rate = A.harness_rate(slow_service.url("/io", ms=0), requests=20, concurrency=2)
    assert rate["throughput_rps"] > 0 and rate["errors"] == 0


def test_hybrid_sweep_refuses_an_empty_request(slow_service):
    with pytest.raises(ValueError, match="more than 0"):
        A.hybrid_sweep(slow_service.base_url, [1], cpu_ms=0, io_ms=0, clients=2, cores=1)
