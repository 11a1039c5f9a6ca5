import asyncio
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from helpers.core import procs, workloads
from helpers.lessons import aio, nested_demo


def run(coro):
    return asyncio.run(coro)


# -- traced tasks -----------------------------------------------------------------

def test_trace_one_task_at_a_time_and_states():
    plan = {"A": [(10, 20), (10, 0)], "B": [(10, 20), (5, 0)]}
    tr = run(aio.trace_tasks(plan))
    assert set(tr["task"]) == {"A", "B"}
    assert set(tr["state"]) <= set(aio.STATES)
    assert aio.running_overlaps(tr) == 0
    assert len(tr[tr["state"] == "running"]) == 4
    waits = tr[tr["state"] == "awaiting"]
    assert ((waits["duration_ms"] - 20).abs() < 1.5).all()
    assert (tr["end_s"] >= tr["start_s"]).all()


def test_running_overlaps_counts_an_overlap():
    df = pd.DataFrame({"state": ["running", "running"], "start_s": [0.0, 0.5], "end_s": [1.0, 1.5]})
    assert aio.running_overlaps(df) == 1


@pytest.mark.parametrize("plan", [{}, {"A": []}, {"A": [(1,)]}, {"A": [(-1, 0)]}, {"": [(1, 1)]}, [("A", 1)]])
def test_trace_bad_plans(plan):
    with pytest.raises((ValueError, TypeError)):
        run(aio.trace_tasks(plan))


def test_plot_trace_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = run(aio.trace_tasks({"A": [(5, 10)], "B": [(5, 10)]}))
    ax = aio.plot_trace(tr, title="t")
    assert ax.get_title() == "t"
    plt.close("all")


# -- heartbeat and lag --------------------------------------------------------------

async def _blocking(ms):
    time.sleep(ms / 1000)


async def _polite(ms):
    await asyncio.sleep(ms / 1000)


def test_lag_sees_a_blocking_step_and_not_an_await():
    async def main():
        bad = await aio.measure_lag(_blocking(150), interval_ms=5)
        good = await aio.measure_lag(_polite(150), interval_ms=5)
        return bad, good, aio.leftover_tasks()

    bad, good, left = run(main())
    assert bad.loc[bad["during_job"], "lag_ms"].max() >= 120
    assert good["lag_ms"].max() < 60
    assert bad.attrs["job_s"] >= 0.14 and list(bad.columns) == ["beat", "t_s", "lag_ms", "during_job"]
    assert left == []


def test_heartbeat_is_stopped_on_error():
    async def main():
        hb = aio.Heartbeat(5)
        with pytest.raises(KeyError):
            async with hb:
                await asyncio.sleep(0.02)
                raise KeyError("boom")
        return hb, aio.leftover_tasks()

    hb, left = run(main())
    assert left == [] and hb._task.done() and len(hb.frame()) >= 1


def test_measure_lag_ends_its_job_on_error():
    async def failing():
        await asyncio.sleep(0.01)
        raise ZeroDivisionError

    async def main():
        with pytest.raises(ZeroDivisionError):
            await aio.measure_lag(failing())
        return aio.leftover_tasks()

    assert run(main()) == []


def test_measure_lag_ends_everything_when_cancelled():
    async def main():
        t = asyncio.get_running_loop().create_task(aio.measure_lag(_polite(5000)))
        await asyncio.sleep(0.1)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return aio.leftover_tasks()

    assert run(main()) == []


def test_measure_lag_bad_arguments():
    with pytest.raises(TypeError, match="coroutine"):
        run(aio.measure_lag(_polite))  # the function, not a coroutine

    async def main():
        with pytest.raises(ValueError, match="interval_ms"):
            await aio.measure_lag(_polite(1), interval_ms=0)

    run(main())  # no "never awaited" warning: the coroutine was closed


def test_debug_mode_names_the_slow_task_and_restores_everything():
    import logging

    async def main():
        loop = asyncio.get_running_loop()
        before = (loop.get_debug(), loop.slow_callback_duration, logging.getLogger("asyncio").propagate)
        with aio.debug_mode(slow_callback_ms=50) as dbg:
            await loop.create_task(_blocking(120), name="hog")
            await loop.create_task(_polite(120), name="polite")
        after = (loop.get_debug(), loop.slow_callback_duration, logging.getLogger("asyncio").propagate)
        return dbg.slow_steps(), before, after

    slow, before, after = run(main())
    assert "hog" in set(slow["task"]) and "polite" not in set(slow["task"])
    assert (slow.loc[slow["task"] == "hog", "took_s"] >= 0.1).all()
    assert before == after


def test_debug_mode_needs_a_running_loop_and_a_sane_threshold():
    with pytest.raises(RuntimeError):
        with aio.debug_mode():
            pass
    with pytest.raises(ValueError):
        aio.debug_mode(slow_callback_ms=0)


# -- many requests --------------------------------------------------------------------

def test_default_limit_is_read_from_aiohttp():
    assert aio.aiohttp_default_limit() == 100


