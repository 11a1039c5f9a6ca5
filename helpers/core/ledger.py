"""The verdict ledger: every verdict a notebook prints is also recorded, in one file.

A notebook opens its ledger once, in its imports cell, and decides each claim
with one call that prints the sentence and appends a record::

    book = ledger.Ledger("03-sync-server")
    book.verdict("C4", holds=speedup >= 1.5, figure=speedup, unit="x",
                   text="more workers helped up to the cores, then stopped")
    # prints: Verdict (C4): more workers helped up to the cores, then stopped
    book.check("the load generator was at least twice as fast as the server", ok, figure=ratio, unit="x")
    # prints: Check: the load generator was at least twice as fast as the server

The file is ``results/verdicts.jsonl`` (``COURSE_RESULTS_DIR`` moves it), one
JSON object per line, appended, never rewritten. Fields:

- ``time``: when it was recorded (ISO 8601, local time with offset)
- ``run``: one id per Ledger (one run of a notebook's kernel; re-running the
  imports cell starts a new run)
- ``notebook``: the notebook's name, e.g. ``"03-sync-server"``
- ``mode``: ``"quick"`` or ``"full"``
- ``kind``: ``"verdict"`` (decides claims) or ``"check"`` (decides none: a
  sanity check of the experiment itself)
- ``claims``: list of claim ids (``["C4"]``; empty for a check)
- ``outcome``: ``"holds"``, ``"does not hold"`` or ``"inconclusive"`` for a
  verdict; ``"passed"`` or ``"failed"`` for a check
- ``text``: the printed sentence without its prefix
- ``figure``, ``unit``: the deciding number and its unit (``null`` if none)
- ``machine``: python, implementation, os, cores usable, memory GiB

``read()`` gives every record as a DataFrame; ``latest()`` keeps, for each
notebook, only its most recent run: what a closing notebook gathers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from helpers.core import config, results

FILE = "verdicts.jsonl"
OUTCOMES = ("holds", "does not hold", "inconclusive")
CHECK_OUTCOMES = ("passed", "failed")
FIELDS = ("time", "run", "notebook", "mode", "kind", "claims", "outcome", "text", "figure", "unit", "machine")
_CLAIM = re.compile(r"^C([1-9]|1[0-6])$")
_NOTEBOOK = re.compile(r"^\d\d-[a-z0-9-]+$")


def path() -> Path:
    """Where the ledger is written."""
    return results.results_dir() / FILE


def _machine() -> dict[str, Any]:
    import psutil

    from helpers.core.system import usable_cores

    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "os": f"{platform.system()} {platform.release()}", "cores_usable": usable_cores(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}


def _claims(claims: str | Iterable[str]) -> list[str]:
    ids = [claims] if isinstance(claims, str) else list(claims)
    if not ids:
        raise ValueError("a verdict decides at least one claim (C1-C16); use check() for none")
    for c in ids:
        if not isinstance(c, str) or not _CLAIM.match(c):
            raise ValueError(f"claim ids are C1 to C16, got {c!r}")
    return ids


def _figure(figure: Any) -> float | None:
    if figure is None:
        return None
    if isinstance(figure, (bool, np.bool_)) or not isinstance(figure, (int, float, np.number)):
        raise TypeError(f"figure must be a number, not {type(figure).__name__}")
    f = float(figure)
    return None if math.isnan(f) else f


class Ledger:
    """The verdicts of one run of one notebook."""

    def __init__(self, notebook: str) -> None:
        if not isinstance(notebook, str) or not _NOTEBOOK.match(notebook):
            raise ValueError(f"notebook must be a course notebook's name like '03-sync-server', got {notebook!r}")
        self.notebook = notebook
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.records: list[dict[str, Any]] = []

    def _record(self, kind: str, claims: list[str], outcome: str, text: str, figure: Any, unit: str) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a verdict needs a sentence (text)")
        if not isinstance(unit, str):
            raise TypeError("unit must be a string, e.g. 'x', 's', 'req/s', '' for a pure number")
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run": self.run, "notebook": self.notebook,
               "mode": config.mode(), "kind": kind, "claims": claims, "outcome": outcome, "text": text.strip(),
               "figure": _figure(figure), "unit": unit, "machine": _machine()}
        p = path()
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8") as f:  # one line per write: never half a record
            f.write(json.dumps(rec) + "\n")
        self.records.append(rec)
        return rec

    def verdict(self, claims: str | Iterable[str], holds: bool | str, text: str, *,
                figure: Any = None, unit: str = "") -> None:
        """Print ``Verdict (C4): text`` and record it (the record is ``self.records[-1]``).

        holds: True ("holds"), False ("does not hold"), or one of OUTCOMES as a
        string (``"inconclusive"`` where the run could not decide, e.g. a
        machine without a second core). Returns nothing, so that a verdict as
        a cell's last line shows only its sentence.
        """
        ids = _claims(claims)
        if isinstance(holds, str):
            if holds not in OUTCOMES:
                raise ValueError(f"holds must be True, False or one of {OUTCOMES}, got {holds!r}")
            outcome = holds
        elif isinstance(holds, (bool, np.bool_)):
            outcome = "holds" if bool(holds) else "does not hold"
        else:
            raise TypeError(f"holds must be a bool or one of {OUTCOMES}, not {type(holds).__name__}")
        rec = self._record("verdict", ids, outcome, text, figure, unit)
        print(f"Verdict ({', '.join(ids)}): {rec['text']}")

    def check(self, text: str, passed: bool, *, figure: Any = None, unit: str = "") -> None:
        """Print ``Check: text`` (``Check FAILED: text`` when it did not pass) and record it: a test of
        the experiment itself, deciding no claim. Write ``text`` as what was expected."""
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool, not {type(passed).__name__}")
        rec = self._record("check", [], "passed" if bool(passed) else "failed", text, figure, unit)
        print(f"Check{'' if passed else ' FAILED'}: {rec['text']}")

    def table(self) -> pd.DataFrame:
        """This run's records as a DataFrame."""
        return _frame(self.records)


def _frame(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=list(FIELDS))
    return df


def read(file: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every record in the ledger (empty DataFrame with the columns if there is none yet).

    A line that is not a JSON record (a hand edit, a crash mid-write) is
    skipped, not fatal; ``attrs["skipped_lines"]`` counts them.
    """
    p = Path(file) if file is not None else path()
    records, skipped = [], 0
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(rec, dict) and all(k in rec for k in FIELDS):
                records.append(rec)
            else:
                skipped += 1
    df = _frame(records)
    df.attrs["skipped_lines"] = skipped
    return df


def latest(file: str | os.PathLike | None = None) -> pd.DataFrame:
    """Only the most recent run of each notebook (the run that recorded last)."""
    df = read(file)
    if df.empty:
        return df
    last_run = df.groupby("notebook")["run"].last()
    keep = df["run"].isin(set(last_run))
    return df[keep].reset_index(drop=True)
