"""One shared suite for every server of the course: the same contract, the same interface, each server once."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import psutil
import pytest

from helpers.load import run_load
from helpers.servers import WORKER_CLASSES, AiohttpServer, Gunicorn, Server, SlowService, Uvicorn, contract

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gunicorn and uvloop need Linux/macOS")


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[str, str], Server]  # (upstream base URL, key) -> server, not started
    kind: str  # what limits["server"] names
    async_loop: bool  # one event loop per process: /block and /io-thread exist
    concurrent: bool  # many requests in flight per process (async or gevent)
    upstream: bool = True  # its /io calls an upstream (not the slow service itself)
    per_process: int = 2  # requests in flight per process in the /db k=2 test
    processes: int = 1  # serving processes


CASES = [
    Case("slow-service", lambda up, key: SlowService(key=key), "slow service", True, True, upstream=False),
    Case("aiohttp-asyncio", lambda up, key: AiohttpServer(upstream=up, loop="asyncio", key=key), "aiohttp", True, True),
    Case("aiohttp-uvloop", lambda up, key: AiohttpServer(upstream=up, loop="uvloop", key=key), "aiohttp", True, True),
    Case("uvicorn", lambda up, key: Uvicorn(upstream=up, loop="uvloop", http="httptools", key=key), "uvicorn",
         True, True),
    Case("gunicorn-sync", lambda up, key: Gunicorn(workers=2, upstream=up, key=key), "gunicorn sync", False, False,
         per_process=1, processes=2),
    Case("gunicorn-gthread", lambda up, key: Gunicorn(workers=1, worker_class="gthread", threads=4, upstream=up,
                                                      key=key), "gunicorn gthread", False, False),
] + [
    Case(f"gunicorn-{wc}", lambda up, key, wc=wc: Gunicorn(workers=1, worker_class=wc, upstream=up, key=key),
         f"gunicorn {wc}", wc != "gevent", True)
    for wc in ("gevent", "aiohttp", "aiohttp-uvloop", "asgi")
]
assert {c.id.removeprefix("gunicorn-") for c in CASES} >= set(WORKER_CLASSES)


def get(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def all_at_once(urls: list[str]) -> tuple[float, list[dict]]:
    """Send every URL at once from its own thread; (wall seconds, answers)."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(urls)) as ex:
        answers = list(ex.map(get, urls))
    assert all(status == 200 for status, _ in answers), answers
    return time.perf_counter() - t0, [a for _, a in answers]


def peak_overlap(df) -> int:
    """Most requests in flight at once in one process, from the server's [start, end) intervals."""
    peak = 0
    for _, g in df.groupby("server_pid"):
        events = sorted([(s, 1) for s in g["server_start"]] + [(e, -1) for e in g["server_end"]],
                        key=lambda ev: (ev[0], ev[1]))
        now = 0
        for _, step in events:
            now += step
            peak = max(peak, now)
    return peak


def family_gone(pids, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = []
        for p in pids:
            try:
                if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="class", params=CASES, ids=[c.id for c in CASES])
def case(request):
    return request.param


@pytest.fixture(scope="class")
def srv(case, slow_service):
    server = case.make(slow_service.base_url, f"t-{case.id}")
    with server:
        family = [server.pid] + server.worker_pids()
        yield server
    assert family_gone(family), "a process of the server outlived its with-block"


