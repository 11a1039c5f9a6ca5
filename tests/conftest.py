import os

import pytest

# Unit tests run in quick mode unless told otherwise.
os.environ.setdefault("COURSE_MODE", "quick")


@pytest.fixture(scope="session")
def slow_service():
    from helpers.servers.slow import SlowService

    with SlowService(key="tests-shared") as svc:
        yield svc
