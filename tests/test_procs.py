import sys
import time

import psutil
import pytest

from helpers.core.procs import ManagedProcess

# A parent that starts a child of its own, says READY, then sleeps.
FAMILY = (
    "import subprocess, sys, time;"
    "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
    "print('READY child=%d' % c.pid, flush=True); time.sleep(60)"
)


def family(key="t-family", **kw):
    return ManagedProcess([sys.executable, "-c", FAMILY], key=key, ready_pattern=r"READY child=(\d+)", **kw)


def gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_stops_the_whole_family_on_exit():
    with family() as mp:
        parent, child = mp.pid, int(mp.match.group(1))
        assert psutil.pid_exists(child)
    assert gone(parent) and gone(child)
    assert not mp.alive()


def test_stops_on_an_exception_inside_the_block():
    with pytest.raises(KeyError):
        with family() as mp:
            pid = mp.pid
            raise KeyError("boom")
    assert gone(pid)


def test_a_rerun_stops_the_previous_instance():
    first = family(key="t-rerun")
    first.start()
    old = first.pid
    second = family(key="t-rerun")
    second.start()
    try:
        assert gone(old)
        assert second.alive()
    finally:
        second.stop()
        first.stop()  # harmless twice


def test_early_exit_is_reported_with_its_output():
    mp = ManagedProcess([sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"],
                        key="t-early", ready_pattern="READY")
    with pytest.raises(RuntimeError, match="(?s)code 3.*no config here"):
        mp.start()
    assert not mp.alive()


def test_startup_timeout_kills_the_process():
    mp = ManagedProcess([sys.executable, "-c", "import time; print('starting'); time.sleep(60)"],
                        key="t-timeout", ready_pattern="READY", startup_timeout_s=0.5)
    with pytest.raises(TimeoutError, match="starting"):
        mp.start()
    assert mp.proc is None


def test_bad_arguments_start_nothing():
    with pytest.raises(TypeError):
        ManagedProcess([], key="x", ready_pattern="READY")
    with pytest.raises(ValueError):
        ManagedProcess(["true"], key="x", ready_pattern="READY", startup_timeout_s=0)


def test_a_failing_readiness_hook_stops_the_process():
    class Picky(ManagedProcess):
        def after_ready(self, match):
            raise ConnectionError("probe failed")

    mp = Picky([sys.executable, "-c", FAMILY], key="t-picky", ready_pattern=r"READY child=(\d+)")
    with pytest.raises(ConnectionError):
        mp.start()
    assert mp.proc is None


def test_open_file_limit_is_raised_within_the_hard_limit():
    from helpers.core.system import raise_open_file_limit

    soft, hard = raise_open_file_limit(64)
    assert soft >= 64 or soft == -1
    if hard not in (-1,):
        soft2, hard2 = raise_open_file_limit(10**9)  # asks too much: capped, never raises
        assert hard2 == hard and soft2 <= max(hard, 65536)


def test_live_children_sees_a_child_until_it_is_reaped():
    import subprocess
    import sys

    from helpers.core.procs import live_children

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in live_children()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.pid not in live_children()
