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


# Queueing models (issue 12): values derived here from first principles.

def test_mm1_matches_textbook():
    lam, s = 6.0, 0.1  # mu = 10/s, rho = 0.6
    m = models.mmc(lam, s, 1)
    assert m["p_wait"] == pytest.approx(0.6)  # M/M/1: P(wait) = rho
    assert m["response_s"] == pytest.approx(1 / (10 - 6))  # W = 1 / (mu - lambda)
    assert m["wait_s"] == pytest.approx(0.6 / (10 - 6))  # Wq = rho / (mu - lambda)
    # the response time is Exp(mu - lambda): P99 = ln(100) / (mu - lambda)
    assert models.mmc_response_quantile(lam, s, 1, 0.99) == pytest.approx(math.log(100) / 4, rel=1e-9)
    assert models.mmc_response_quantile(lam, s, 1, 0.5) == pytest.approx(math.log(2) / 4, rel=1e-9)


def test_erlang_c_from_the_formula():
    lam, s, c = 8.0, 0.5, 5  # a = 4 erlangs, rho = 0.8
    a = lam * s
    top = a**c / math.factorial(c) * c / (c - a)
    expected = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    assert models.erlang_c(lam, s, c) == pytest.approx(expected, rel=1e-12)
    # M/M/2 closed form: P(wait) = 2 rho^2 / (1 + rho)
    assert models.erlang_c(1.2, 1.0, 2) == pytest.approx(2 * 0.6**2 / 1.6)


def test_mmc_quantile_inverts_the_tail():
    # P(T > t) at the P99 must be 0.01: check by Monte Carlo-free numeric integration of the M/M/2 case
    lam, s, c = 1.5, 1.0, 2
    t99 = models.mmc_response_quantile(lam, s, c, 0.99)
    t50 = models.mmc_response_quantile(lam, s, c, 0.5)
    assert s * 0 < t50 < t99
    # tail from the definition (wait 0 w.p. 1-C else Exp(theta); plus Exp(mu)), integrated by the trapezoid rule
    C, mu, theta = models.erlang_c(lam, s, c), 1 / s, c / s - lam
    n, hi = 20000, t99
    dx = hi / n
    # density of Exp(theta)+Exp(mu) at x, P(service > t99 - x)
    total = 0.0
    for i in range(n + 1):
        x = i * dx
        w = theta * math.exp(-theta * x) * math.exp(-mu * (t99 - x))
        total += w * (0.5 if i in (0, n) else 1.0)
    tail = (1 - C) * math.exp(-mu * t99) + C * (total * dx + math.exp(-theta * t99))
    assert tail == pytest.approx(0.01, rel=1e-4)


def test_md1_is_pollaczek_khinchine():
    lam, s = 6.0, 0.1
    rho = 0.6
    m = models.mdc(lam, s, 1)
    assert m["wait_s"] == pytest.approx(rho * s / (2 * (1 - rho)))
    assert m["response_s"] == pytest.approx(s + rho * s / (2 * (1 - rho)))
    # fixed service waits half as long as exponential service on average
    assert m["wait_s"] == pytest.approx(models.mmc(lam, s, 1)["wait_s"] / 2)
    # the quantile approximation: at least the service time, grows with load
    assert models.mdc_response_quantile(0.3, 1.0, 2, 0.5) == pytest.approx(1.0)
    p99 = [models.mdc_response_quantile(r, 0.1, 2, 0.99) for r in (6, 12, 18, 19)]
    assert p99 == sorted(p99) and p99[0] >= 0.1


@pytest.mark.parametrize("call", [
    lambda: models.mmc(10, 0.1, 1),  # rho = 1
    lambda: models.mmc(0, 0.1, 1),
    lambda: models.erlang_c(1, 0.1, 0),
    lambda: models.mmc_response_quantile(1, 0.1, 1, 1.0),
    lambda: models.mdc_response_quantile(1, 0.1, 1, 0),
])
def test_queue_models_refuse_bad_input(call):
    with pytest.raises(ValueError):
        call()
