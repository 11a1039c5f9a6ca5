"""Notebook 04's second pass: the loop's schedule model, the sweep helper, the lag table and plot,
and what a request in flight costs as a thread or as a task (the probe, its refusals, the decision)."""

import asyncio
import json
import subprocess
import sys

import matplotlib
import pandas as pd
import pytest

from helpers.lessons import aio

matplotlib.use("Agg")


def run(coro):
    return asyncio.run(coro)


# -- the loop's schedule, worked out --------------------------------------------------------

def test_schedule_model_by_hand():
    # A: 10 CPU then 20 wait, twice; B: 10 CPU then 20 wait, once.
    # t=0 A runs to 10, sleeps until 30; B runs 10..20, sleeps until 40 (its last step: ends at 40);
    # idle until 30; A runs 30..40, its last wait ends at 60.
    m = aio.schedule_model({"A": [(10, 20), (10, 20)], "B": [(10, 20)]})
    assert m.set_index("task")["end_ms"].to_dict() == {"A": 60.0, "B": 40.0}
    assert m.attrs["total_ms"] == 60.0 and m.set_index("task")["cpu_ms"].to_dict() == {"A": 20.0, "B": 10.0}


def test_schedule_model_queue_is_first_in_first_out_and_no_wait_means_no_switch():
    # B's timer is due while A computes: B waits for A's whole 50 ms step (it is only "ready").
    m = aio.schedule_model({"B": [(1, 2), (1, 0)], "A": [(5, 0), (50, 0)]})
    ends = m.set_index("task")["end_ms"]
    assert ends["A"] == 56.0          # 1..56: A never awaited, so it ran both steps in one go
    assert ends["B"] == 57.0          # its timer fell due at 3, but it ran again only at 56
    # bounds: no sooner than all the CPU work, no later than one task after another
    plan = {"A": [(15, 30)] * 3, "B": [(30, 30)] * 2, "C": [(7.5, 30)] * 4}
    total = aio.schedule_model(plan).attrs["total_ms"]
    cpu = sum(c for st in plan.values() for c, _ in st)
    serial = sum(c + w for st in plan.values() for c, w in st)
    assert cpu <= total < serial


def test_schedule_model_predicts_the_trace():
    plan = {"A": [(10, 20)] * 3, "B": [(20, 20)] * 2, "C": [(5, 20)] * 4}
    model = aio.schedule_model(plan)
    trace = run(aio.trace_tasks(plan))
    replay = aio.schedule_model(aio.measured_plan(trace, plan)).attrs["total_ms"]  # a busy machine stretches steps
    ratio = trace["end_s"].max() * 1000 / replay
    assert 0.97 <= ratio < 1.3, ratio
    ends = trace.groupby("task")["end_s"].max() * 1000
    assert list(ends.sort_values().index) == list(model.sort_values("end_ms")["task"])  # the same finishing order


def test_measured_plan_replays_the_steps_as_they_ran():
    plan = {"A": [(10, 20), (10, 0)], "B": [(5, 20)]}
    trace = pd.DataFrame({"task": ["A", "A", "B", "A"], "step": [0, 0, 0, 1],
                          "state": ["running", "awaiting", "running", "running"],
                          "duration_ms": [25.0, 20.0, 5.5, 12.0]})
    assert aio.measured_plan(trace, plan) == {"A": [(25.0, 20.0), (12.0, 0.0)], "B": [(5.5, 20.0)]}
    real = run(aio.trace_tasks(plan))
    replay = aio.schedule_model(aio.measured_plan(real, plan)).attrs["total_ms"]
    assert 0.97 <= real["end_s"].max() * 1000 / replay < 1.3


# -- section 3's sweep --------------------------------------------------------------------------

def test_sweep_many_runs_both_limits_up_to_default_up_to(slow_service):
    df = run(aio.sweep_many(slow_service.url("/io", ms=100), [2, 6], default_limit=3, default_up_to=4))
    assert list(zip(df["client"], df["n"])) == [("asyncio, limit lifted", 2), ("asyncio, default limit", 2),
                                                ("asyncio, limit lifted", 6)]
    assert (df["errors"] == 0).all()
    assert df.loc[df["client"] == "asyncio, default limit", "connection_limit"].tolist() == [3]
    assert df.loc[df["n"] == 6, "peak_in_flight"].item() == 6
    with pytest.raises(ValueError):
        run(aio.sweep_many(slow_service.url("/io", ms=1), [0], default_limit=3))


# -- the lag table and plot ------------------------------------------------------------------------

def _fake_lag(lags, during):
    df = pd.DataFrame({"beat": range(len(lags)), "t_s": [0.01 * i for i in range(len(lags))], "lag_ms": lags,
                       "during_job": during})
    df.attrs.update({"job_s": 0.1, "job_start_s": 0.0, "interval_ms": 5.0})
    return df


