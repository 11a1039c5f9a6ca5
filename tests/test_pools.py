import os
import pickle
import sys
import time

import pytest

from helpers.core import workloads
from helpers.lessons import pools
from helpers.core.executors import BrokenProcessPool


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"mode": "process", "workers": 2}, "explicit start method"),
        ({"mode": "sequential", "workers": 2}, "one worker"),
        ({"mode": "thread", "workers": 2, "method": "spawn"}, "only applies"),
        ({"mode": "greenlet", "workers": 2}, "mode must be"),
        ({"mode": "thread", "workers": 0}, "workers"),
        ({"mode": "thread", "workers": 2, "repeats": 0}, "repeats"),
    ],
)
def test_bad_arguments_start_nothing(kwargs, err, no_leftovers):
    with pytest.raises(ValueError, match=err):
        pools.run_tasks(workloads.burn_iterations, [100], **kwargs)


def test_sequential_and_thread_runs_record_the_pool():
    seq = pools.run_tasks(workloads.burn_iterations, [2000] * 3, mode="sequential", repeats=2)
    assert len(seq) == 6 and set(seq["rep"]) == {0, 1} and (seq["pid"] == os.getpid()).all()
    assert set(seq["worker"]) == {0} and (seq["workers"] == 1).all()
    thr = pools.run_tasks(workloads.wait_io, [50] * 4, mode="thread", workers=4)
    assert set(thr["worker"]) == {0, 1, 2, 3} and (thr["mode"] == "thread").all()
    assert thr.attrs["workers"] == 4 and thr.attrs["start_method"] is None
    # four 50 ms waits on four threads overlap: about one wait, not four
    assert thr["run_s"].iloc[0] < 0.15
    for col in ("task", "start", "end", "cpu_s", "t_submit", "queued_s", "task_wall_s", "run_s"):
        assert col in thr.columns


def test_process_run_uses_other_processes_and_cleans_up(no_leftovers):
    df = pools.run_tasks(workloads.wait_io, [100] * 4, mode="process", workers=2, method="spawn")
    assert (df["pid"] != os.getpid()).all() and df["pid"].nunique() == 2  # each 100 ms wait holds a worker
    assert (df["start_method"] == "spawn").all() and df.attrs["warmup_s"] > 0


def test_run_one_returns_and_times_out(no_leftovers):
    assert pools.run_one(workloads.spin, 1000, method="spawn", timeout_s=30) == workloads.spin(1000)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="within 1 s"):
        pools.run_one(workloads.wait_io, 20_000, method="spawn", timeout_s=1)
    assert time.monotonic() - t0 < 10


def test_a_main_module_function_breaks_a_spawn_pool_without_hanging(no_leftovers):
    """The notebook's taught error: the worker cannot import a function that lives in __main__."""
    def square(x):
        return x * x

    square.__module__, square.__qualname__ = "__main__", "course_test_square"
    main = sys.modules["__main__"]
    setattr(main, "course_test_square", square)  # so the parent can pickle it by name, as a kernel can
    try:
        t0 = time.monotonic()
        with pytest.raises((BrokenProcessPool, AttributeError, pickle.PicklingError)):
            pools.run_one(square, 3, method="spawn", timeout_s=30)
        assert time.monotonic() - t0 < 30
    finally:
        delattr(main, "course_test_square")


def test_run_requests_the_fifth_waits_a_round(slow_service):
    df = pools.run_requests(slow_service.url("/io", ms=150), 5, 4)
    assert len(df) == 5 and df["error"].isna().all() and (df["status"] == 200).all()
    assert df["worker"].nunique() == 4 and (df["workers"] == 4).all()
    assert df["t_send"].iloc[:4].max() < 0.1
    assert df["queued_s"].iloc[4] > 0.1 and df["t_send"].iloc[4] >= df["t_done"].iloc[:4].min() - 1e-3
    assert df.attrs["http_client"].startswith("requests")


def test_io_sweep_follows_rounds(slow_service):
    df = pools.io_sweep(slow_service.url("/io", ms=60), 4, [1, 4])
    assert list(df["workers"]) == [1, 4] and (df["errors"] == 0).all()
    assert df["run_s"].iloc[0] > 3 * df["run_s"].iloc[1]
    twice = pools.io_sweep(slow_service.url("/io", ms=20), 2, [2], repeats=2)
    assert twice["repeats"].tolist() == [2] and twice["run_s"].iloc[0] <= twice["run_s_median"].iloc[0]
    with pytest.raises(ValueError):
        pools.io_sweep(slow_service.url("/io", ms=20), 2, [2], repeats=0)


