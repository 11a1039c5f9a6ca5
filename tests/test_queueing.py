"""Open-loop load (Poisson arrivals, latency from the scheduled instant), variable service times,
and the queueing lesson's helpers (notebook 03's hockey stick)."""

import math
import random

import numpy as np
import pandas as pd
import pytest

from helpers.core import models
from helpers.lessons import queueing
from helpers.load import generator as load
from helpers.servers.slow_server import draw_ms


# -- the schedule ------------------------------------------------------------------------------
def test_poisson_schedule_is_seeded_with_exponential_gaps():
    a = load.poisson_schedule(100.0, 20_000, seed=7)
    assert np.array_equal(a, load.poisson_schedule(100.0, 20_000, seed=7))
    assert not np.array_equal(a, load.poisson_schedule(100.0, 20_000, seed=8))
    gaps = np.diff(np.concatenate([[0.0], a]))
    assert (gaps > 0).all()
    assert gaps.mean() == pytest.approx(0.01, rel=0.03)  # mean gap 1 / rate
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)  # exponential: CV 1
    # memoryless: P(gap > mean) = 1/e
    assert (gaps > 0.01).mean() == pytest.approx(math.exp(-1), abs=0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(rate_rps=0, requests=5), "rate_rps"),
    (dict(rate_rps=load.MAX_RATE_RPS * 2, requests=5), "rate_rps"),
    (dict(rate_rps=True, requests=5), "rate_rps"),
    (dict(rate_rps=10, requests=0), "requests"),
    (dict(rate_rps=10, requests=5, seed=-1), "seed"),
])
def test_poisson_schedule_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load.poisson_schedule(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(url="http://example.com/", rate_rps=10, requests=5), "on this machine"),
    (dict(url="http://127.0.0.1:1/", rate_rps=load.MAX_RATE_RPS + 1, requests=5), "cannot send faster"),
    (dict(url="http://127.0.0.1:1/", rate_rps=10, requests=5, connection_limit=0), "connection_limit"),
    (dict(url="http://127.0.0.1:1/", rate_rps=10, requests=5, timeout_s=0), "timeout_s"),
    (dict(url="http://127.0.0.1:1/", rate_rps=1, requests=100, deadline_s=5), "deadline_s"),
])
def test_run_open_loop_refuses_bad_arguments(kwargs, match):
    url = kwargs.pop("url")
    with pytest.raises(ValueError, match=match):
        load.run_open_loop(url, **kwargs)


# -- the open loop, for real ---------------------------------------------------------------------
def test_open_loop_sends_on_schedule_and_measures_from_it(slow_service):
    rate, n = 200.0, 120
    df = load.run_open_loop(slow_service.url("/io", ms=5), rate_rps=rate, requests=n, seed=3)
    assert len(df) == n and df["error"].isna().all() and (df["status"] == 200).all()
    assert sorted(df["request"]) == list(range(n))
    # the scheduled instants are the seeded schedule, on the table's clock
    sched = df.sort_values("request")["t_sched"].to_numpy()
    assert sched == pytest.approx(load.poisson_schedule(rate, n, seed=3), abs=1e-9)
    assert np.diff(sched).mean() == pytest.approx(1 / rate, rel=0.25)
    # never sent early; latency counts from the schedule
    assert (df["send_late_s"] >= -1e-6).all()
    assert df["latency_s"].to_numpy() == pytest.approx((df["t_done"] - df["t_sched"]).to_numpy())
    assert (df["latency_s"] >= df["t_done"] - df["t_send"] - 1e-9).all()
    assert (df["service_s"] >= 0.004).all()
    lim = df.attrs["limits"]
    assert lim["mode"] == "open loop" and lim["rate_rps"] == rate and lim["seed"] == 3
    assert lim["connection_limit"] == n and lim["waited_for_connection"] == 0
    assert 1 <= lim["max_in_flight"] <= lim["connections_opened"] <= n
    assert lim["loadgen_pid"] != slow_service.pid and lim["send_late_max_s"] >= lim["send_late_p99_s"]


def test_open_loop_counts_the_generators_own_lateness(slow_service):
    """With one connection, later requests cannot leave on time: their wait for it counts in their latency."""
    df = load.run_open_loop(slow_service.url("/io", ms=50), rate_rps=100, requests=6, seed=1, connection_limit=1)
    df = df.sort_values("request").reset_index(drop=True)
    lim = df.attrs["limits"]
    assert lim["connection_limit"] == 1 and lim["max_in_flight"] == 1 and lim["waited_for_connection"] >= 1
    # the k-th request cannot leave before k answers of 50 ms: it leaves late, and that lateness is in its latency
    assert df["t_send"].iloc[-1] >= 5 * 0.049
    assert df["send_late_s"].iloc[-1] > 0.1
    assert (df["latency_s"] >= df["send_late_s"] + 0.049).all()
    assert df["latency_s"].iloc[-1] > (df["t_done"] - df["t_send"]).iloc[-1] + 0.1


