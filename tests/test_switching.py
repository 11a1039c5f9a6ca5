"""Notebook 07's helpers: the switch and waiter probes (children) and the lesson module around them."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from helpers.core.procs import live_children
from helpers.lessons import switch_probe, switching

TINY = 0.01  # seconds per timed run: enough to get a figure, far too short to trust one


def test_the_names_repeated_in_the_lesson_module_match_the_probe():
    assert tuple(switching.KINDS) == switch_probe.SWITCH_KINDS
    assert switching.WAITER_KINDS == switch_probe.WAITER_KINDS
    assert switching.THROUGH == switch_probe.THROUGH
    assert switching.MAX_DEPTH == switch_probe.MAX_DEPTH


def test_machine_probe_reports_what_the_lesson_needs():
    m = switching.machine()
    for key in ("can_pin", "platform", "cpus", "thread_stack_size_bytes", "uvloop", "gevent", "greenlet"):
        assert key in m
    lim = switching.thread_limit()
    assert lim["max_threads"] >= 1 and isinstance(lim["limited_by"], str)


@pytest.mark.parametrize("kind", list(switching.KINDS))
def test_each_switch_kind_runs_quickly_and_returns_sane_json(kind):
    if switching.available(kind):
        pytest.skip(switching.available(kind))
    before = live_children()
    r = switching.measure_switch(kind, seconds=TINY, timeout_s=30)
    assert r["kind"] == kind and r["elapsed_s"] >= TINY and r["round_trips"] >= switch_probe.START_ROUND_TRIPS
    assert 0.01 < r["us_per_switch"] < 10_000
    assert r["us_per_switch"] == pytest.approx(r["elapsed_s"] / (2 * r["round_trips"]) * 1e6)
    if kind in switching.OS_THREAD_KINDS and r["voluntary_switches"] is not None:
        assert r["voluntary_switches"] > 0  # the kernel saw the threads sleep
    assert live_children() <= before  # the forked partner of process-pipe is gone too


def test_asyncio_pytask_really_uses_the_pure_python_task():
    r = switching.measure_switch("asyncio-pytask", seconds=TINY)
    assert r["task_class"] == "asyncio.tasks.Task" and r["future_class"] == "asyncio.futures.Future"
    c = switching.measure_switch("asyncio", seconds=TINY)
    assert c["task_class"] == "_asyncio.Task"


@pytest.mark.skipif(not switching.can_pin(), reason="this OS cannot pin a process to one core")
def test_pinned_run_reports_its_cpu():
    r = switching.measure_switch("thread-pipe", seconds=TINY, pinned=True)
    assert r["pinned_cpu"] == switching.pin_cpu()


def test_greenlet_depth_through_c_saves_more_stack():
    shallow = switching.measure_switch("greenlet", seconds=TINY, depth=0, through="c")
    deep = switching.measure_switch("greenlet", seconds=TINY, depth=200, through="c")
    assert deep["stack_saved_bytes"] > 10 * shallow["stack_saved_bytes"]


def test_switch_runs_and_summary_shape():
    runs = switching.switch_runs(["greenlet", "asyncio"], repeats=2, seconds=TINY, pinned=(False,))
    assert len(runs) == 4 and set(runs["kind"]) == {"greenlet", "asyncio"}
    s = switching.summarize(runs)
    assert list(s["kind"]) == ["asyncio", "greenlet"]  # the course's order
    assert (s["min_us"] <= s["median_us"]).all() and (s["median_us"] <= s["max_us"]).all()
    assert (s["runs"] == 2).all()
    c = switching.compare(runs, "greenlet", "asyncio")
    assert c["outcome"] in (True, False, "inconclusive") and c["pairs"] == 2


def test_compare_pairs_each_repeat_and_decides_both_ways_and_inconclusive():
    def runs(a, b):
        return pd.DataFrame([{"kind": k, "pinned": False, "repeat": r, "us_per_switch": v, "voluntary_per_switch": 0.0}
                             for r, (va, vb) in enumerate(zip(a, b)) for k, v in (("a", va), ("b", vb))])

    # a slow spell (repeat 1) slows both runs of its pair: a is still 3x faster in every repeat
    assert switching.compare(runs([1.0, 10.0, 1.0], [3.0, 30.0, 3.0]), "a", "b")["outcome"] is True
    assert switching.compare(runs([1.0, 10.0, 1.0], [3.0, 30.0, 3.0]), "a", "b")["ratio"] == pytest.approx(3.0)
    assert switching.compare(runs([3.0, 3.0], [1.0, 1.0]), "a", "b")["outcome"] is False
    assert switching.compare(runs([1.0, 2.0], [1.5, 1.5]), "a", "b")["outcome"] == "inconclusive"
    assert switching.compare(runs([1.0, 1.0, 1.0], [3.0, 3.0, 0.9]), "a", "b")["outcome"] is True  # two in three
    assert switching.compare(runs([1.0], [1.5]), "a", "missing")["outcome"] == "inconclusive"
    with pytest.raises(ValueError, match="runs of switch_runs"):
        switching.compare(runs([1.0], [2.0]).drop(columns="repeat"), "a", "b")  # a summary has no repeats


def test_pinning_effect_pairs_pinned_and_unpinned_runs():
    rows = [{"kind": "thread-pipe", "pinned": p, "repeat": r, "us_per_switch": v * (1 if p else 4), "label": "",
             "family": "OS", "voluntary_per_switch": 1.0} for r, v in enumerate((5.0, 50.0, 5.0)) for p in (False, True)]
    eff = switching.pinning_effect(pd.DataFrame(rows))
    assert eff["outcome"].tolist() == [True] and eff.iloc[0]["unpinned_over_pinned"] == pytest.approx(4.0)


@pytest.mark.parametrize("bad, match", [
    ({"kind": "fibre"}, "kind must be one of"),
    ({"kind": "greenlet", "seconds": 0}, "seconds"),
    ({"kind": "greenlet", "seconds": 31}, "seconds"),
    ({"kind": "greenlet", "depth": -1}, "depth"),
    ({"kind": "greenlet", "depth": switching.MAX_DEPTH + 1}, "depth"),
    ({"kind": "asyncio", "depth": 5}, "greenlet switch only"),
    ({"kind": "greenlet", "through": "rust"}, "through"),
])
def test_measure_switch_refuses_bad_input_before_starting(bad, match):
    before = live_children()
    with pytest.raises(ValueError, match=match):
        switching.measure_switch(**bad)
    assert live_children() <= before


def test_switch_runs_refuses_bad_input():
    with pytest.raises(ValueError, match="kind"):
        switching.switch_runs(["nope"])
    with pytest.raises((TypeError, ValueError)):
        switching.switch_runs(["greenlet"], repeats=0)
    with pytest.raises(TypeError, match="booleans"):
        switching.switch_runs(["greenlet"], pinned=("yes",))


def test_the_probe_refuses_bad_arguments_clearly():
    bad = [["switch", "fibre"], ["switch", "greenlet", "--seconds", "0"], ["waiters", "task", "--counts", "5,3"],
           ["waiters", "task", "--counts", "x"]]
    for args in bad:
        p = subprocess.run([sys.executable, "-m", switching.PROBE, *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "error" in p.stderr


@pytest.mark.parametrize("what, counts", [("task", [100, 300]), ("greenlet", [100, 300]), ("thread", [20, 60]),
                                          ("process", [1, 2])])
def test_waiter_memory_parks_every_waiter_and_cleans_up(what, counts):
    before = live_children()
    df = switching.waiter_memory(what, counts)
    assert list(df["waiters"]) == [0] + counts
    assert (df.loc[df["waiters"] > 0, "parked"] == df.loc[df["waiters"] > 0, "waiters"]).all()
    assert df["create_s"].is_monotonic_increasing
    per = switching.per_waiter(df)
    assert per["parked_all"] and per["what"] == what
    if what == "process":
        assert per["uss_kib"] > 1024  # a whole interpreter: more than a MiB of its own
    if what == "thread":
        assert per["vms_kib"] > per["rss_kib"]  # a reserved stack, barely touched
    assert live_children() <= before


def test_waiter_memory_refuses_too_many_and_bad_counts():
    lim = switching.thread_limit()["max_threads"]
    with pytest.raises(ValueError, match="at most"):
        switching.waiter_memory("thread", [lim + 1])
    with pytest.raises(ValueError, match="at most"):
        switching.waiter_memory("process", [switching.MAX_WAITERS["process"] + 1])
    with pytest.raises(ValueError, match="increasing"):
        switching.waiter_memory("task", [10, 5])
    with pytest.raises(ValueError, match="what"):
        switching.waiter_memory("fibre", [10])
    with pytest.raises((TypeError, ValueError)):
        switching.waiter_memory("task", [0])


def test_per_waiter_slope_and_course_table(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    df = pd.DataFrame({"what": "task", "waiters": [0, 1000, 2000, 4000],
                       "rss_mib": [10.0, 11.0, 12.0, 14.0], "uss_mib": [5.0, 6.0, 7.0, 9.0],
                       "vms_mib": [20.0, 21.0, 22.0, 24.0], "create_s": [0.0, 0.001, 0.002, 0.004],
                       "parked": [0, 1000, 2000, 4000]})
    per = switching.per_waiter(df)
    assert per["uss_kib"] == pytest.approx(1024 / 1000) and per["create_us"] == pytest.approx(1.0)
    table = switching.course_table([per])
    assert list(table["waiter"]) == ["asyncio task"] and table.attrs["joined"] is None
    saved = pd.DataFrame([{"kind": "thread", "workers": 50, "start_ms_per_worker": 0.1, "rss_mb_per_worker": 0.02,
                           "uss_mb_per_worker": 0.015}])
    from helpers.core import results

    results.save(saved, "02-worker-costs")
    joined = switching.course_table([per])
    assert list(joined["waiter"]) == ["asyncio task", "OS thread"] and joined.attrs["joined"] == "02-worker-costs"
    assert joined.iloc[1]["create_us_per_waiter"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="waiter_memory"):
        switching.per_waiter(pd.DataFrame({"waiters": [1, 2]}))


def test_concurrency_verdict_can_come_out_every_way():
    def ratio(lo, hi, gen=0.3):
        return pd.DataFrame({"concurrency": [10, 1000], "uvloop_over_asyncio": [1.0, 1.2], "gain": [lo, hi],
                             "loadgen_cpu_share_max": [gen, gen], "server_cpu_share_max": [0.9, 0.9]})

    assert switching.concurrency_verdict(ratio(False, True))["outcome"] is True
    assert switching.concurrency_verdict(ratio(True, True))["reason"] == "a gain already at the lowest concurrency"
    assert switching.concurrency_verdict(ratio(False, False))["reason"] == "no gain even at the highest concurrency"
    assert switching.concurrency_verdict(ratio(False, True, gen=0.95))["outcome"] == "inconclusive"


def test_loop_ratio_pairs_runs_back_to_back():
    rows = [{"loop": lp, "concurrency": c, "repeat": r, "throughput_rps": rps * (2 if lp == "uvloop" else 1),
             "loadgen_cpu_share": 0.4, "server_cpu_share": 1.0}
            for c in (10, 100) for r, rps in enumerate((1000.0, 500.0, 2000.0)) for lp in ("asyncio", "uvloop")]
    out = switching.loop_ratio(pd.DataFrame(rows))
    # the machine's slow spell (repeat 1) halves both halves of its pair: every pair still says 2x, no scatter
    assert list(out["uvloop_over_asyncio"]) == [2.0, 2.0]
    assert out["gain"].all() and list(out["pairs"]) == [3, 3]
    rows[-1]["throughput_rps"] = 2000.0  # one pair at 1x: no longer a gain at every pair
    assert not switching.loop_ratio(pd.DataFrame(rows))["gain"].iloc[-1]
    with pytest.raises(ValueError, match="both loops"):
        switching.loop_ratio(pd.DataFrame(rows).query("loop == 'asyncio'"))


def test_shares_arithmetic_and_refusals():
    assert switching.switch_share(5.0, 100.0) == pytest.approx(0.1)
    assert switching.core_share(1000, 5.0) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        switching.switch_share(0, 100.0)
    with pytest.raises(TypeError):
        switching.core_share("fast", 5.0)


def test_exercise_checker_feedback(capsys):
    figs = {"greenlet_us": 0.25, "task_uss_kib": 1.0, "asyncio_us": 5.0}
    assert switching.expected("07-switches-per-second", figs) == pytest.approx(4_000_000)
    assert switching.expected("07-tasks-memory", figs) == pytest.approx(100_000 / 1024)
    assert switching.expected("07-switch-share", figs) == pytest.approx(2000 * 4 * 5 / 1e6)
    assert switching.check_answer("07-switches-per-second", None, figs) is None
    assert "No answer yet" in capsys.readouterr().out
    assert switching.check_answer("07-switches-per-second", 4.1e6, figs) is True
    assert "Right" in capsys.readouterr().out
    assert switching.check_answer("07-tasks-memory", 5.0, figs) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and "Hint:" in out
    with pytest.raises(ValueError, match="exercise"):
        switching.check_answer("07-nope", 1.0, figs)
    with pytest.raises(ValueError, match="needs the figure"):
        switching.check_answer("07-switch-share", 1.0, {})
    capsys.readouterr()
    assert switching.check_answer("07-switch-share", "a lot", figs) is False  # a message, not a traceback
    assert "write a number without quotes" in capsys.readouterr().out


def test_beside_published_has_a_sentence_per_shape():
    runs = pd.DataFrame([{"kind": k, "pinned": p, "us_per_switch": v, "voluntary_per_switch": 0.0}
                         for k, v in [("thread-pipe", 4.0), ("asyncio", 5.0), ("greenlet", 0.3), ("gevent", 2.0)]
                         for p in (False, True)])
    table = switching.beside_published(switching.summarize(runs))
    assert len(table) == len(switching.PUBLISHED)
    sentences = switching.published_sentences(table)
    assert len(sentences) == len(table) and all(isinstance(s, str) and s for s in sentences)


def test_server_sweep_refuses_bad_input_before_any_server_starts():
    before = live_children()
    with pytest.raises((TypeError, ValueError)):
        switching.server_sweep([0], requests_for=lambda c: 10)
    with pytest.raises(ValueError, match="loop"):
        switching.server_sweep([10], requests_for=lambda c: 10, loops=("trio",))
    assert live_children() <= before


def test_server_sweep_pairs_the_loops_and_gives_the_cores_back():
    import os

    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    sweep = switching.server_sweep([5], requests_for=lambda c: 200, repeats=2)
    assert len(sweep) == 4 and set(sweep["loop"]) == {"asyncio", "uvloop"} and (sweep["errors"] == 0).all()
    assert list(sweep["loop"]) == ["asyncio", "uvloop", "uvloop", "asyncio"]  # the order alternates
    if before is not None:
        assert os.sched_getaffinity(0) == before
        if len(before) >= 2:
            assert sweep.attrs["limits"]["pinned"]["server_cpu"] == max(before)
    assert switching.loop_ratio(sweep)["pairs"].tolist() == [2]


def test_the_probe_prints_one_json_line():
    p = subprocess.run([sys.executable, "-m", switching.PROBE, "switch", "greenlet", "--seconds", str(TINY)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["kind"] == "greenlet"