def test_fetch_many_all_at_once(slow_service):
    df = run(aio.fetch_many(slow_service.url("/io", ms=200), 40, connection_limit=40))
    assert len(df) == 40 and df["error"].isna().all()
    assert sorted(df["request"]) == list(range(40))
    assert df.attrs["wall_s"] < 0.2 * 4  # far from 40 in a row
    assert aio.peak_in_flight(df) == 40
    lim = df.attrs["limits"]
    assert lim["connection_limit"] == 40 and lim["limit_per_host"] == 40


def test_fetch_many_connection_limit_bites(slow_service):
    df = run(aio.fetch_many(slow_service.url("/io", ms=100), 12, connection_limit=4))
    assert aio.peak_in_flight(df) <= 4
    assert df.attrs["wall_s"] >= 0.29  # three rounds of 100 ms
    assert df.attrs["limits"]["connection_limit"] == 4


def test_fetch_many_threads(slow_service):
    df = aio.fetch_many_threads(slow_service.url("/io", ms=100), 6, threads=3)
    assert len(df) == 6 and df["error"].isna().all()
    assert 0.19 <= df.attrs["wall_s"] < 1.0
    assert aio.peak_in_flight(df) <= 3 and df.attrs["limits"]["threads"] == 3


def test_fetch_many_errors_become_rows():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    df = run(aio.fetch_many(f"http://127.0.0.1:{port}/io", 3, connection_limit=3, timeout_s=2))
    assert len(df) == 3 and df["error"].notna().all()


@pytest.mark.parametrize(
    "url, kwargs, exc",
    [
        ("http://example.com/", dict(n=1, connection_limit=1), ValueError),
        ("http://127.0.0.1:1/", dict(n=0, connection_limit=1), ValueError),
        ("http://127.0.0.1:1/", dict(n=1, connection_limit=0), ValueError),
        ("http://127.0.0.1:1/", dict(n=1.5, connection_limit=1), TypeError),
        ("http://127.0.0.1:1/", dict(n=1, connection_limit=1, timeout_s=0), ValueError),
    ],
)
def test_fetch_many_bad_arguments(url, kwargs, exc):
    with pytest.raises(exc):
        run(aio.fetch_many(url, **kwargs))


def test_peak_in_flight():
    df = pd.DataFrame({"server_start": [0.0, 0.5, 1.0, None], "server_end": [1.0, 1.5, 2.0, None]})
    assert aio.peak_in_flight(df) == 2  # touching intervals do not overlap
    with pytest.raises(ValueError):
        aio.peak_in_flight(df, start="nope")


# -- the database -----------------------------------------------------------------------

@pytest.mark.parametrize("k", [5, 20])
def test_database_caps_concurrency_as_modelled(k):
    from helpers.core import models

    df = run(aio.serve_through_db(40, max_connections=k, query_ms=20))
    assert df.attrs["limits"] == {"max_connections": k, "max_in_use": k}
    model = models.batch_time(40, k, 0.020)
    assert 0.95 * model <= df.attrs["wall_s"] < 1.5 * model + 0.05
    assert (df["wait_s"] >= 0).all() and len(df) == 40


def test_database_bad_arguments():
    with pytest.raises(ValueError):
        run(aio.serve_through_db(10, max_connections=0, query_ms=10))
    with pytest.raises(ValueError):
        aio.Database(2, -1)


# -- same work, both styles -------------------------------------------------------------

def test_same_work_yields_same_checksum_and_rows():
    df = run(aio.same_work_yields(5, yields=(10, 100), repeats=2))
    assert len(df) == 10 and df["checksum"].nunique() == 1
    n = workloads.iterations_for(5)
    assert df["checksum"].iloc[0] == workloads.spin(n)
    assert list(df.drop_duplicates("style")["style"]) == ["plain function", "plain function, again", "coroutine",
                                                          "coroutine, 10 yields", "coroutine, 100 yields"]
    assert df.groupby("style")["yields"].first().to_dict()["coroutine, 100 yields"] == 100
    assert list(df[df["run"] == 1]["style"])[0] == "plain function, again"  # the order rotates round by round


def test_loop_trip_cost_is_microseconds():
    us = run(aio.loop_trip_cost_us(trips=2000, repeats=3))
    assert 0.05 < us < 200
    with pytest.raises(ValueError):
        run(aio.loop_trip_cost_us(trips=0))


def _yield_runs(extra_per_yield_us, coroutine_extra_ms=(0.0, 0.5, -0.5), plain_ms=(100.0, 100.8, 100.2)):
    rows = []
    for r, (p, c) in enumerate(zip(plain_ms, coroutine_extra_ms)):
        rows.append({"style": "plain function", "yields": 0, "run": r, "cpu_s": p / 1000})
        rows.append({"style": "coroutine", "yields": 0, "run": r, "cpu_s": (p + c) / 1000})
        for k in (100, 10_000):
            rows.append({"style": f"coroutine, {k:,} yields", "yields": k, "run": r,
                         "cpu_s": (p + k * extra_per_yield_us / 1000) / 1000})
    return pd.DataFrame(rows)