def test_lag_table_uses_only_beats_during_the_job_and_names_scenarios():
    lag = {"nap_blocking": _fake_lag([0.1, 90.0, 0.2], [False, True, False]),
           "my_own": _fake_lag([500.0, 1.0, 3.0], [False, True, True])}
    t = aio.lag_table(lag)
    assert list(t.index) == ["nap_blocking", "my_own"]
    assert t.loc["nap_blocking", "max_lag_ms"] == 90.0 and t.loc["my_own", "max_lag_ms"] == 3.0
    assert t.loc["my_own", "median_lag_ms"] == 2.0
    assert t.loc["nap_blocking", "label"] == aio.LAG_LABELS["nap_blocking"] and t.loc["my_own", "label"] == "my_own"
    with pytest.raises(ValueError):
        aio.lag_table({})


def test_plot_lag_labels_in_words_on_a_log_scale():
    import matplotlib.pyplot as plt

    lag = {"nap_blocking": _fake_lag([0.1, 90.0, 0.2], [False, True, False]),
           "burn_in_thread": _fake_lag([0.1, 5.0, 5.2], [False, True, True])}
    fig = aio.plot_lag(lag, hog_ms=100, switch_ms=5)
    left, right = fig.axes[:2]
    assert left.get_yscale() == "log" and right.get_yscale() == "log"
    names = [t.get_text() for t in right.get_xticklabels()]
    assert names == [aio.LAG_LABELS["nap_blocking"], aio.LAG_LABELS["burn_in_thread"]]
    assert any("switch interval" in t.get_text() for t in left.get_legend().get_texts())
    plt.close("all")


# -- a thread or a task per request --------------------------------------------------------------

def test_thread_limits_reads_this_machine():
    lim = aio.thread_limits()
    assert set(lim) >= {"nproc_soft", "nproc_hard", "threads_max", "pids_max", "open_files_soft", "open_files_hard"}
    assert all(v is None or (isinstance(v, int) and v > 0) for k, v in lim.items() if k != "pids_current")


@pytest.mark.parametrize("limits, what", [
    ({"nproc_soft": 300}, "ulimit -u"),
    ({"threads_max": 400}, "threads-max"),
    ({"pids_max": 500, "pids_current": 100}, "pids.max"),
    ({"open_files_hard": 256}, "open-file"),
])
def test_check_threads_refuses_with_the_limit_named(limits, what):
    with pytest.raises(ValueError, match=what) as e:
        aio.check_threads(1000, limits)
    assert "at most" in str(e.value)
    aio.check_threads(10, limits)  # a small N fits under each


def test_check_threads_bad_n():
    with pytest.raises(TypeError):
        aio.check_threads(1.5, {})
    with pytest.raises(ValueError):
        aio.check_threads(aio.MAX_COST_REQUESTS + 1, {})


def test_threads_that_fit_says_why_it_leaves_one_out(monkeypatch, capsys):
    monkeypatch.setattr(aio, "thread_limits", lambda: {"nproc_soft": 264})
    assert aio.threads_that_fit([50, 200, 500]) == [50, 200]
    assert "N = 500 left out" in capsys.readouterr().out


def test_inflight_cost_both_styles_hold_every_request(slow_service):
    url = slow_service.url("/io", ms=400)
    n = 100  # enough that the memory they hold shows in whole pages on every Python (20 tasks gave 0 KiB on 3.15)
    for style in aio.COST_STYLES:
        r = aio.inflight_cost(url, n, style, latency_s=0.4)
        assert r["style"] == style and r["n"] == n and r["errors"] == 0
        assert r["in_flight_at_sample"] == n, r          # all started, none answered, at the sample
        assert r["t_sample_s"] < 0.4 and r["wall_s"] >= 0.39
        assert r["uss_kib_per_request"] > 0 and r["cpu_ms_per_request"] > 0
        assert r["threads_at_sample"] == (n + 1 if style == "threads" else 1)
        assert r["latencies"] == pytest.approx(r["wall_s"] / 0.4)


def test_inflight_cost_bad_arguments(monkeypatch):
    with pytest.raises(ValueError):
        aio.inflight_cost("http://example.com/", 1, "asyncio", latency_s=0.1)
    with pytest.raises(ValueError):
        aio.inflight_cost("http://127.0.0.1:1/", 1, "greenlets", latency_s=0.1)
    monkeypatch.setattr(aio, "thread_limits", lambda: {"nproc_soft": 70})
    with pytest.raises(ValueError, match="ulimit -u"):
        aio.inflight_cost("http://127.0.0.1:1/", 100, "threads", latency_s=0.1)


