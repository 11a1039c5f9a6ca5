import os
import time

import psutil
import pytest

# Unit tests run in quick mode unless told otherwise.
os.environ.setdefault("COURSE_MODE", "quick")


@pytest.fixture(scope="session")
def slow_service():
    from helpers.servers.slow import SlowService

    with SlowService(key="tests-shared") as svc:
        yield svc


@pytest.fixture
def no_leftovers():
    """Fail the test if it leaves a child process behind (given five seconds to exit)."""
    from helpers.core.procs import live_children

    before = live_children()
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = live_children() - before
        if not left:
            return
        time.sleep(0.05)
    names = []
    for pid in left:
        try:
            names.append(psutil.Process(pid).cmdline())
        except psutil.NoSuchProcess:
            pass
    pytest.fail(f"processes left behind: {names}")
