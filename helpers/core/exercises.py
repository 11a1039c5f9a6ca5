"""The exercises: each one's answer, hint and checker, kept here, out of the learner's sight.

A notebook's exercise cell holds only the learner's answer and one call:

    my_answer = None   # seconds
    exercises.check("00-batch", my_answer)

The expected answer is computed from the course's models (or from a value
the notebook measured, passed by name), never typed in, and never shown in
the cell. ``check`` prints feedback that teaches (too high / too low, a nudge
when the answer is off by a unit factor such as ms for s, a clear message for
text or a wrong type, the hint) and returns nothing, so no stray True/False
appears under it. ``feedback`` returns the same as a value (for the tests);
``hint`` and ``solution`` print the hint and the worked answer on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from . import models


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``answer(**given)`` computes the expected value from the models."""

    id: str
    unit: str
    answer: Callable[..., float]
    hint: str
    solution: str            # the reasoning, printed by ``solution()``; may use {expected} and given names
    exact: bool = False      # a whole number that must match exactly (else within ``tolerance``)
    tolerance: float = 0.15  # relative, for answers that are not exact
    given: tuple[str, ...] = ()  # measured values the notebook passes by name
    scale: str = "none"      # "time": also nudge on a factor 1000 (ms vs s); "share": on a factor 100 (%)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Feedback:
    status: str   # "empty", "type", "unit", "high", "low", "right"
    message: str

    @property
    def right(self) -> bool:
        return self.status == "right"


EXERCISES: dict[str, Exercise] = {}


def _add(ex: Exercise) -> None:
    if ex.id in EXERCISES:
        raise ValueError(f"exercise {ex.id!r} defined twice")
    EXERCISES[ex.id] = ex


def _smallest(pred: Callable[[int], bool], limit: int = 10_000) -> int:
    return next(n for n in range(1, limit) if pred(n))


# ---- 00 -----------------------------------------------------------------------------------------
_add(Exercise(
    "00-throughput", "requests/s",
    lambda: models.closed_loop(50, 4, 0.100)["throughput_rps"],
    hint="each worker finishes one 100 ms request at a time: how many is that per second, per worker?",
    solution="one worker serves 1 / 0.1 s = 10 requests per second; four serve {expected:g} whatever the "
             "number of clients beyond four (the others wait).", scale="none"))
_add(Exercise(
    "00-batch", "s", lambda: models.batch_time(8, 4, 0.100),
    hint="four requests run at a time: how many rounds of 100 ms do eight need?",
    solution="8 requests, 4 at a time: ceil(8 / 4) = 2 rounds of 0.1 s = {expected:g} s.", scale="time"))
# ---- 01 -----------------------------------------------------------------------------------------
_add(Exercise(
    "01-sequential", "s", lambda: models.sequential_time(6, 0.080),
    hint="one after another, each waits its whole latency before the next starts.",
    solution="6 requests x 0.08 s each, one after another: {expected:g} s.", scale="time"))
_add(Exercise(
    "01-simul-boards", "boards",
    lambda master_s, opponent_s: _smallest(
        lambda b: models.simul_time(b, 2, master_s, opponent_s, "async") == b * 2 * master_s + opponent_s),
    exact=True, given=("master_s", "opponent_s"),
    hint="she never waits once one round of the room (a move on every board) lasts at least as long as one "
         "move pair on a board: her move plus the opponent's reply.",
    solution="a round of b boards takes b x master_s; a board is ready again after master_s + opponent_s; "
             "the smallest b with b x {master_s:g} >= {master_s:g} + {opponent_s:g} is {expected:g}."))
_add(Exercise(
    "01-cpu-idle-share", "", lambda idle_share: idle_share, given=("idle_share",),
    scale="share",
    hint="the server burns the CPU, not us: while it computes, what is our process doing?",
    solution="our process only waits for the answers: idle {expected:.2f} of the time (measured); the CPU "
             "that burns is the server's, in another process."))
