"""helpers.lessons.greenlets and its patched children (helpers.lessons.gevent_child).

Every child kind runs here with tiny sizes; bad input is refused before a
child starts; no child outlives its call; and nothing is ever patched in this
(the test) process.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from helpers.lessons import greenlets

CHILD_FILE = Path(greenlets.__file__).with_name("gevent_child.py")


def no_children():
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE and "slow_server" not in " ".join(p.cmdline())]


@pytest.fixture(autouse=True)
def never_patched_and_nothing_left():
    yield
    import gevent.monkey

    assert not gevent.monkey.is_anything_patched(), "something patched the test process"
    assert not greenlets.anything_patched()
    assert not no_children(), f"children left behind: {[p.cmdline() for p in no_children()]}"


@pytest.fixture(scope="module")
def svc():
    from helpers.servers import SlowService

    with SlowService(key="tests-greenlets") as s:
        yield s


# -- the child file's own rules ------------------------------------------------------

def test_the_child_patches_first_and_decides_from_argv_alone():
    tree = ast.parse(CHILD_FILE.read_text())
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    # before the patch: only `import sys`, constants, the argv parser and the decision
    first = body[0]
    assert isinstance(first, ast.Import) and [a.name for a in first.names] == ["sys"]
    patch_if = next(n for n in body if isinstance(n, ast.If))
    before = body[:body.index(patch_if)]
    assert all(isinstance(n, (ast.Assign, ast.FunctionDef)) or n is first for n in before)
    src = ast.unparse(patch_if)
    assert "from gevent import monkey" in src and "monkey.patch_all(**_OPTIONS)" in src
    assert "PATCHED_KINDS" in src


def test_scenario_and_option_lists_agree_with_the_child():
    from helpers.lessons import gevent_child

    assert greenlets.LAG_SCENARIOS == gevent_child.LAG_SCENARIOS
    assert greenlets.PATCH_OFF_OPTIONS == gevent_child.PATCH_OPTIONS
    assert set(gevent_child.KINDS) == {"fetch", "patches", "late", "lag", "cost"}


def test_importing_the_child_module_patches_nothing():
    from helpers.lessons import gevent_child  # noqa: F401  (the fixture checks nothing was patched)


def test_unknown_kind_and_option_fail_clearly():
    for args, needle in ((["nonsense"], "KIND is one of"), (["fetch", "--no-everything"], "unknown patch option")):
        r = subprocess.run([sys.executable, "-m", "helpers.lessons.gevent_child", *args], input="{}",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and needle in r.stderr, r.stderr


# -- 1 and 2: in this process, unpatched ---------------------------------------------

def test_ping_pong_alternates_and_ends_both():
    tr = greenlets.ping_pong(rounds=2, work_ms=2)
    assert greenlets.running_overlaps(tr) == 0
    run = tr[tr["state"] == "running"]
    assert list(run["greenlet"]) == ["A", "B", "A", "B"]
    assert tr.attrs["switches"] == 4 and tr.attrs["hand_over_is_coroutine"] is False


def test_sleepers_gevent_overlaps_time_sleep_serialises():
    df = greenlets.sleepers(n=3, ms=40)
    wall = df.attrs["wall_s"]
    assert wall["gevent.sleep"] < 0.1
    assert wall["time.sleep (not patched)"] >= 0.11
    assert len(df) == 6


# -- 3: the same function --------------------------------------------------------------

def test_three_ways_same_source_and_shapes(svc):
    runs = greenlets.three_ways(svc.url("/io", ms=50), 4, threads=2, progress=False)
    s = greenlets.summary(runs, 0.05)
    assert s["source_sha256"].nunique() == 1
    assert s["source_sha256"].iloc[0] == greenlets.source_id()["source_sha256"][:12]
    assert (s["errors"] == 0).all()
    assert s["latencies"].iloc[0] > 3.5          # plain: 4 in a row
    assert s["latencies"].iloc[2] < 2.0          # gevent: together
    assert s["peak_in_flight"].tolist()[0] == 1
    gev = runs[s.index[2]].attrs["limits"]
    assert gev["patched"]["socket"] and gev["pool_maxsize"] == 4


def test_fetch_gevent_with_time_off_and_default_pool(svc):
    df = greenlets.fetch_gevent(svc.url("/io", ms=30), 12, off=("time",), pool_maxsize=None)
    lim = df.attrs["limits"]
    assert lim["patched"]["time"] is False and lim["patched"]["socket"] is True
    assert lim["pool_maxsize"] == 10 and lim["pool_full_warnings"] >= 1
    assert df.attrs["wall_s"] < 0.3


# -- 4: what patching swaps ---------------------------------------------------------------

def test_patch_record_and_late_patch():
    rec = greenlets.patch_record()
    assert rec.loc["socket.socket", "replaced"] and rec.loc["time.sleep", "after"] == "gevent.hub.sleep"
    assert not rec.loc["json.loads", "replaced"]
    assert (rec["replaced"] == rec["gevent_says_patched"]).all()
    assert greenlets.patch_record(off=("time",)).loc["time.sleep", "replaced"] == False  # noqa: E712
    late = greenlets.late_patch(n=3, ms=20)
    assert late["warned"] and "MonkeyPatchWarning" in late["stderr"]
    assert late["early_sleep_s"] >= 0.055 and late["time_sleep_s"] < 0.05
    assert any("MonkeyPatchWarning" in line for line in greenlets.warning_lines(late["stderr"]))


# -- 6 and 7: lag and cost -------------------------------------------------------------------

def test_hub_lag_stalls_and_fixes():
    lag = greenlets.hub_lag(60, interval_ms=5, scenarios=["gevent.sleep", "libc sleep (ctypes)",
                                                          "libc sleep in gevent's threadpool",
                                                          "CPU in a process pool"])
    t = greenlets.lag_table(lag)
    assert t.loc["libc sleep (ctypes)", "max_lag_ms"] > 40
    assert t.loc["gevent.sleep", "max_lag_ms"] < 30
    assert t.loc["libc sleep in gevent's threadpool", "max_lag_ms"] < 30
    assert t.loc["CPU in a process pool", "max_lag_ms"] < 30
    assert lag.attrs["process_pool"].endswith("fork")


def test_parked_cost_slopes():
    g = greenlets.parked_cost("greenlet", [200, 400])
    t = greenlets.parked_cost("thread", [20, 40])
    assert list(g["count"]) == [0, 200, 400] and list(t["count"]) == [0, 20, 40]
    u = greenlets.per_unit(g)
    assert 0 < u["kib_each"] < 200 and u["create_us"] > 0
    assert g.attrs["stack_saved_mean_bytes"] > 0
    assert greenlets.expected_memory_mb(g, 1024) == pytest.approx(u["kib_each"])


# -- bad input: refused before anything starts --------------------------------------------------

@pytest.mark.parametrize("call, exc", [
    (lambda: greenlets.fetch_plain("http://example.com/", 3), ValueError),
    (lambda: greenlets.fetch_gevent("http://127.0.0.1:1/io", 0), ValueError),
    (lambda: greenlets.fetch_gevent("http://127.0.0.1:1/io", 3, off=("everything",)), ValueError),
    (lambda: greenlets.fetch_threads("http://127.0.0.1:1/io", 3, threads=0), ValueError),
    (lambda: greenlets.hub_lag(0), ValueError),
    (lambda: greenlets.hub_lag(50, scenarios=["nap"]), ValueError),
    (lambda: greenlets.hub_lag(50, scenarios=[]), ValueError),
    (lambda: greenlets.parked_cost("process", [1, 2]), ValueError),
    (lambda: greenlets.parked_cost("greenlet", [5, 2]), ValueError),
    (lambda: greenlets.parked_cost("thread", [1, 10**6]), ValueError),
    (lambda: greenlets.ping_pong(rounds=0), ValueError),
    (lambda: greenlets.sleepers(n="5"), TypeError),
    (lambda: greenlets.late_patch(ms=-1), ValueError),
    (lambda: greenlets.serve_all([], upstream="http://127.0.0.1:1", ms=10, requests=10), ValueError),
    (lambda: greenlets.serve_all([{"kind": "tornado", "label": "x"}], upstream="http://127.0.0.1:1", ms=10,
                                 requests=10), ValueError),
    (lambda: greenlets.check_patch_prediction(1, off="ssl"), ValueError),
    (lambda: greenlets.check_patch_prediction("one", off="time"), TypeError),
])
def test_bad_input_raises_before_starting(call, exc):
    with pytest.raises(exc):
        call()


def test_a_failing_child_raises_with_its_error():
    with pytest.raises(RuntimeError, match="cost: what must be"):
        greenlets._child("cost", {"what": "fiber", "counts": [1, 2]}, timeout_s=60)


# -- the exercise checkers' feedback -------------------------------------------------------------

def test_patch_prediction_feedback(capsys):
    assert greenlets.check_patch_prediction(None, off="socket") is None
    assert "No answer yet" in capsys.readouterr().out
    assert greenlets.check_patch_prediction(1, off="time", n=6, ms=200) is True  # long enough that start-up is not a latency
    assert "Right" in capsys.readouterr().out
    assert greenlets.check_patch_prediction(1, off="socket", n=6, ms=200) is False
    out = capsys.readouterr().out
    assert "Not yet" in out and "Hint" in out and "socket=False" in out


def test_memory_prediction_feedback(capsys):
    import pandas as pd

    cost = pd.DataFrame({"count": [0, 1000, 2000], "rss_mb": [10.0, 14.0, 18.0], "create_us": [0.0, 5.0, 5.0]})
    # 4 MB per 1000 -> 4 KiB each... exactly 4.096 KiB: 10,000 of them are 40 MB
    assert greenlets.expected_memory_mb(cost, 10_000) == pytest.approx(40.0)
    assert greenlets.check_memory_prediction(40, cost, 10_000) is True
    assert greenlets.check_memory_prediction(400, cost, 10_000) is False
    assert "Hint" in capsys.readouterr().out
    assert greenlets.check_memory_prediction(None, cost, 10_000) is None


def test_greenlet_family_looks_without_installing():
    fam = greenlets.greenlet_family()
    assert fam.loc["gevent", "installed"] and fam.loc["gevent", "gunicorn_worker"] == True  # noqa: E712
    assert set(fam.index) == {"greenlet", "gevent", "eventlet", "meinheld"}
    assert "-" in fam.attrs["supported_pythons"]


def test_child_output_is_one_json_line():
    r = subprocess.run([sys.executable, "-m", "helpers.lessons.gevent_child", "patches"], input="",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["anything_patched"] is True
