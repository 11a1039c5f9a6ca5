import math

import pytest

from helpers.core import timing
from helpers.load import clients
from helpers.load import generator as load


def test_rows_columns_and_limits(slow_service):
    df = load.run_load(slow_service.url("/io", ms=20), requests=12, concurrency=3)
    assert len(df) == 12 and df["error"].isna().all() and (df["status"] == 200).all()
    assert sorted(df["request"]) == list(range(12)) and set(df["client"]) == {0, 1, 2}
    assert (df["server_pid"] == slow_service.pid).all()
    # uvloop keeps time in whole milliseconds: a 20 ms wait may end up to 1 ms early
    assert (df["latency_s"] >= 0.019).all() and (df["service_s"] >= 0.019).all()
    lim = df.attrs["limits"]
    assert lim["client"] == "aiohttp" and lim["connection_limit"] == 3 and lim["concurrency"] == 3
    assert lim["loadgen_pid"] != slow_service.pid


def test_closed_loop_four_clients_five_requests(slow_service):
    """The essay's picture: the fifth request starts only when a client is free."""
    for client in load.CLIENTS:
        df = load.run_load(slow_service.url("/io", ms=150), requests=5, concurrency=4, client=client)
        first_done = df["t_done"].iloc[:4].min()
        assert df["t_send"].iloc[4] >= first_done - 1e-3
        assert df["t_send"].iloc[:4].max() < 0.1
        assert df.attrs["limits"]["client"] == client


def test_connection_limit_caps_concurrency(slow_service):
    df = load.run_load(slow_service.url("/io", ms=100), requests=8, concurrency=8, connection_limit=2)
    # only two at a time get a connection: four rounds of 100 ms
    assert timing.summarize(df)["duration_s"].iloc[0] >= 0.39
    assert df.attrs["limits"]["connection_limit"] == 2


@pytest.mark.parametrize("client", ["aiohttp", "raw"])
def test_request_timeouts_become_error_rows(slow_service, client):
    df = load.run_load(slow_service.url("/io", ms=2000), requests=2, concurrency=2, timeout_s=0.3, client=client)
    assert df["error"].notna().all() and df["status"].isna().all()
    assert (df["latency_s"] < 1.5).all()


def test_whole_run_deadline(slow_service):
    with pytest.raises(TimeoutError, match="deadline_s"):
        load.run_load(slow_service.url("/io", ms=3000), requests=1, concurrency=1, deadline_s=1.0)


def test_too_much_concurrency_is_refused(monkeypatch):
    monkeypatch.setattr(load, "open_file_limit", lambda: (256, 1024))
    with pytest.raises(ValueError, match="open files"):
        load.check_concurrency(1000)
    load.check_concurrency(900)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(url="http://example.com/", requests=1, concurrency=1), "on this machine"),
        (dict(url="http://127.0.0.1:1/", requests=0, concurrency=1), "requests"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=0), "concurrency"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=1, client="curl"), "client"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=1, timeout_s=0), "timeout_s"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=2, client="requests", connection_limit=1), "connection"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=2, client="raw", connection_limit=1), "connection"),
        (dict(url="http://127.0.0.1:1/", requests=1, concurrency=1, deadline_s=0), "deadline_s"),
    ],
)
def test_bad_arguments(kwargs, match):
    url = kwargs.pop("url")
    with pytest.raises(ValueError, match=match):
        load.run_load(url, **kwargs)


def test_unreachable_server_gives_error_rows_not_a_hang():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    df = load.run_load(f"http://127.0.0.1:{port}/io", requests=3, concurrency=1, timeout_s=2)
    assert len(df) == 3 and df["error"].notna().all()


# -- the one frame builder ---------------------------------------------------------
def test_request_frame_shifts_sorts_and_adds_waits():
    rows = [
        {"request": 1, "t_submit": 10.0, "t_send": 10.5, "t_done": 11.0, "server_start": 10.6, "server_end": 10.9},
        {"request": 0, "t_submit": 10.0, "t_send": 10.2, "t_done": 10.4, "server_start": 10.25, "server_end": 10.35},
        {"request": 2, "t_submit": 10.0, "t_send": 10.3, "t_done": 10.31, "error": "boom"},
    ]
    df = timing.request_frame(rows, t0=10.0)
    assert list(df["request"]) == [0, 2, 1] and list(df.index) == [0, 1, 2]  # by send time
    assert df["t_submit"].tolist() == [0.0, 0.0, 0.0]
    assert df["t_send"].tolist() == pytest.approx([0.2, 0.3, 0.5])
    assert df.loc[0, "wait_s"] == pytest.approx(0.05) and df.loc[0, "service_s"] == pytest.approx(0.10)
    assert math.isnan(df.loc[1, "wait_s"]) and math.isnan(df.loc[1, "server_start"])