def test_yield_overhead_pairs_rounds_and_judges_against_the_spread():
    over = aio.yield_overhead(_yield_runs(2.5), trip_us=2.0)
    # round 1 ran slower for every style: the paired differences do not notice
    assert over.loc["coroutine", "extra_ms"] == pytest.approx(0.0, abs=1e-9)
    assert over.loc["coroutine", "noise_ms"] == pytest.approx(1.002)   # 1 % of the plain run > its range 0.8 ms
    wide = aio.yield_overhead(_yield_runs(2.5, plain_ms=(100.0, 130.0, 100.0)), trip_us=2.0)
    assert wide.loc["coroutine", "noise_ms"] == pytest.approx(30.0)     # a slow round widens the spread
    assert over.loc["coroutine, 10,000 yields", "extra_ms"] == pytest.approx(25.0)
    assert over.loc["coroutine, 10,000 yields", "model_ms"] == pytest.approx(20.0)
    assert over.loc["coroutine, 100 yields", "same_speed"] and not over.loc["coroutine, 10,000 yields", "same_speed"]
    assert over["matches_model"].all() and aio.c11_decision(over) == "holds"
    assert over.attrs["plain_ms"] == pytest.approx(100.2) and over.attrs["trip_us"] == 2.0


def test_yield_overhead_a_control_pair_sets_the_resolution():
    runs = _yield_runs(2.5)
    again = runs[runs["style"] == "plain function"].assign(style="plain function, again")
    again["cpu_s"] = again["cpu_s"] + 0.003          # the same function, 3 ms apart: the machine's resolution
    over = aio.yield_overhead(pd.concat([runs, again]), trip_us=2.0)
    assert "plain function, again" not in over.index
    assert over.loc["coroutine", "noise_ms"] == pytest.approx(6.0)


def test_c11_decision_other_outcomes():
    assert aio.c11_decision(aio.yield_overhead(_yield_runs(10.0), trip_us=2.0)) == "inconclusive"  # 5x the model
    slow = _yield_runs(2.0, coroutine_extra_ms=(5.0, 5.2, 5.1))    # the coroutine itself 5 % slower, steadily
    assert aio.c11_decision(aio.yield_overhead(slow, trip_us=2.0)) == "does not hold"
    with pytest.raises(ValueError, match="same_work_yields"):
        aio.yield_overhead(pd.DataFrame({"style": ["x"]}), 1.0)


def test_plot_yields_draws_model_noise_and_points():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = aio.plot_yields(aio.yield_overhead(_yield_runs(2.5), trip_us=2.0))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("model") for lbl in labels) and any("noise" in lbl for lbl in labels)
    plt.close("all")


# -- the exercise checker -----------------------------------------------------------------

def test_check_cooperative(capsys):
    async def good(ms):
        await asyncio.sleep(ms / 1000)
        return ms

    async def bad(ms):
        time.sleep(ms / 1000)
        return ms

    def plain(ms):
        return ms

    assert run(aio.check_cooperative(good, calls=5, ms=40)) is True
    assert run(aio.check_cooperative(bad, calls=5, ms=40)) is False
    assert run(aio.check_cooperative(plain)) is False
    out = capsys.readouterr().out
    assert "Correct" in out and "blocks the event loop" in out and "async def" in out


def test_leftover_tasks_outside_a_loop():
    assert aio.leftover_tasks() == []


# -- nest_asyncio, in a subprocess only ------------------------------------------------------

def test_importing_the_demo_patches_nothing():
    code = ("import asyncio; t = asyncio.Task; import helpers.lessons.nested_demo; "
            "assert asyncio.Task is t and not hasattr(asyncio, '_nest_patched'); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_nested_demo_output():
    before = set(psutil.Process().children())
    text = nested_demo.run(timeout_s=60)
    assert "RuntimeError: asyncio.run() cannot be called from a running event loop" in text
    assert "returned 'inner result'" in text
    assert "balance = 1 (expected 2): an update was lost" in text
    assert set(psutil.Process().children()) == before
    assert not hasattr(asyncio, "_nest_patched")  # this process was never touched
    assert nested_demo.run(timeout_s=60) == text  # deterministic


def test_nested_demo_timeout_and_bad_timeout(monkeypatch):
    with pytest.raises(ValueError):
        nested_demo.run(timeout_s=0)

    def slow(*a, **kw):
        raise subprocess.TimeoutExpired(cmd="x", timeout=0.01)

    monkeypatch.setattr(procs.subprocess, "run", slow)
    with pytest.raises(TimeoutError, match="did not finish"):
        nested_demo.run(timeout_s=0.01)


def test_event_loop_diagram_draws_the_queue_the_running_task_and_the_selector():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    ax = aio.draw_event_loop(4)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "ready queue" in texts and "selector" in texts and "runs until" in texts
    assert sum(f"task {i}" in texts for i in range(1, 5)) == 4
    plt.close(ax.figure)
    with pytest.raises(ValueError):
        aio.draw_event_loop(1)
