"""Predictions asked before an experiment, shown beside what it measured.

In a notebook::

    my_prediction = None   # requests/s: type a number before you run the experiment
    ...the experiment...
    predictions.show(my_prediction, measured=rps, model=model_rps, unit="requests/s")

or, for a choice::

    my_prediction = None   # pick one of: "faster", "same", "slower"
    predictions.show_choice(my_prediction, options=("faster", "same", "slower"), measured="same")

Left at ``None`` the experiment still runs and the line says that no
prediction was made. A prediction that is not a number (or not one of the
options) gets a message, never a traceback. The functions print one line and
return nothing, so a cell ending in one shows no stray value. They are
neither checks nor verdicts: nothing is booked in the ledger.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["line", "show", "choice_line", "show_choice"]


def _fmt(x: float, unit: str) -> str:
    u = unit if unit in ("", "x", "%") else f" {unit}"
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.3g}{u}" if abs(x) < 100 else f"{x:,.0f}{u}"
    return f"{x:.3g}{u}"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np
            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                return float(value)
        except ImportError:  # pragma: no cover - numpy ships with pandas
            pass
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def line(prediction: Any, *, measured: float, model: float | None = None, unit: str = "") -> str:
    """One sentence: your prediction, the measurement, the model (if any), and how far apart they are."""
    m = _as_number(measured)
    if m is None:
        raise ValueError(f"measured must be a finite number, got {measured!r}")
    parts = [f"measured {_fmt(m, unit)}"]
    if model is not None:
        mod = _as_number(model)
        if mod is None:
            raise ValueError(f"model must be a finite number or None, got {model!r}")
        parts.append(f"the model said {_fmt(mod, unit)}")
    if prediction is None:
        return "No prediction made (set my_prediction before the run next time): " + "; ".join(parts) + "."
    p = _as_number(prediction)
    if p is None:
        return (f"Your prediction {prediction!r} is not a number (type it without quotes or units, e.g. 42): "
                + "; ".join(parts) + ".")
    if m != 0:
        ratio = p / m
        rel = (f"your guess was {ratio:.2g}x the measurement" if not 0.9 <= ratio <= 1.1
               else "your guess was within 10 % of the measurement")
    else:
        rel = "the measurement was zero"
    return f"You predicted {_fmt(p, unit)}; " + "; ".join(parts) + f": {rel}."


def show(prediction: Any, *, measured: float, model: float | None = None, unit: str = "") -> None:
    """Print ``line(...)``; returns nothing."""
    print(line(prediction, measured=measured, model=model, unit=unit))


def choice_line(prediction: Any, *, options: Sequence[str], measured: str) -> str:
    """One sentence for a multiple-choice prediction: which option the run landed on, and yours."""
    opts = [str(o) for o in options]
    if measured not in opts:
        raise ValueError(f"measured must be one of {opts}, got {measured!r}")
    if prediction is None:
        return f"No prediction made (pick one of {', '.join(map(repr, opts))} next time): the run says {measured!r}."
    if not isinstance(prediction, str) or prediction.strip().lower() not in [o.lower() for o in opts]:
        return f"Your prediction {prediction!r} is not one of {', '.join(map(repr, opts))}: the run says {measured!r}."
    same = prediction.strip().lower() == measured.lower()
    return f"You predicted {prediction.strip()!r}; the run says {measured!r}" + (": right." if same else ".")


def show_choice(prediction: Any, *, options: Sequence[str], measured: str) -> None:
    """Print ``choice_line(...)``; returns nothing."""
    print(choice_line(prediction, options=options, measured=measured))