# ---- 02 -----------------------------------------------------------------------------------------
_add(Exercise(
    "02-batch", "s", lambda: models.batch_time(7, 3, 0.100),
    hint="three at a time: count the rounds, and remember that a last, partial round takes a whole latency.",
    solution="7 requests, 3 at a time: ceil(7 / 3) = 3 rounds of 0.1 s = {expected:g} s.", scale="time"))
_add(Exercise(
    "02-speedup", "x", lambda cores: models.speedup_ideal(3, cores), exact=True, given=("cores",),
    hint="a process can use one core at a time; how many cores may Python use here (section 0)?",
    solution="3 processes on {cores} usable cores: at most min(3, {cores}) = {expected:g} times faster."))
_add(Exercise(
    "02-memory", "MB", lambda uss_mb_per_worker: 50 * uss_mb_per_worker, given=("uss_mb_per_worker",),
    hint="USS is what a process alone holds: what one worker adds, fifty times.",
    solution="50 x {uss_mb_per_worker:.1f} MB (the USS measured per worker) = {expected:.0f} MB."))
# ---- 03 -----------------------------------------------------------------------------------------
_add(Exercise(
    "03-workers", "workers",
    lambda: _smallest(lambda w: models.closed_loop(30, w, 0.100)["latency_s"] <= 0.150 + 1e-9),
    exact=True,
    hint="with W workers and 30 clients, the average request takes 0.1 s x 30 / W once clients outnumber "
         "workers: solve for W.",
    solution="the mean latency is 0.1 s x 30 / W; it is at most 0.15 s from W = 30 x 0.1 / 0.15 = {expected:g}."))
_add(Exercise(
    "03-throughput", "requests/s", lambda: models.closed_loop(12, 3, 0.100)["throughput_rps"],
    hint="the clients outnumber the workers, so the workers are always busy: how many requests does each "
         "finish per second?",
    solution="3 workers always busy, 1 / 0.1 s = 10 requests per second each: {expected:g} requests/s."))
_add(Exercise(
    "03-threads", "threads", lambda: 8 / 2, exact=True,
    hint="capacity is workers x threads: 2 x t must equal 8 x 1.",
    solution="8 sync workers hold 8 requests at once; 2 workers x {expected:g} threads hold as many."))
# ---- 04 -----------------------------------------------------------------------------------------
_add(Exercise(
    "04-hidden-cap", "s", lambda limit: models.batch_time(250, limit, 0.200), given=("limit",),
    hint="the session sends at most its connection limit at a time (section 3 measured it): count the rounds.",
    solution="250 requests, {limit} at a time: ceil(250 / {limit}) rounds of 0.2 s = {expected:g} s.",
    scale="time"))
_add(Exercise(
    "04-db-pool", "s", lambda: models.batch_time(60, 8, 0.030), tolerance=0.2,
    hint="the pool lets 8 queries run at a time: the handlers wait their turn in rounds of one query.",
    solution="60 queries, 8 connections: ceil(60 / 8) = 8 rounds of 0.03 s = {expected:g} s.", scale="time"))


def _number(answer: Any) -> tuple[float | None, str | None]:
    """The answer as a float, or a message saying why it is not one."""
    if isinstance(answer, bool):
        return None, f"{answer} is a yes/no value; this exercise wants a number."
    if isinstance(answer, str):
        try:
            value = float(answer.strip())
        except ValueError:
            return None, (f"your answer is the text {answer!r}; write a number without quotes, "
                          f"for example my_answer = 0.5")
        return None, f"your answer is the text {answer!r}; write it without quotes: my_answer = {value:g}"
    if isinstance(answer, (list, tuple, set, dict)):
        return None, "one number please, not a collection of them."
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None, f"your answer should be a number, not a {type(answer).__name__}."
    if not math.isfinite(value):
        return None, f"{answer} is not a finite number."
    return value, None


