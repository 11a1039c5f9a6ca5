"""The core pools: every worker and multiprocessing helper stops; the private bits still work."""

import concurrent.futures as cf
import time

import psutil
import pytest

from helpers.core import executors, workloads


def test_start_methods_are_checked():
    assert executors.check_start_method("spawn") == "spawn"
    with pytest.raises(ValueError, match="start method"):
        executors.check_start_method("thread")
    with pytest.raises(TypeError):
        executors.check_start_method(None)


def test_process_pool_stops_a_busy_worker_after_an_exception(no_leftovers):
    t0 = time.monotonic()
    with pytest.raises(KeyError):
        with executors.process_pool(1, "spawn") as pool:
            pool.submit(workloads.wait_io, 30_000)
            time.sleep(0.5)
            raise KeyError("interrupted")
    assert time.monotonic() - t0 < 10


def test_no_multiprocessing_helper_survives_a_pool(no_leftovers):
    with executors.process_pool(1, "spawn") as pool:
        assert pool.submit(workloads.spin, 10).result(timeout=30) == workloads.spin(10)
    # the fixture checks that neither the worker nor the resource tracker is left


def test_thread_pool_cancels_pending_tasks():
    with pytest.raises(RuntimeError):
        with executors.thread_pool(1) as pool:
            first = pool.submit(workloads.wait_io, 100)
            pending = pool.submit(workloads.wait_io, 100)
            raise RuntimeError("stop")
    assert first.done() and pending.cancelled()
    assert isinstance(first, cf.Future)


def test_worker_pids_reads_the_pool_s_processes(no_leftovers):
    """The one private attribute the course reads (ProcessPoolExecutor._processes), still there."""
    with executors.process_pool(2, "spawn") as pool:
        executors.warm_up(pool, 2, wait_ms=50)
        pids = executors.worker_pids(pool)
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def test_private_stop_functions_exist():
    """stop_multiprocessing_helpers relies on the helpers' private _stop(): fail loudly if a Python drops it."""
    from multiprocessing import forkserver, resource_tracker

    assert callable(getattr(resource_tracker._resource_tracker, "_stop", None))
    assert callable(getattr(forkserver._forkserver, "_stop", None))


def test_wait_all_times_out_and_cancels():
    with executors.thread_pool(1) as pool:
        futs = [pool.submit(workloads.wait_io, 300), pool.submit(workloads.wait_io, 300)]
        with pytest.raises(TimeoutError, match="did not finish"):
            executors.wait_all(futs, 0.05, "tasks")
        assert futs[1].cancelled()