# -- variable service times -------------------------------------------------------------------
def test_draw_ms_means_and_shapes():
    rng = random.Random(0)
    assert draw_ms(rng, "fixed", 12.5) == 12.5
    assert draw_ms(rng, "exponential", 0.0) == 0.0
    exp = np.array([draw_ms(rng, "exponential", 20.0) for _ in range(20_000)])
    assert exp.mean() == pytest.approx(20.0, rel=0.03) and exp.std() == pytest.approx(20.0, rel=0.05)
    logn = np.array([draw_ms(rng, "lognormal", 20.0, sigma=0.5) for _ in range(20_000)])
    assert logn.mean() == pytest.approx(20.0, rel=0.03)
    assert np.log(logn).std() == pytest.approx(0.5, rel=0.05)
    assert draw_ms(random.Random(1), "exponential", 5.0) == draw_ms(random.Random(1), "exponential", 5.0)
    with pytest.raises(ValueError, match="kind"):
        draw_ms(rng, "uniform", 5.0)


def test_slow_service_exponential_io():
    import requests

    from helpers.servers import SlowService

    with SlowService(key="tests-variable-io", io_service="exponential", io_seed=5) as svc:
        lim = svc.limits
        assert lim["io_service"] == "exponential" and lim["io_seed"] == 5
        waits = [requests.get(svc.url("/io", ms=4), timeout=10).json()["ms"] for _ in range(300)]
        assert np.mean(waits) == pytest.approx(4.0, rel=0.2)
        assert np.std(waits) / np.mean(waits) > 0.7  # variable, not fixed
        assert requests.get(svc.base_url + "/io?ms=oops", timeout=10).status_code == 400


def test_slow_service_default_io_is_fixed(slow_service):
    import requests

    assert slow_service.limits["io_service"] == "fixed"
    assert requests.get(slow_service.url("/io", ms=3), timeout=10).json()["ms"] == 3.0


@pytest.mark.parametrize("kwargs", [dict(io_service="uniform"), dict(io_sigma=0), dict(io_seed=-1)])
def test_slow_service_refuses_bad_io_options(kwargs):
    from helpers.servers import SlowService

    with pytest.raises(ValueError):
        SlowService(**kwargs)


# -- the lesson's helpers -----------------------------------------------------------------------
def test_requests_for_clips():
    assert queueing.requests_for(100, 1.0, 30, 300) == 100
    assert queueing.requests_for(5, 1.0, 30, 300) == 30
    assert queueing.requests_for(1000, 1.0, 30, 300) == 300
    with pytest.raises(ValueError):
        queueing.requests_for(0, 1.0, 30, 300)


def test_model_quantile_matches_models_and_stops_at_one():
    assert queueing.model_quantile("fixed", 50, 0.01, 1, 0.99) == models.mdc_response_quantile(50, 0.01, 1, 0.99)
    assert queueing.model_quantile("exponential", 50, 0.01, 1, 0.5) == pytest.approx(
        models.mmc_response_quantile(50, 0.01, 1, 0.5))
    assert math.isnan(queueing.model_quantile("fixed", 100, 0.01, 1, 0.99))
    with pytest.raises(ValueError, match="service"):
        queueing.model_quantile("uniform", 1, 0.01, 1, 0.5)


def _run(n=200, latency=0.02, service=0.01, wait=0.0, late=0.0, waited=0):
    df = pd.DataFrame({"error": [None] * n, "latency_s": np.linspace(latency * 0.5, latency * 1.5, n),
                       "service_s": [service] * n, "wait_s": [wait] * n})
    df.attrs["limits"] = {"send_late_p99_s": late, "waited_for_connection": waited, "loadgen_cpu_share": 0.1}
    return df


def test_point_reads_utilisation_from_the_server_records():
    p = queueing.point(_run(service=0.01, wait=0.005), workers=2, rate_rps=100)
    assert p["rho"] == pytest.approx(0.5) and p["service_ms"] == pytest.approx(10)
    assert p["queued_share"] == 1.0 and p["p50_ms"] == pytest.approx(20, rel=0.01)
    assert p["model_p99_ms"] == pytest.approx(models.mdc_response_quantile(100, 0.01, 2, 0.99) * 1000)
    assert queueing.point(_run(wait=0.001), workers=2, rate_rps=100)["queued_share"] == 0.0


def _points(p99_1, p99_4, model_scale=1.0):
    rows = []
    for w, p99s in ((1, p99_1), (4, p99_4)):
        for r, p99 in zip((0.2, 0.5, 0.8, 0.9), p99s):
            rows.append({"workers": w, "rho_target": r, "rho": r, "p50_ms": 12.0, "p99_ms": p99,
                         "queued_share": min(1.0, r * p99 / p99s[-1]) if w == 1 else r ** 4,
                         "model_p50_ms": 12.0 * model_scale, "model_p99_ms": p99 * model_scale,
                         "waited_for_connection": 0, "send_late_p99_ms": 1.0, "errors": 0, "service_ms": 11.0})
    return pd.DataFrame(rows)


