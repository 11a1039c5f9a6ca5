"""helpers.lessons.sync_workers: overlap counting, the C4 rule on made-up runs, the diagram, bad input."""

from __future__ import annotations

import math

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from helpers.lessons import sync_workers as S  # noqa: E402


def _req(pid, start, end):
    return {"server_pid": pid, "server_start": start, "server_end": end}


def test_overlapping_counts_requests_sharing_a_worker():
    df = pd.DataFrame([_req(1, 0.0, 1.0), _req(1, 1.0, 2.0), _req(2, 0.0, 1.0)])
    assert S.overlapping(df) == 0
    df = pd.DataFrame([_req(1, 0.0, 1.0), _req(1, 0.5, 2.0), _req(1, 1.5, 3.0)])
    assert S.overlapping(df) == 2


def test_overlapping_needs_the_server_columns():
    with pytest.raises(ValueError, match="server_pid"):
        S.overlapping(pd.DataFrame({"x": [1]}))


def test_cpu_configs_has_processes_and_one_threaded_worker():
    cfgs = S.cpu_configs(2)
    assert [c["workers"] for c in cfgs] == [1, 2, 4, 1]
    assert cfgs[-1] == {"workers": 1, "worker_class": "gthread", "threads": 2}
    with pytest.raises(ValueError):
        S.cpu_configs(0)


def _runs(cores, one, many, over, threaded, repeats=3):
    rows = []
    names = {"1 sync worker": one, f"{cores} sync workers": many, f"{2 * cores} sync workers": over,
             f"1 workers x {cores} threads": threaded}
    for r in range(repeats):
        for name, rps in names.items():
            rows.append({"config": name, "repeat": r, "throughput_rps": rps * (1 + 0.01 * r)})
    return pd.DataFrame(rows)


def test_cpu_decision_holds_for_the_model():
    d = S.cpu_decision(_runs(2, 100, 190, 195, 100), 2, free_cores=2.0)
    assert d["outcome"] is True and d["reason"] == "model"
    assert d["gain"] == pytest.approx(1.9)


@pytest.mark.parametrize("rates, reason", [
    ((100, 110, 115, 100), "not-helped"),
    ((100, 190, 380, 100), "grew-beyond"),
    ((100, 190, 195, 190), "threads-scaled"),
])
def test_cpu_decision_can_fail(rates, reason):
    d = S.cpu_decision(_runs(2, *rates), 2, free_cores=2.0)
    assert d["outcome"] is False and reason in d["reason"].split("+")
    assert set(d["reason"].split("+")) <= set(S.CPU_DEPARTURES)


def test_cpu_decision_judges_against_the_free_cores():
    # a gain of 1.3x is short of sqrt(2) on 2 free cores, but beyond sqrt(1.6) when others took 0.4 of a core
    runs = _runs(2, 100, 130, 135, 100)
    assert S.cpu_decision(runs, 2, free_cores=2.0)["outcome"] is False
    assert S.cpu_decision(runs, 2, free_cores=1.6)["outcome"] is True
    busy = S.cpu_decision(runs, 2, free_cores=1.2)
    assert busy["outcome"] == "inconclusive" and busy["reason"] == "busy"
    assert S.cpu_decision(runs, 1, free_cores=1.0)["reason"] == "one-core"


def test_cpu_decision_uses_back_to_back_pairs():
    # the machine halves its speed in repeat 1: paired ratios stay at the model, medians of each arm alone would not
    rows = []
    for r, f in enumerate([1.0, 0.5, 1.0]):
        for name, rps in (("1 sync worker", 100), ("2 sync workers", 190), ("4 sync workers", 195),
                          ("1 workers x 2 threads", 100)):
            rows.append({"config": name, "repeat": r, "throughput_rps": rps * f})
    d = S.cpu_decision(pd.DataFrame(rows), 2, free_cores=2.0)
    assert d["gain"] == pytest.approx(1.9) and d["outcome"] is True


def test_cpu_summary_takes_medians_and_range():
    runs = _runs(2, 100, 190, 195, 100).assign(
        worker_class="sync", workers=1, threads=1, clients=2, p50_ms=1.0, service_ms=10.0, loadgen_cpu_share=0.1)
    s = S.cpu_summary(runs)
    one = s[s["config"] == "1 sync worker"].iloc[0]
    assert one["throughput_rps"] == pytest.approx(101) and one["rps_min"] == 100 and one["rps_max"] == 102


def test_cpu_sweep_rejects_bad_sizes_before_starting_anything():
    with pytest.raises(ValueError, match="repeats"):
        S.cpu_sweep(2, repeats=0)
    with pytest.raises(ValueError, match="requests"):
        S.cpu_sweep(2, requests=True)


def test_draw_gunicorn_draws_each_worker():
    ax = S.draw_gunicorn(workers=3)
    texts = [t.get_text() for t in ax.texts]
    assert sum(t.startswith("worker ") for t in texts) == 3
    assert any("accept()" in t for t in texts)
    with pytest.raises(ValueError):
        S.draw_gunicorn(workers=0)


def test_bare_interpreter_costs_a_few_megabytes():
    mb = S.bare_interpreter_uss_mb()
    assert 0.5 < mb < 100 and not math.isnan(mb)
