"""Quick and full mode: one switch that scales every experiment.

Set the environment variable ``COURSE_MODE`` to ``quick`` (tests, CI, a
classroom in a hurry) or ``full`` (the default, for learners). Verdicts must
come out the same in both modes; only the sizes of the experiments change.
"""

from __future__ import annotations

import os
from typing import TypeVar

MODE_ENV = "COURSE_MODE"
MODES = ("full", "quick")

T = TypeVar("T")


def mode() -> str:
    """Return the current mode, ``"full"`` or ``"quick"``.

    Raises ValueError if ``COURSE_MODE`` holds anything else, so a typo is
    caught instead of silently running the wrong size.
    """
    value = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(f"{MODE_ENV}={value!r} is not a mode; use one of {', '.join(MODES)}")
    return value


def is_quick() -> bool:
    """True in quick mode."""
    return mode() == "quick"


def pick(full: T, quick: T) -> T:
    """Return ``full`` in full mode and ``quick`` in quick mode."""
    return quick if is_quick() else full
