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
