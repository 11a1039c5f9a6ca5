import json
import urllib.error
import urllib.request

import psutil
import pytest

from helpers.services import SlowService


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def listening_ports(pid: int) -> list:
    return [c.laddr for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]


def test_answers_with_its_identity_and_times(slow_service):
    info = get(slow_service.url(io_ms=50, cpu_ms=10))
    assert info["pid"] == slow_service.pid
    assert info["end"] - info["start"] >= 0.054  # uvloop timers have 1 ms resolution
    assert info["io_ms"] == 50 and info["cpu_ms"] == 10


def test_listens_on_loopback_only(slow_service):
    addrs = listening_ports(slow_service.pid)
    assert addrs and all(a.ip == "127.0.0.1" for a in addrs)
    assert [a.port for a in addrs] == [slow_service.port]


def test_limits_are_recorded(slow_service):
    lim = slow_service.limits
    assert lim["listen_backlog_requested"] == 1024
    assert lim["listen_backlog_effective"] <= 1024


@pytest.mark.parametrize("query", ["io?ms=abc", "cpu?ms=-5", "work?io_ms=70000"])
def test_bad_requests_get_a_clear_400(slow_service, query):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(f"{slow_service.base_url}/{query}")
    assert e.value.code == 400
    assert "ms" in e.value.read().decode()


def test_stopped_on_exit_and_on_error():
    with pytest.raises(ZeroDivisionError):
        with SlowService(key="t-svc") as svc:
            pid, port = svc.pid, svc.port
            1 / 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_bad_arguments_are_refused_before_starting():
    before = set(psutil.Process().children())
    with pytest.raises(ValueError, match="backlog"):
        SlowService(backlog=0)
    with pytest.raises(ValueError, match="loop"):
        SlowService(loop="trio")
    assert set(psutil.Process().children()) == before


def test_url_checks_its_arguments(slow_service):
    with pytest.raises(ValueError):
        slow_service.url(io_ms=-1)
    with pytest.raises(RuntimeError, match="not running"):
        SlowService(key="t-unstarted").base_url