def test_cpu_sweep_and_speedups(no_leftovers):
    df = pools.cpu_sweep(3000, 4, [1, 2], method="spawn", repeats=2)
    sp = pools.speedups(df, cores=2)
    assert list(zip(sp["mode"], sp["workers"])) == [("sequential", 1), ("thread", 1), ("thread", 2),
                                                    ("process", 1), ("process", 2)]
    assert sp.loc[0, "speedup"] == pytest.approx(1.0)
    assert list(sp["ideal"]) == [1.0, 1.0, 2.0, 1.0, 2.0]
    assert (sp["task_cpu_ms"] > 0).all() and (sp["run_s"] <= sp["run_s_median"]).all()
    assert set(df["rep"]) == {0, 1}
    with pytest.raises(ValueError, match="sequential"):
        pools.speedups(df[df["mode"] != "sequential"])


def test_mixed_pool_scenarios(slow_service, no_leftovers):
    df = pools.mixed_pool(slow_service.url("/io", ms=20), rounds=1, io_clients=2, requests_per_client=2,
                          cpu_workers=1, chunk_iterations=5000, method="spawn")
    assert len(df) == 3 * 2 * 2 and df["error"].isna().all()
    assert list(dict.fromkeys(df["scenario"])) == list(pools.SCENARIOS)
    assert (df.loc[df["scenario"] == "I/O alone", "cpu_chunks"] == 0).all()
    assert (df.loc[df["scenario"] != "I/O alone", "cpu_chunks"] > 0).all()
    assert df.attrs["thread_pool_workers_same_pool"] == 3 and df.attrs["start_method"] == "spawn"


def test_mixed_pool_and_requests_refuse_bad_input():
    with pytest.raises(ValueError, match="scenarios"):
        pools.mixed_pool("http://127.0.0.1:1/", scenarios=["CPU in a greenlet"])
    with pytest.raises(ValueError, match="this machine"):
        pools.run_requests("http://example.com/", 1, 1)
    with pytest.raises(ValueError, match="n must"):
        pools.run_requests("http://127.0.0.1:1/", 0, 1)


def test_gil_handover_diagram_draws_two_lanes_and_the_switch_interval():
    import sys

    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    ax = pools.gil_handover_diagram(slices=3)
    texts = [t.get_text() for t in ax.texts]
    assert "thread A" in texts and "thread B" in texts
    assert f"{sys.getswitchinterval() * 1000:g} ms" in ax.get_title(loc="left")
    assert sum("runs Python" in t for t in texts) == 3          # one thread runs per slice
    plt.close(ax.figure)


# -- the same work handed between threads (C11) ------------------------------
def test_spin_range_is_spin_and_can_be_cut_anywhere():
    assert pools.spin_range(0, 5000) == workloads.spin(5000)
    assert pools.spin_range(1234, 5000, pools.spin_range(0, 1234)) == pools.spin_range(0, 5000)


@pytest.mark.parametrize("switches", [0, 1, 7, 200])
def test_relay_does_the_same_work_however_it_is_cut(switches):
    import threading

    rec = pools.relay(10_000, switches)
    assert rec["checksum"] == pools.spin_range(0, 10_000)
    assert rec["wall_s"] > 0 and rec["cpu_s"] >= 0
    if sys.platform.startswith("linux"):               # every hand-over blocks one thread: one OS switch at least
        assert rec["os_switches"] >= switches
    assert not [t for t in threading.enumerate() if t.name.startswith("relay-")]   # both threads ended


def test_relay_switches_alone_cost_time_and_pinning_works_where_the_os_can():
    few, many = pools.relay(0, 10), pools.relay(0, 5000)
    assert many["wall_s"] > few["wall_s"]               # 5,000 hand-overs take longer than 10
    cpu = pools.pin_cpu()
    if cpu is None:
        with pytest.raises(RuntimeError, match="cannot pin"):
            pools.relay(100, 2, cpu=0)
    else:
        assert cpu in os.sched_getaffinity(0)
        assert pools.relay(1000, 4, cpu=cpu)["checksum"] == pools.spin_range(0, 1000)
        assert os.sched_getaffinity(0) != {cpu} or len(os.sched_getaffinity(0)) == 1  # the caller stays unpinned


@pytest.mark.parametrize("kwargs, err", [({"iterations": -1, "switches": 1}, "iterations"),
                                         ({"iterations": 10, "switches": -1}, "switches"),
                                         ({"iterations": 10, "switches": True}, "switches")])
def test_relay_refuses_bad_input(kwargs, err):
    with pytest.raises(ValueError, match=err):
        pools.relay(**kwargs)


def test_switch_sweep_and_overhead_on_a_small_run():
    sweep = pools.switch_sweep(20_000, [10, 1000], repeats=2, probe_switches=500)
    assert set(sweep["what"]) == {"work", "switches only"}
    assert sorted(sweep.loc[sweep["what"] == "work", "switches"].unique()) == [0, 10, 1000]
    assert len(sweep) == 2 * 4 and (sweep.loc[sweep["what"] == "switches only", "us_per_switch"] > 0).all()
    assert "pinned_cpu" in sweep.attrs
    over = pools.switch_overhead(sweep)
    assert list(over["switches"]) == [10, 1000]
    assert over.attrs["us_per_switch"] > 0
    assert over["model_ms"].iloc[1] == pytest.approx(100 * over["model_ms"].iloc[0])
    with pytest.raises(ValueError, match="switches"):
        pools.switch_sweep(1000, [0, 10])


