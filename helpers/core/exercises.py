"""Self-checks for the exercises: the learner writes an answer, a cell checks it.

``check(answer, expected, tolerance=0.15)`` prints one line and returns True,
False, or None (no answer yet). The expected value is always computed from a
model or a fresh measurement, never typed in.
"""

from __future__ import annotations


def check(answer: float | None, expected: float, *, tolerance: float = 0.15, unit: str = "") -> bool | None:
    """Compare ``answer`` with ``expected`` within a relative ``tolerance``."""
    if answer is None:
        print("No answer yet: replace None with your prediction and run this cell again.")
        return None
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise TypeError(f"your answer should be a number, not {type(answer).__name__}")
    if not (0 <= tolerance < 1):
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    ok = abs(answer - expected) <= tolerance * abs(expected) + 1e-12
    u = f" {unit}" if unit else ""
    if ok:
        print(f"Correct: {answer:g}{u} is within {tolerance:.0%} of {expected:.4g}{u}.")
    else:
        print(f"Not yet: {answer:g}{u} is not within {tolerance:.0%} of the answer. Think again, or see the hint.")
    return ok
