"""Shared ending of the scripts/flips_*.py stability scripts.

Each script runs one notebook experiment and its decision N times in quick
mode (the notebook's own helper code and sizes), prints one line per run, and
ends with ``report(outcomes)``: how many runs differ from the most common
outcome. A verdict is stable when that count is zero. ``cli(main, default)``
reads N from the command line.
"""

from __future__ import annotations

import sys
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


def cli(main: Callable[[int], int], default: int) -> None:
    """Run ``main(N)`` with N from argv[1] (default ``default``) and exit with its status."""
    try:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else default
    except ValueError:
        sys.exit(f"usage: {sys.argv[0]} [N]   (N: how many runs, a positive integer)")
    if n < 1:
        sys.exit("N must be at least 1")
    sys.exit(main(n))
