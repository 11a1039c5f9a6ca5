import pytest

from helpers import load, timing


def test_rows_columns_and_limits(slow_service):
    df = load.run_load(slow_service.url(io_ms=20), requests=12, concurrency=3)
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
        df = load.run_load(slow_service.url(io_ms=150), requests=5, concurrency=4, client=client)
        first_done = df["t_done"].iloc[:4].min()
        assert df["t_send"].iloc[4] >= first_done - 1e-3
        assert df["t_send"].iloc[:4].max() < 0.1
        assert df.attrs["limits"]["client"] == client


def test_connection_limit_caps_concurrency(slow_service):
    df = load.run_load(slow_service.url(io_ms=100), requests=8, concurrency=8, connection_limit=2)
    # only two at a time get a connection: four rounds of 100 ms
    assert timing.summarize(df)["duration_s"].iloc[0] >= 0.39
    assert df.attrs["limits"]["connection_limit"] == 2


def test_request_timeouts_become_error_rows(slow_service):
    df = load.run_load(slow_service.url(io_ms=2000), requests=2, concurrency=2, timeout_s=0.3)
    assert df["error"].notna().all() and df["status"].isna().all()
    assert (df["latency_s"] < 1.5).all()


def test_whole_run_deadline(slow_service):
    with pytest.raises(TimeoutError, match="deadline_s"):
        load.run_load(slow_service.url(io_ms=3000), requests=1, concurrency=1, deadline_s=1.0)


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
