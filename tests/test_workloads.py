import concurrent.futures as cf
import multiprocessing as mp
import os
import pickle

import pytest

from helpers.core import workloads


def test_spin_is_deterministic_and_checks_input():
    assert workloads.spin(1000) == workloads.spin(1000)
    assert workloads.spin(0) == 0
    with pytest.raises(TypeError):
        workloads.spin(1.5)
    with pytest.raises(ValueError):
        workloads.spin(-1)


def test_calibration_is_cached_in_the_environment(monkeypatch):
    monkeypatch.delenv(workloads.RATE_ENV, raising=False)
    rate = workloads.calibrate(repeats=2, probe_iterations=20_000)
    assert rate > 0
    assert float(os.environ[workloads.RATE_ENV]) == pytest.approx(rate, rel=1e-3)
    monkeypatch.setenv(workloads.RATE_ENV, "1234.5")
    assert workloads.calibrate() == 1234.5
    assert workloads.iterations_for(2) == 2469


def test_burn_cpu_uses_cpu_and_wait_io_does_not():
    cpu = workloads.burn_cpu(30)
    io = workloads.wait_io(30)
    assert cpu["kind"] == "cpu" and io["kind"] == "io"
    assert cpu["cpu_s"] > 0.5 * (cpu["end"] - cpu["start"])  # busy most of its time
    assert io["cpu_s"] < 0.2 * (io["end"] - io["start"])  # idle most of its time
    assert io["end"] - io["start"] >= 0.029
    for rec in (cpu, io):
        assert rec["pid"] == os.getpid() and set(rec) >= {"thread", "start", "end", "cpu_s"}


@pytest.mark.parametrize("bad", [-1, 60_001, "10", None, True])
def test_bad_milliseconds_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        workloads.wait_io(bad)
    with pytest.raises((TypeError, ValueError)):
        workloads.burn_cpu(bad)


@pytest.mark.parametrize("method", [m for m in ("fork", "spawn", "forkserver") if m in mp.get_all_start_methods()])
def test_tasks_run_in_process_pools_under_every_start_method(method):
    for fn in (workloads.burn_iterations, workloads.wait_io, workloads.burn_cpu):
        pickle.dumps(fn)
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
        recs = list(pool.map(workloads.burn_iterations, [1000, 1000]))
        recs.append(pool.submit(workloads.wait_io, 5).result(timeout=30))
        recs.append(pool.submit(workloads.burn_cpu, 5).result(timeout=30))
    assert all(r["pid"] != os.getpid() for r in recs)


def test_await_io_gives_back_the_loop():
    import asyncio
    import time

    async def many():
        return await asyncio.gather(*(workloads.await_io(50) for _ in range(20)))

    t0 = time.perf_counter()
    recs = asyncio.run(many())
    assert time.perf_counter() - t0 < 0.5  # 20 waits of 50 ms overlap
    assert {r["kind"] for r in recs} == {"io"}