def test_switch_overhead_reads_a_known_table():
    import pandas as pd

    rows = []
    for r, plain in enumerate([0.100, 0.102, 0.104]):          # the one-piece runs: a 4 ms spread
        rows += [{"repeat": r, "what": "work", "switches": 0, "wall_s": plain},
                 {"repeat": r, "what": "work", "switches": 100, "wall_s": plain + 0.001},      # +1 ms: hidden
                 {"repeat": r, "what": "work", "switches": 10_000, "wall_s": plain + 0.050},   # +50 ms
                 {"repeat": r, "what": "switches only", "switches": 1000, "wall_s": 0.005}]    # 5 us a switch
    over = pools.switch_overhead(pd.DataFrame(rows)).set_index("switches")
    assert over.attrs["us_per_switch"] == pytest.approx(5.0)
    assert over.loc[100, "extra_ms"] == pytest.approx(1.0)
    assert over.loc[100, "noise_ms"] == pytest.approx(4.0)
    assert not over.loc[100, "told_apart"] and over.loc[100, "only_switching"] and over.loc[100, "hidden"]
    assert over.loc[10_000, "model_ms"] == pytest.approx(50.0) and over.loc[10_000, "model_ratio"] == pytest.approx(1.0)
    assert over.loc[10_000, "told_apart"] and over.loc[10_000, "only_switching"] and not over.loc[10_000, "hidden"]
    slower = [dict(r, wall_s=r["wall_s"] + 0.020) if r["switches"] == 10_000 else r for r in rows]  # 20 ms unexplained
    assert not pools.switch_overhead(pd.DataFrame(slower)).set_index("switches").loc[10_000, "only_switching"]
    with pytest.raises(ValueError, match="switches-only"):
        pools.switch_overhead(pd.DataFrame(rows[:3]))
    with pytest.raises(ValueError, match="wall_s"):
        pools.switch_overhead(pd.DataFrame([{"repeat": 0, "what": "work", "switches": 0}]))


def test_plot_switch_overhead_draws_the_model_and_the_measurements():
    import matplotlib
    import matplotlib.pyplot as plt
    import pandas as pd

    matplotlib.use("Agg")
    rows = [{"repeat": r, "what": w, "switches": k, "wall_s": t} for r in range(2) for w, k, t in
            (("work", 0, 0.1 + r * 0.001), ("work", 100, 0.1005), ("work", 10_000, 0.15),
             ("switches only", 1000, 0.005))]
    ax = pools.plot_switch_overhead(pools.switch_overhead(pd.DataFrame(rows)), title="t")
    labels = ax.get_legend_handles_labels()[1]
    assert any(lbl.startswith("model") for lbl in labels) and any(lbl.startswith("measured") for lbl in labels)
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="switch_overhead"):
        pools.plot_switch_overhead(pd.DataFrame({"x": [1]}))


def test_first_tasks_sets_each_workers_first_task_beside_the_later_ones():
    import pandas as pd

    rows = []
    for pid in (1, 2):                                       # two workers, a slow first task each
        for n, cpu in enumerate([0.030, 0.010, 0.010, 0.012]):
            rows.append({"mode": "process", "workers": 2, "pid": pid, "thread": 7, "start": n + pid / 10,
                         "cpu_s": cpu})
    out = pools.first_tasks(pd.DataFrame(rows)).iloc[0]
    assert out["first_cpu_ms"] == pytest.approx(30.0) and out["later_cpu_ms"] == pytest.approx(10.0)
    assert out["first_over_later"] == pytest.approx(3.0) and out["tasks"] == 8
    with pytest.raises(ValueError, match="cpu_s"):
        pools.first_tasks(pd.DataFrame({"mode": ["x"]}))


def test_gil_releases_counts_the_calls_of_one_request(slow_service):
    got = pools.gil_releases(slow_service.url("/io", ms=5), requests=3)
    assert got["requests"] == 3
    assert got["handovers"] == pytest.approx(sum(got["calls"].values())) and got["handovers"] >= 2
    assert set(got["calls"]) <= set(pools.GIL_RELEASING)
    assert any(name.startswith("socket.send") for name in got["calls"])     # it sent the request...
    assert any(name.startswith("socket.recv") for name in got["calls"])     # ...and read the answer
    with pytest.raises(ValueError):
        pools.gil_releases("http://example.com/")
    with pytest.raises(ValueError, match="requests"):
        pools.gil_releases(slow_service.url("/io", ms=5), requests=0)