def test_request_frame_columns_and_missing_fields():
    df = timing.request_frame([{"t_send": 5.0, "t_done": 6.0, "extra": 1}], 5.0, columns=["t_send", "t_done", "server_start"])
    assert list(df.columns) == ["t_send", "t_done", "server_start", "wait_s"]  # no server_end: no service_s
    assert df.loc[0, "t_done"] == 1.0 and math.isnan(df.loc[0, "wait_s"])
    bare = timing.request_frame([{"t_send": 2.0, "t_done": 3.0}], 2.0)
    assert "wait_s" not in bare and "service_s" not in bare
    empty = timing.request_frame([], 0.0, columns=load.COLUMNS)
    assert empty.empty and list(empty.columns) == [*load.COLUMNS, "wait_s", "service_s"]


# -- the one thread-pool HTTP client ------------------------------------------------
def test_blocking_clients_closed_loop(slow_service):
    rows, t0, limits = clients.blocking_clients(slow_service.url("/io", ms=50), 7, 3, timeout_s=10)
    df = timing.request_frame(rows, t0)
    assert sorted(df["request"]) == list(range(7)) and set(df["client"]) == {0, 1, 2}
    assert df["thread"].nunique() == 3 and df["error"].isna().all() and (df["status"] == 200).all()
    assert (df["t_send"] >= 0).all() and df["t_send"].min() < 0.05  # the threads were ready before t0
    assert (df["server_pid"] == slow_service.pid).all() and (df["service_s"] >= 0.049).all()
    # never more than 3 in flight: 7 requests take three rounds of 50 ms
    assert df["t_done"].max() >= 0.149
    assert limits["threads"] == 3 and limits["pool_maxsize_per_client"] == 1 and limits["max_retries"] == 0


def test_blocking_clients_without_sessions_and_errors():
    rows, t0, limits = clients.blocking_clients(f"http://127.0.0.1:{_free_port()}/io", 2, 2,
                                                timeout_s=2, session_per_thread=False)
    assert len(rows) == 2 and all(r["error"] and r["status"] is None for r in rows)
    assert limits["pool_maxsize_per_client"] == 0
    with pytest.raises(ValueError, match="threads"):
        clients.blocking_clients("http://127.0.0.1:1/", 1, 0)


# -- several generator processes ---------------------------------------------------
@pytest.mark.parametrize("client", load.CLIENTS)
def test_two_generator_processes_merge(slow_service, client):
    df = load.run_load(slow_service.url("/io", ms=20), requests=21, concurrency=6, client=client, processes=2)
    assert len(df) == 21 and df["error"].isna().all()
    assert sorted(df["request"]) == list(range(21)) and set(df["client"]) == set(range(6))
    lim = df.attrs["limits"]
    assert lim["generator_processes"] == 2 and len(set(lim["loadgen_pids"])) == 2
    assert len(lim["loadgen_cpu_shares"]) == 2 and lim["loadgen_cpu_share"] == max(lim["loadgen_cpu_shares"])
    assert lim["requests"] == 21 and lim["concurrency"] == 6 and lim["client"] == client
    # one t0: both processes' clients (0-2 and 3-5) send their first request right after it
    first = df.groupby(df["client"] >= 3)["t_send"].min()
    assert len(first) == 2 and (first >= 0).all() and (first < 0.1).all()
    assert lim["wall_s"] >= df["t_done"].max() - 1e-6


@pytest.mark.parametrize("processes", [0, -1, 1.5, True, "two", None, 7])
def test_bad_processes(processes):
    with pytest.raises(ValueError, match="processes"):
        load.run_load("http://127.0.0.1:1/", requests=10, concurrency=6, processes=processes)


def test_auto_processes_leaves_cores_for_the_server():
    from helpers.core.system import usable_cores

    n = load.check_processes("auto", requests=100, concurrency=50)
    assert n == max(1, usable_cores() // 2)
    assert load.check_processes("auto", requests=1, concurrency=50) == 1


def _free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
