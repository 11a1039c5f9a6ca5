import sys

import psutil
import pytest

from helpers import load, sync_server
from helpers.wsgi_app import UPSTREAM_ENV, app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs fork")


def family_gone(pids, within_s=10.0) -> bool:
    import time

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_every_worker_ready_loopback_only_and_all_stopped(slow_service):
    with sync_server.Gunicorn(workers=3, upstream=slow_service.base_url, key="t-gunicorn") as srv:
        workers = srv.worker_pids()
        assert len(workers) == 3
        listening = [c.laddr for c in psutil.Process(srv.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert listening and all(a.ip == "127.0.0.1" for a in listening) and listening[0].port == srv.port
        df = load.run_load(srv.url("/io", ms=50), requests=6, concurrency=3)
        assert df["error"].isna().all() and set(df["server_pid"]) <= set(workers)
        mem = srv.memory()
        assert list(mem["role"]) == ["master"] + ["worker"] * 3
        assert (mem["uss_mb"] > 0).all() and (mem["rss_mb"] >= mem["uss_mb"]).all()
        assert srv.limits["concurrent_requests_max"] == 3
        family = [srv.pid] + workers
    assert family_gone(family)


def test_stopped_after_an_exception(slow_service):
    with pytest.raises(RuntimeError, match="boom"):
        with sync_server.Gunicorn(workers=2, key="t-gunicorn-exc") as srv:
            family = [srv.pid] + srv.worker_pids()
            raise RuntimeError("boom")
    assert family_gone(family)


def test_gthread_serves_several_requests_per_worker(slow_service):
    with sync_server.Gunicorn(workers=1, worker_class="gthread", threads=4,
                              upstream=slow_service.base_url, key="t-gthread") as srv:
        df = load.run_load(srv.url("/io", ms=150), requests=4, concurrency=4)
    assert df["server_pid"].nunique() == 1
    assert df["t_done"].max() < 0.45  # four at once, not four rounds


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(workers=0), "workers"),
        (dict(workers=2, worker_class="eventlet"), "worker_class"),
        (dict(threads=4), "gthread"),
        (dict(upstream="http://10.0.0.1:80"), "loopback"),
        (dict(backlog=True), "backlog"),
    ],
)
def test_bad_arguments_start_nothing(kwargs, match):
    before = set(psutil.Process().children())
    with pytest.raises(ValueError, match=match):
        sync_server.Gunicorn(**kwargs)
    assert set(psutil.Process().children()) == before


def test_worker_sweep_rows(slow_service):
    grid = sync_server.worker_sweep([{"workers": 2}], lambda cfg: [1, 4], ms=20,
                                    upstream=slow_service.base_url, requests_per_client=2, progress=False)
    assert list(grid["clients"]) == [1, 4] and (grid["errors"] == 0).all()
    assert grid["throughput_rps"].iloc[1] > grid["throughput_rps"].iloc[0]
    assert grid.attrs["limits"][0]["workers"] == 2
    with pytest.raises(ValueError):
        sync_server.worker_sweep([], lambda cfg: [1])


def test_app_validates_and_explains(monkeypatch):
    client = app.test_client()
    r = client.get("/cpu?ms=abc")
    assert r.status_code == 400 and "milliseconds" in r.get_json()["error"]
    monkeypatch.delenv(UPSTREAM_ENV, raising=False)
    r = client.get("/io?ms=1")
    assert r.status_code == 503 and UPSTREAM_ENV in r.get_json()["error"]
    r = client.get("/cpu?ms=5")
    assert r.status_code == 200 and r.get_json()["cpu_ms"] == 5


def test_servers_exit_when_the_process_that_started_them_dies():
    """A crashed kernel (killed without any cleanup) leaves no server behind."""
    import subprocess

    code = (
        "import os\n"
        "from helpers import services, sync_server\n"
        "svc = services.SlowService(key='t-orphan'); svc.start()\n"
        "g = sync_server.Gunicorn(workers=2, upstream=svc.base_url, key='t-orphan-g'); g.start()\n"
        "print(svc.pid, g.pid, *g.worker_pids(), flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 4, out.stderr
    assert family_gone(pids, within_s=15)