def test_probe_prints_one_json_line(slow_service):
    spec = {"style": "asyncio", "url": slow_service.url("/io", ms=100), "n": 3, "latency_s": 0.1}
    out = subprocess.run([sys.executable, "-m", "helpers.lessons.inflight_probe"], input=json.dumps(spec),
                         capture_output=True, text=True, timeout=60)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert rec["n"] == 3 and rec["style"] == "asyncio" and rec["uss_peak"] >= rec["uss_base"] - 2**20


def test_cost_rounds_alternate_and_record_limits(slow_service, monkeypatch):
    calls = []

    def fake(url, n, style, *, latency_s, timeout_s=30.0):
        calls.append(style)
        per = 60.0 if style == "threads" else 12.0
        return {"n": n, "wall_s": latency_s, "latencies": 1.0, "cpu_s": 0.01, "cpu_ms_per_request": per / 60,
                "uss_kib_per_request": per, "rss_kib_per_request": per, "in_flight_at_sample": n,
                "threads_at_sample": n + 1, "last_start_s": 0.01, "errors": 0, "stack_size": 0}

    monkeypatch.setattr(aio, "inflight_cost", fake)
    df = aio.cost_rounds(slow_service.url("/io", ms=10), [5], latency_s=0.01, repeats=3)
    assert calls == ["threads", "asyncio", "asyncio", "threads", "threads", "asyncio"]
    assert len(df) == 6 and set(df["label"]) == set(aio.COST_LABELS.values())
    assert df.attrs["limits"]["latency_s"] == 0.01 and "nproc_soft" in df.attrs["limits"]
    assert aio.cost_decision(df)["outcome"] == "holds"


def _costs(thread_mem, async_mem, thread_cpu, async_cpu, errors=0, n=100):
    rows = []
    for k, (tm, am, tc, ac) in enumerate(zip(thread_mem, async_mem, thread_cpu, async_cpu)):
        rows.append({"style": "threads", "n": n, "round": k, "uss_kib_per_request": tm, "cpu_ms_per_request": tc,
                     "in_flight_at_sample": n - 3, "errors": errors})
        rows.append({"style": "asyncio", "n": n, "round": k, "uss_kib_per_request": am, "cpu_ms_per_request": ac,
                     "in_flight_at_sample": n, "errors": 0})
    rows.append({"style": "threads", "n": 10, "round": 0, "uss_kib_per_request": 1.0, "cpu_ms_per_request": 1.0,
                 "in_flight_at_sample": 10, "errors": 0})  # a smaller N is not judged
    return pd.DataFrame(rows)


def test_cost_decision_median_round_margin():
    d = aio.cost_decision(_costs([60, 55, 70], [12, 13, 12.5], [1.0, 1.1, 0.9], [0.2, 0.21, 0.19]))
    assert d["n"] == 100 and d["outcome"] == "holds"
    assert d["mem_margin"] == pytest.approx(5.0) and d["mem_min"] == pytest.approx(55 / 13)
    assert d["cpu_margin"] == pytest.approx(5.0) and d["mem_spread"] == pytest.approx(70 / 55)
    assert d["threads_held"] == 97 and d["asyncio_held"] == 100


def test_cost_decision_one_disturbed_round_does_not_move_it():
    # round 1's task run was slowed threefold by a busy spell: its round's ratio falls, the median does not
    d = aio.cost_decision(_costs([60, 60, 60], [12, 12, 12], [1.0, 1.0, 1.0], [0.2, 0.6, 0.2]))
    assert d["cpu_min"] == pytest.approx(1 / 0.6) and d["cpu_margin"] == pytest.approx(5.0)
    assert d["cpu_spread"] == pytest.approx(3.0) and d["outcome"] == "holds"
    # but a steady ratio under the threshold is not "much cheaper"
    assert aio.cost_decision(_costs([30, 30], [20, 20], [1, 1], [0.2, 0.2]))["outcome"] == "inconclusive"


def test_cost_decision_other_outcomes():
    assert aio.cost_decision(_costs([10, 11], [12, 12], [1, 1], [0.2, 0.2]))["outcome"] == "does not hold"
    assert aio.cost_decision(_costs([60, 60], [12, 12], [1, 1], [0.2, 0.2], errors=1))["outcome"] == "inconclusive"
    with pytest.raises(ValueError, match="cost_rounds"):
        aio.cost_decision(pd.DataFrame({"style": ["threads"]}))


def test_plot_costs_three_panels():
    import matplotlib.pyplot as plt

    df = _costs([60, 55], [12, 13], [1.0, 1.1], [0.2, 0.21]).assign(latencies=1.1)
    fig = aio.plot_costs(df)
    assert len(fig.axes) == 3
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == list(aio.COST_LABELS.values())
    plt.close("all")
