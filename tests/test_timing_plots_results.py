import time

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers.core import models, plots, results, system, timing  # noqa: E402
from helpers.lessons import simul  # noqa: E402


def test_timer_separates_waiting_from_working():
    with timing.Timer() as t:
        time.sleep(0.05)
    assert t.wall_s >= 0.05 and t.cpu_s < 0.03 and t.idle_share > 0.5
    assert set(t.as_dict()) == {"wall_s", "cpu_s", "idle_share"}


def test_repeat_and_median():
    df = timing.repeat(lambda: time.sleep(0.01), repeats=3, warmup=1)
    assert list(df["run"]) == [0, 1, 2] and (df["wall_s"] >= 0.01).all()
    assert timing.median_time(lambda: None, repeats=3) < 0.01
    with pytest.raises(ValueError):
        timing.repeat(lambda: None, repeats=0)


def test_summarize_percentiles_and_throughput():
    df = pd.DataFrame({
        "t_send": [0.0] * 100,
        "t_done": [i / 100 for i in range(1, 101)],
        "latency_s": [i / 100 for i in range(1, 101)],
        "error": [None] * 99 + ["Timeout"],
        "group": ["a", "b"] * 50,
    })
    s = timing.summarize(df).iloc[0]
    assert s["requests"] == 100 and s["errors"] == 1
    assert s["duration_s"] == pytest.approx(1.0) and s["throughput_rps"] == pytest.approx(99.0)
    assert s["p50_ms"] == pytest.approx(500.0) and s["max_ms"] == pytest.approx(990.0)
    by = timing.summarize(df, by="group")
    assert list(by["group"]) == ["a", "b"] and by["requests"].sum() == 100
    with pytest.raises(ValueError, match="t_done"):
        timing.summarize(pd.DataFrame({"t_send": [0]}))


def test_plots_draw_one_bar_per_request_and_leave_rcparams_alone():
    before = dict(matplotlib.rcParams)
    df = pd.DataFrame({"client": [0, 1, 0], "t_send": [0, 0, 1.0], "server_start": [0.1, 0.1, 1.1],
                       "server_end": [1.0, 1.0, 2.0], "t_done": [1.0, 1.0, 2.0]})
    ax = plots.timeline(df, lane="client")
    assert len(ax.patches) == 6  # waiting + served for each request
    ax2 = plots.sweep(pd.DataFrame({"n": [1, 2, 4], "t": [0.1, 0.2, 0.4]}), "n", "t", model=lambda n: n / 10)
    assert len(ax2.lines) == 2
    ax3 = plots.bars(pd.Series({"a": 1.0, "b": 2.0}))
    assert len(ax3.patches) == 2
    plt.close("all")
    assert dict(matplotlib.rcParams) == before
    with pytest.raises(ValueError, match="lanes"):
        plots.timeline(df, lane="worker")


def test_simul_runs_and_matches_its_model():
    import asyncio

    kw = dict(boards=4, move_pairs=2, scale=0.0005)
    s = simul.play_sync(**kw)
    a = asyncio.run(simul.play_async(**kw))
    assert len(s) == len(a) == 4 * 2 * 2 and set(a["who"]) == {"master", "opponent"}
    # async finishes much sooner, and never sooner than its model allows
    assert a["end"].max() < s["end"].max()
    assert a["story_end_s"].max() >= 0.95 * models.simul_time(4, 2, 5, 55, "async")
    with pytest.raises(ValueError, match="scale"):
        simul.play_sync(scale=0)


def test_system_report():
    rep = system.report()
    assert {"python", "gil_enabled", "package pandas"} <= set(rep["item"])
    assert isinstance(system.problems(), list)


def test_results_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    df = pd.DataFrame({"n": [1, 2], "wall_s": [0.1, 0.2]})
    df.attrs["limits"] = {"concurrency": 2}
    path = results.save(df, "unit-test")
    back = results.load("unit-test")
    assert path.exists() and back.equals(df) and back.attrs["limits"] == {"concurrency": 2}
    with pytest.raises(ValueError):
        results.save(df, "../escape")
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        results.load("missing")


def test_diagram_pieces_draw_and_refuse_unknown_kinds():
    import matplotlib.pyplot as plt
    import pytest

    from helpers.core import diagrams

    ax = diagrams.canvas(6, 3, title="t")
    diagrams.box(ax, 0.2, 0.2, 2, 1, "master", kind="process")
    diagrams.arrow(ax, (2.2, 0.7), (4, 0.7), "accept()")
    diagrams.label(ax, 4.2, 0.7, "note")
    assert len(ax.patches) == 2 and len(ax.texts) == 3
    with pytest.raises(ValueError, match="kind must be one of"):
        diagrams.box(ax, 0, 0, 1, 1, kind="blob")
    plt.close("all")


def test_progress_modes(monkeypatch):
    import pytest

    from helpers.core import progress

    monkeypatch.setenv("COURSE_PROGRESS", "off")
    assert progress.kind() == "off"
    assert list(progress.bar(range(3), desc="x")) == [0, 1, 2]  # a disabled bar still iterates
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    assert progress.kind() == "text"
    monkeypatch.setenv("COURSE_PROGRESS", "auto")
    assert progress.kind() == "text"  # not in a Jupyter kernel here
    monkeypatch.setenv("COURSE_PROGRESS", "widgets")
    with pytest.raises(ValueError, match="COURSE_PROGRESS must be one of"):
        progress.bar(range(2))
