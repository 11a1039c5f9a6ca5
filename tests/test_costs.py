import pandas as pd
import psutil
import pytest

from helpers.core.procs import live_children
from helpers.lessons import costs


def test_thread_cost_measures_a_fresh_interpreter():
    df = costs.thread_cost(40)
    assert list(df["kind"]) == ["bare interpreter", "thread"]
    bare, thread = df.iloc[0], df.iloc[1]
    assert bare["uss_mb_per_worker"] > 1 and bare["rss_mb_per_worker"] >= bare["uss_mb_per_worker"]
    # a thread costs a few pages of stack and state: well under a megabyte, but not nothing
    assert 0 < thread["uss_mb_per_worker"] < 1
    assert 0 < thread["start_ms_per_worker"] < 50
    assert thread["workers"] == 40 and df.attrs["threads"] == 40


def test_process_cost_measures_each_worker_and_cleans_up():
    before = live_children()
    df = costs.process_cost(2, "spawn")
    assert len(df) == 2 and df["pid"].nunique() == 2 and (df["kind"] == "process (spawn)").all()
    assert (df["uss_mb"] > 1).all() and (df["rss_mb"] >= df["uss_mb"]).all()
    assert (df["start_ms"] > 0).all()
    assert df.attrs == {"workers": 2, "start_method": "spawn"}
    assert not any(psutil.pid_exists(p) and p in live_children() for p in df["pid"])
    assert live_children() <= before


def test_per_worker_and_scale_up_arithmetic():
    th = pd.DataFrame([
        {"kind": "bare interpreter", "workers": 1, "start_ms_per_worker": float("nan"),
         "rss_mb_per_worker": 13.0, "uss_mb_per_worker": 7.0},
        {"kind": "thread", "workers": 100, "start_ms_per_worker": 0.1, "rss_mb_per_worker": 0.02,
         "uss_mb_per_worker": 0.02},
    ])
    pr = pd.DataFrame({"kind": ["process (spawn)"] * 3, "pid": [1, 2, 3], "start_ms": [200.0, 300.0, 250.0],
                       "rss_mb": [20.0, 22.0, 21.0], "uss_mb": [10.0, 12.0, 11.0]})
    per = costs.per_worker(th, pr)
    assert list(per["kind"]) == ["thread", "process (spawn)"]
    assert per.iloc[1]["uss_mb_per_worker"] == 11.0 and per.iloc[1]["start_ms_per_worker"] == 250.0
    up = costs.scale_up(per, (100, 1000))
    proc = up[up["kind"] == "process (spawn)"].set_index("workers")
    assert proc.loc[1000, "memory_mb"] == pytest.approx(11_000.0)
    assert proc.loc[100, "start_s"] == pytest.approx(25.0)
    total_mb = psutil.virtual_memory().total / 2**20
    assert proc.loc[100, "share_of_ram"] == pytest.approx(1100.0 / total_mb)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, costs.MAX_THREADS + 1])
def test_thread_cost_refuses_bad_counts(bad):
    with pytest.raises(ValueError, match="threads"):
        costs.thread_cost(bad)


def test_process_cost_refuses_bad_input():
    before = live_children()
    with pytest.raises(ValueError, match="start method"):
        costs.process_cost(1, "vfork")
    with pytest.raises((TypeError, ValueError)):
        costs.process_cost(0, "spawn")
    with pytest.raises(ValueError, match="from process_cost"):
        costs.per_worker(costs.thread_cost(5), pd.DataFrame({"kind": ["x"]}))
    assert live_children() <= before
