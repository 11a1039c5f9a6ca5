"""Shared ending of the scripts/flips_*.py stability scripts.

Each script runs one notebook experiment and its decision N times in quick
mode (the notebook's own helper code and sizes), prints one line per run, and
ends with ``report(outcomes)``: how many runs differ from the most common
outcome (``repeat(n, once)`` does the loop, the lines and the report). A verdict is stable when that count is zero. ``cli(main, default)``
reads N from the command line.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Callable, Hashable, Sequence


def report(outcomes: Sequence[Hashable], label: str = "outcomes") -> int:
    """Print the outcomes' counts and the number of flips (after ``label``); returns 0 (the exit status)."""
    if not outcomes:
        print(f"{label}: no runs")
        return 0
    counts = Counter(outcomes)
    common, n_common = counts.most_common(1)[0]
    print(f"{label}: {dict(counts)}; flips (runs not {common!r}): {len(outcomes) - n_common} of {len(outcomes)}")
    return 0


def repeat(n: int, once: Callable[[], tuple[Hashable, str]], label: str = "outcomes") -> int:
    """Call ``once()`` ``n`` times; it returns (outcome, a line of figures). Print one line per run, then
    ``report``; returns 0."""
    outcomes = []
    for k in range(n):
        t0 = time.perf_counter()
        outcome, detail = once()
        outcomes.append(outcome)
        print(f"run {k + 1:2d}: {outcome!s:28s} {detail}  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return report(outcomes, label)


def cli(main: Callable[[int], int], default: int) -> None:
    """Run ``main(N)`` with N from argv[1] (default ``default``) and exit with its status."""
    try:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else default
    except ValueError:
        sys.exit(f"usage: {sys.argv[0]} [N]   (N: how many runs, a positive integer)")
    if n < 1:
        sys.exit("N must be at least 1")
    sys.exit(main(n))