def test_decision_holds_and_fails_on_each_condition():
    good = queueing.decision(_points([20, 30, 80, 160], [15, 18, 25, 35]))
    assert good["outcome"] is True and good["growth"] == pytest.approx(8) and good["queued_gap"] > 0.3
    flat = queueing.decision(_points([20, 22, 25, 30], [15, 16, 17, 18]))
    assert flat["grew"] is False and flat["outcome"] is False
    same = queueing.decision(_points([20, 30, 80, 160], [15, 18, 25, 35]).assign(queued_share=0.4))  # as many queue
    assert same["grew"] and same["fewer_queue"] is False and same["outcome"] is False
    off = queueing.decision(_points([20, 30, 80, 160], [15, 18, 25, 35], model_scale=0.2))  # 5x the model
    assert off["model"] is False and off["outcome"] is False
    one = queueing.decision(_points([20, 30, 80, 160], [15, 18, 25, 35]).query("workers == 1"))
    assert one["fewer_queue"] is None and one["outcome"] is True


def test_curves_rise_with_utilisation_and_generator_check():
    pts = _points([20, 30, 80, 160], [15, 18, 25, 35])
    cv = queueing.curves(pts)
    for _, g in cv.groupby("workers"):
        assert g["model_p99_ms"].is_monotonic_increasing and g["model_p50_ms"].is_monotonic_increasing
    w1, w4 = cv[cv["workers"] == 1], cv[cv["workers"] == 4]
    assert w1["model_p99_ms"].iloc[-1] > w4["model_p99_ms"].iloc[-1]  # more workers queue less at equal rho
    assert queueing.generator_kept_up(pts)
    assert not queueing.generator_kept_up(pts.assign(waited_for_connection=[0] * 7 + [1]))
    assert not queueing.generator_kept_up(pts.assign(errors=[0] * 7 + [2]))


def test_hockey_stick_refuses_bad_plans():
    with pytest.raises(ValueError, match="service"):
        queueing.hockey_stick(service="uniform")
    with pytest.raises(ValueError, match="utilisation"):
        queueing.hockey_stick(rhos=(0.5, 1.0))
    with pytest.raises(ValueError):
        queueing.hockey_stick(workers=())


def test_calibrate_reads_the_servers_own_handler_time(slow_service):
    s = queueing.calibrate(slow_service.url("/io", ms=20), requests=3)
    assert 0.019 <= s < 0.05
    with pytest.raises(RuntimeError, match="calibration"):
        queueing.calibrate(slow_service.base_url + "/io?ms=oops", requests=1, warmup=0)


# -- published figures beside ours (notebook 03) --------------------------------------------------
def test_published_beside_computes_both_shapes():
    from helpers.lessons import sync_workers

    hundred = pd.DataFrame({"latency_s": np.ceil(np.arange(1, 101) / 4) * 0.05})
    grid = pd.DataFrame({"config": ["1 sync worker", "1 sync worker", "2 workers x 2 threads", "2 workers x 2 threads"],
                         "workers": [1, 1, 2, 2], "threads": [1, 1, 2, 2], "capacity": [1, 1, 4, 4],
                         "clients": [1, 4, 4, 16], "throughput_rps": [10.0, 10.0, 36.0, 38.0]})
    pts = _points([20, 30, 80, 160], [15, 18, 25, 35])
    t = sync_workers.published_beside(hundred, grid, pts)
    assert list(t["shape"]) == ["P99 / P50", "P99 / P50", "threaded / single-threaded throughput"]
    assert t["published"].iloc[0] == pytest.approx(42 / 28) and t["published"].iloc[2] == pytest.approx(3.26 / 0.99)
    assert t["ours"].iloc[0] == pytest.approx(t["model"].iloc[0])  # the staircase itself: ours = its model
    assert t["ours"].iloc[1] == pytest.approx(35 / 12) and t["ours"].iloc[2] == pytest.approx(3.6)
    assert t["model"].iloc[2] == 4 and t["published_max"].iloc[0] > t["published_min"].iloc[0]
    sentences = sync_workers.published_sentences(t)
    assert len(sentences) == 3 and all("same shape" in x for x in sentences)
    wide = sync_workers.published_sentences(t.assign(ours=[10.0, 10.0, 10.0]))
    assert all("wider gap" in x for x in wide)
    assert "opposite" in sync_workers.published_sentences(t.assign(ours=0.5))[0]
    with pytest.raises(ValueError, match="gthread"):
        sync_workers.published_beside(hundred, grid[grid["threads"] == 1])