class TestEveryServer:
    def test_ready_port_and_loopback_only(self, srv, case):
        assert srv.info["port"] == srv.port and srv.info["pid"] == srv.pid
        listening = [c.laddr for c in psutil.Process(srv.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert listening and all(a.ip == "127.0.0.1" for a in listening) and {a.port for a in listening} == {srv.port}
        assert len(srv.worker_pids()) == case.processes

    def test_health(self, srv):
        status, body = get(srv.url("/health"))
        assert status == 200 and body["ok"] is True and body["pid"] in srv.worker_pids()

    def test_io_waits_and_answers_every_field(self, srv, case, slow_service):
        t0 = time.perf_counter()
        status, body = get(srv.url("/io", ms=100))
        took = time.perf_counter() - t0
        assert status == 200 and 0.1 <= took < 1.0
        assert {"pid", "thread", "start", "end", "endpoint", "ms"} <= set(body)
        assert body["endpoint"] == "/io" and body["ms"] == 100 and body["pid"] in srv.worker_pids()
        assert t0 < body["start"] and body["end"] - body["start"] >= 0.099  # one clock for every process
        if case.upstream:
            assert body["upstream_pid"] == slow_service.pid
        else:
            assert "upstream_pid" not in body

    def test_cpu_and_mix(self, srv, case):
        status, body = get(srv.url("/cpu", ms=20))
        assert status == 200 and body["endpoint"] == "/cpu" and body["ms"] == 20 and body["end"] - body["start"] >= 0.01
        status, body = get(srv.url("/mix", cpu_ms=10, io_ms=50))
        assert status == 200 and body["cpu_ms"] == 10 and body["io_ms"] == 50
        assert body["end"] - body["start"] >= 0.055
        assert ("upstream_pid" in body) == case.upstream

    def test_db_pool_caps_requests_in_flight(self, srv, case):
        ms = 150
        df = run_load(srv.url("/db", ms=ms, k=2), requests=6, concurrency=6)
        assert df["error"].isna().all() and (df["status"] == 200).all()
        assert set(df["server_pid"]) <= set(srv.worker_pids())
        assert peak_overlap(df) <= 2
        rounds = 6 / (case.per_process * case.processes)
        took = df["server_end"].max() - df["server_start"].min()
        assert took >= rounds * ms / 1000 * 0.95
        slack = 6 if case.per_process == 1 else rounds + 1  # sync workers race to accept(): uneven shares
        assert took < slack * ms / 1000 + 0.2

    @pytest.mark.parametrize("query, word", [("/io?ms=-1", "ms"), ("/io?ms=abc", "ms"), ("/cpu?ms=70000", "ms"),
                                             ("/db?ms=1&k=0", "k"), ("/io?io_ms=5", "io_ms")])
    def test_bad_parameter_is_a_400_that_explains(self, srv, query, word):
        status, body = get(srv.base_url + query)
        assert status == 400 and word in body["error"]

    def test_url_checks_its_arguments(self, srv):
        assert srv.url("/io", ms=100) == f"{srv.base_url}/io?ms=100"
        for bad in (dict(path="/io", ms=-1), dict(path="io", ms=1), dict(path="/io", cpu_ms=3)):
            with pytest.raises(ValueError):
                srv.url(**bad)
        with pytest.raises(TypeError):
            srv.url("/db", ms=1, k=1.5)

    def test_memory_cpu_and_limits(self, srv, case):
        mem = srv.memory()
        assert len(mem) == len(srv.processes()) and (mem["rss_mb"] > 0).all()
        assert list(mem["role"]) == (["master"] + ["worker"] * case.processes if srv.workers else ["server"])
        assert (mem["rss_mb"] >= mem["uss_mb"]).all()
        assert set(mem["pid"]) >= set(srv.worker_pids())
        assert srv.cpu_times() > 0
        lim = srv.limits
        assert lim["server"].startswith(case.kind)
        assert lim["listen_backlog_effective"] <= lim["listen_backlog_requested"]
        for key in ("workers", "threads_per_worker", "concurrent_requests_max", "loop", "access_log",
                    "deprecation_warnings"):
            assert key in lim, key
        assert lim["access_log"] is False

    def test_concurrent_io_overlaps(self, srv, case):
        if not case.concurrent:
            pytest.skip("one request at a time per thread")
        df = run_load(srv.url("/io", ms=200), requests=20, concurrency=20)
        assert df["error"].isna().all()
        assert df["t_done"].max() - df["t_send"].min() < 2 * 0.2

    def test_block_serialises_and_io_thread_does_not(self, srv, case):
        if not case.async_loop:
            status, body = get(srv.url("/block", ms=1))
            assert status == 404 and "error" in body  # sync apps have no event loop to block
            return
        took, _ = all_at_once([srv.url("/block", ms=100)] * 4)
        assert took >= 0.4
        took, answers = all_at_once([srv.url("/io-thread", ms=100)] * 4)
        assert took < 0.35 and all(a["endpoint"] == "/io-thread" for a in answers)

    def test_same_key_stops_every_process_of_the_first(self, srv):
        """Last in the class: a re-run starting a server under the same key stops this one, all of it.

        (The stop is the one the with-block's exit runs; the fixture checks that exit too.) A slow
        service stands in for the re-run: any server under the same key replaces the old one.
        """
        old = [srv.pid] + srv.worker_pids()
        with SlowService(key=srv.key) as second:
            assert srv.pid is None and family_gone(old, within_s=2)
            assert get(second.url("/health"))[0] == 200
            new = [second.pid]
        assert family_gone(new)


# -- start-up failures, bad arguments, the apps without an upstream -----------------------------

@pytest.mark.parametrize("make, word", [
    (lambda: Gunicorn(workers=1, app="helpers.servers.no_such_app:app", key="t-bad-g"), "no_such_app"),
    (lambda: Gunicorn(workers=1, worker_class="asgi", app="helpers.servers.no_such_app:app", key="t-bad-ga"),
     "no_such_app"),
    (lambda: Uvicorn(app="helpers.servers.no_such_app:app", key="t-bad-u"), "no_such_app"),
], ids=["gunicorn", "gunicorn-asgi", "uvicorn"])
def test_a_server_that_cannot_start_says_why_quickly(make, word):
    t0 = time.monotonic()
    with pytest.raises((RuntimeError, TimeoutError)) as e:
        with make():
            pass
    assert word in str(e.value) and time.monotonic() - t0 < 15


@pytest.mark.parametrize("make, exc", [
    (lambda: SlowService(backlog=0), ValueError),
    (lambda: SlowService(loop="trio"), ValueError),
    (lambda: AiohttpServer(loop="auto"), ValueError),
    (lambda: AiohttpServer(upstream="http://10.0.0.1:80"), ValueError),
    (lambda: AiohttpServer(upstream_limit=0), ValueError),
    (lambda: Uvicorn(http="fast"), ValueError),
    (lambda: Uvicorn(workers=2), ValueError),
    (lambda: Gunicorn(workers=0), ValueError),
    (lambda: Gunicorn(worker_class="eventlet"), ValueError),
    (lambda: Gunicorn(threads=4), ValueError),
    (lambda: Gunicorn(backlog=True), ValueError),
    (lambda: Gunicorn(worker_class="sync", loop="uvloop"), ValueError),
    (lambda: Gunicorn(worker_class="asgi", loop="trio"), ValueError),
    (lambda: Gunicorn(preload="yes"), TypeError),
])
def test_bad_arguments_start_nothing(make, exc):
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(exc):
        make()
    assert {p.pid for p in psutil.Process().children()} == before


def test_not_running_and_stopped_after_an_exception():
    with pytest.raises(RuntimeError, match="not running"):
        SlowService(key="t-unstarted").base_url
    with pytest.raises(ZeroDivisionError):
        with SlowService(key="t-exc") as svc:
            pid = svc.pid
            1 / 0
    assert family_gone([pid])


def test_slow_service_urls_have_the_one_shape(slow_service):
    assert slow_service.url("/mix", cpu_ms=10, io_ms=50) == f"{slow_service.base_url}/mix?cpu_ms=10&io_ms=50"
    status, body = get(slow_service.url("/mix", cpu_ms=10, io_ms=50))
    assert status == 200 and body["io_ms"] == 50 and body["cpu_ms"] == 10 and body["end"] - body["start"] >= 0.054
    with pytest.raises(ValueError, match="takes ms"):
        slow_service.url(io_ms=50)  # the old shape is gone: /io takes ms


def test_contract_parses_and_refuses():
    assert contract.parse("/db", {"ms": "5"}) == {"ms": 5.0, "k": contract.DEFAULT_K}
    assert contract.parse("/mix", {}) == {"cpu_ms": 0.0, "io_ms": 0.0}
    for path, query in [("/io", {"ms": "nan"}), ("/io", {"x": "1"}), ("/db", {"k": "2.5"}), ("/nope", {})]:
        with pytest.raises(ValueError):
            contract.parse(path, query)
    assert contract.error(contract.NoUpstream())[0] == 503 and contract.error(ValueError("x")) == (400, {"error": "x"})


def test_apps_without_upstream_answer_503(monkeypatch):
    monkeypatch.delenv(contract.UPSTREAM_ENV, raising=False)
    from helpers.servers.flask_app import app as flask_app

    client = flask_app.test_client()
    r = client.get("/io?ms=1")
    assert r.status_code == 503 and contract.UPSTREAM_ENV in r.get_json()["error"]
    assert client.get("/cpu?ms=abc").status_code == 400 and client.get("/cpu?ms=2").get_json()["ms"] == 2

    import asyncio

    from helpers.servers.asgi_app import app as asgi_app

    async def asgi_get(target: str) -> tuple[int, dict]:
        """One GET straight through the ASGI interface: scope, receive, send."""
        path, _, query = target.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await asgi_app(scope, receive, send)
        return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    for path in ("/io?ms=1", "/mix?io_ms=1", "/db?ms=1&k=1", "/io-thread?ms=1"):
        status, body = asyncio.run(asgi_get(path))
        assert status == 503 and contract.UPSTREAM_ENV in body["error"], path
    assert asyncio.run(asgi_get("/cpu?ms=abc"))[0] == 400

    from aiohttp.test_utils import TestClient as AioClient, TestServer

    from helpers.servers.aiohttp_app import make_app

    async def check():
        async with AioClient(TestServer(make_app())) as c:
            r = await c.get("/db?ms=1&k=1")
            assert r.status == 503 and contract.UPSTREAM_ENV in (await r.json())["error"]

    asyncio.run(check())


def test_servers_exit_when_the_process_that_started_them_dies():
    """A crashed kernel (killed without any cleanup) leaves no server behind."""
    code = (
        "import os\n"
        "from helpers.servers import Gunicorn, SlowService\n"
        "svc = SlowService(key='t-orphan'); svc.start()\n"
        "g = Gunicorn(workers=1, worker_class='aiohttp', upstream=svc.base_url, key='t-orphan-g'); g.start()\n"
        "print(svc.pid, g.pid, *g.worker_pids(), flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 3, out.stderr
    assert family_gone(pids, within_s=15)


def test_worker_sweep_rows(slow_service):
    from helpers.lessons.sync_workers import worker_sweep

    grid = worker_sweep([{"workers": 2}], lambda cfg: [1, 4], ms=20, upstream=slow_service.base_url,
                        requests_per_client=2, progress=False)
    assert list(grid["clients"]) == [1, 4] and (grid["errors"] == 0).all()
    assert grid["throughput_rps"].iloc[1] > grid["throughput_rps"].iloc[0]
    assert grid.attrs["limits"][0]["workers"] == 2
    with pytest.raises(ValueError):
        worker_sweep([], lambda cfg: [1])
