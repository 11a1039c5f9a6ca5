import math

import pytest

from helpers.core import config, models


def test_mode_default_and_switch(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert config.mode() == "full" and config.pick(10, 2) == 10
    monkeypatch.setenv("COURSE_MODE", "QUICK ")
    assert config.is_quick() and config.pick(10, 2) == 2


def test_bad_mode_is_refused(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="full, quick"):
        config.mode()


@pytest.mark.parametrize(
    "n, c, expected",
    [(1, 1, 0.1), (5, 4, 0.2), (8, 4, 0.2), (9, 4, 0.3), (7, 3, 0.3), (10, 1, 1.0), (3, 100, 0.1)],
)
def test_batch_time_is_a_staircase(n, c, expected):
    assert models.batch_time(n, c, 0.1) == pytest.approx(expected)


def test_closed_loop_queueing():
    below = models.closed_loop(clients=2, workers=4, service_s=0.1)
    above = models.closed_loop(clients=8, workers=4, service_s=0.1)
    assert below == {"throughput_rps": pytest.approx(20.0), "latency_s": pytest.approx(0.1)}
    assert above == {"throughput_rps": pytest.approx(40.0), "latency_s": pytest.approx(0.2)}


def test_simul_matches_the_story():
    assert models.simul_time(24, 30, 5, 55, "sync") == 12 * 3600
    assert models.simul_time(24, 30, 5, 55, "async") == 24 * 30 * 5 + 55  # about an hour
    # few boards: she waits for each opponent; the last board starts 5 s late
    assert models.simul_time(2, 30, 5, 55, "async") == 5 + 30 * 60
    # one board: both ways are the same game
    assert models.simul_time(1, 30, 5, 55, "async") == models.simul_time(1, 30, 5, 55, "sync")


@pytest.mark.parametrize(
    "call",
    [
        lambda: models.batch_time(0, 1, 0.1),
        lambda: models.batch_time(3, 0, 0.1),
        lambda: models.batch_time(3, 1, -1),
        lambda: models.batch_time(2.5, 1, 0.1),
        lambda: models.closed_loop(1, 1, 0),
        lambda: models.simul_time(24, 30, 5, 55, "parallel"),
        lambda: models.speedup_ideal(True, 2),
    ],
)
def test_models_refuse_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_speedup_ideal():
    assert [models.speedup_ideal(w, 2) for w in (1, 2, 3, 4)] == [1, 2, 2, 2]
    assert math.isclose(models.sequential_time(4, 0.1, 0.01), 0.44)