def _get(exercise_id: str) -> Exercise:
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}") from None


def expected(exercise_id: str, **given: Any) -> float:
    """The expected answer (for the tests and ``solution``: the notebooks never print it before a try)."""
    ex = _get(exercise_id)
    missing = [g for g in ex.given if g not in given]
    extra = [g for g in given if g not in ex.given]
    if missing or extra:
        raise TypeError(f"exercise {exercise_id!r} needs the measured value(s) {', '.join(ex.given) or 'none'}"
                        + (f"; missing {', '.join(missing)}" if missing else "")
                        + (f"; unknown {', '.join(extra)}" if extra else ""))
    return float(ex.answer(**given))


def _close(a: float, b: float, ex: Exercise) -> bool:
    if ex.exact:
        return abs(a - b) < 1e-9 * max(1.0, abs(b))
    return abs(a - b) <= ex.tolerance * abs(b) + 1e-12


def feedback(exercise_id: str, answer: Any, **given: Any) -> Feedback:
    """Judge ``answer``; see the module's docstring."""
    ex = _get(exercise_id)
    want = expected(exercise_id, **given)
    u = f" {ex.unit}" if ex.unit else ""
    if answer is None:
        return Feedback("empty", "No answer yet: replace None with your prediction and run this cell again.")
    value, problem = _number(answer)
    if problem:
        return Feedback("type", problem)
    if _close(value, want, ex):
        if ex.exact:
            return Feedback("right", f"Right: {value:g}{u}.")
        return Feedback("right", f"Right: {value:g}{u} (the model's answer is {want:.3g}{u}; "
                                 f"anything within {ex.tolerance:.0%} counts).")
    factors = {"time": (1000, "milliseconds for seconds"), "share": (100, "a percentage for a share from 0 to 1")}
    if ex.scale in factors:
        f, what = factors[ex.scale]
        if want and (_close(value / f, want, ex) or _close(value * f, want, ex)):
            return Feedback("unit", f"Close, but off by a factor of {f}: did you give {what}? The answer is "
                                    f"wanted in {ex.unit or 'a share from 0 to 1'}.")
    side = "high" if value > want else "low"
    return Feedback(side, f"Not yet: {value:g}{u} is too {side}. Hint: {ex.hint}")


def check(exercise_id: str, answer: Any, **given: Any) -> None:
    """Print the feedback for ``answer`` (returns nothing: the message is the result)."""
    print(feedback(exercise_id, answer, **given).message)


def hint(exercise_id: str) -> None:
    """Print the exercise's hint."""
    print(f"Hint: {_get(exercise_id).hint}")


def solution(exercise_id: str, **given: Any) -> None:
    """Print the worked answer (for when you are stuck, or after you got it)."""
    ex = _get(exercise_id)
    print(ex.solution.format(expected=expected(exercise_id, **given), **given))


def compare(answer: Any, expected_value: float, *, tolerance: float = 0.15, unit: str = "") -> bool | None:
    """Compare ``answer`` with a value measured or computed in a lesson module (05, 06 use it).

    Prints one line; returns True, False, or None (no answer yet). A wrong type is a clear
    message (and False), not a traceback.
    """
    if not (0 <= tolerance < 1):
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    if answer is None:
        print("No answer yet: replace None with your prediction and run this cell again.")
        return None
    value, problem = _number(answer)
    if problem:
        print(problem)
        return False
    u = f" {unit}" if unit else ""
    ok = abs(value - expected_value) <= tolerance * abs(expected_value) + 1e-12
    if ok and tolerance == 0:
        print(f"Right: {value:g}{u}.")
    elif ok:
        print(f"Right: {value:g}{u} is within {tolerance:.0%} of {expected_value:.4g}{u}.")
    else:
        side = "high" if value > expected_value else "low"
        print(f"Not yet: {value:g}{u} is too {side}. Think again, or see the hint.")
    return ok
