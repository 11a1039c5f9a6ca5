"""Where measurements go: ``results/`` at the top of the course (git ignores it).

Notebooks save what they measured, with the limits in force, so a later
notebook (and you) can compare runs: ``save(df, "01-sequential")`` writes
``results/01-sequential.csv`` and ``results/01-sequential.json`` (the
DataFrame's ``attrs``, e.g. limits, plus when and where it was measured).
Set ``COURSE_RESULTS_DIR`` to put them elsewhere.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def results_dir() -> Path:
    """The folder results are written to (created on first save)."""
    env = os.environ.get("COURSE_RESULTS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "results"  # the course folder's results/


def _path(name: str, suffix: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"result name must be letters, digits, '-', '_' or '.', up to 81 characters; got {name!r}")
    return results_dir() / f"{name}{suffix}"


def save(df: pd.DataFrame, name: str) -> Path:
    """Save ``df`` as CSV plus its attrs as JSON; return the CSV's path."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"save takes a DataFrame, not {type(df).__name__}")
    csv = _path(name, ".csv")
    csv.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "attrs": df.attrs,
    }
    tmp = csv.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(csv)  # never leave half a file behind
    _path(name, ".json").write_text(json.dumps(meta, indent=1, default=str))
    return csv


def load(name: str) -> pd.DataFrame:
    """Load a saved result (with its attrs back in ``df.attrs``)."""
    csv = _path(name, ".csv")
    if not csv.exists():
        raise FileNotFoundError(f"no saved result {name!r} in {csv.parent}; run the notebook that makes it first")
    df = pd.read_csv(csv)
    meta_path = _path(name, ".json")
    if meta_path.exists():
        df.attrs.update(json.loads(meta_path.read_text()).get("attrs", {}))
    return df
