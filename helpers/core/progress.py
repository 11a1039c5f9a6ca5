"""Progress bars for the sweeps: one way to make them, everywhere.

``progress.bar(items, desc="runs")`` shows one bar that updates in place.
Where it appears depends on where the code runs, chosen by ``COURSE_PROGRESS``:

- ``auto`` (the default): in a Jupyter kernel, tqdm's notebook bar, a widget
  (ipywidgets is one of the course's packages), so JupyterLab shows a bar,
  not a pink stderr box; elsewhere (a script, a test) tqdm's text bar on
  stderr.
- ``off``: no bar at all. ``make test`` and ``make outputs`` run this way, so
  the committed notebooks hold no progress bars (a saved bar is only noise
  in a static render, and a widget's state is not worth keeping).
- ``text``: tqdm's text bar on stderr, even in a kernel.

Every bar gets a *thread* lock: tqdm would otherwise make a multiprocessing
lock, and where the start method is spawn or forkserver (the default on
Python 3.14+) that starts multiprocessing's resource-tracker process, which
then outlives the cell.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any, Iterable

MODE_ENV = "COURSE_PROGRESS"
MODES = ("auto", "off", "text")
_lock_set = False


def mode() -> str:
    """The progress mode from ``COURSE_PROGRESS`` (``auto`` when unset); a clear error for a typo."""
    value = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{MODE_ENV} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _tqdm_class(kind: str):
    global _lock_set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "widget":
            from tqdm.notebook import tqdm
        else:
            from tqdm.std import tqdm
    if not _lock_set:
        from tqdm.std import tqdm as std

        std.set_lock(threading.RLock())  # shared by every tqdm class, notebook bars included
        _lock_set = True
    return tqdm


def kind() -> str:
    """What ``bar`` makes here: ``widget``, ``text`` or ``off``."""
    m = mode()
    if m == "auto":
        return "widget" if _in_kernel() and _widgets_available() else "text"
    return m


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        disable: bool = False, **kwargs: Any):
    """A progress bar over ``iterable`` (or of ``total`` steps, updated with ``.update()``)."""
    k = kind()
    return _tqdm_class(k)(iterable, total=total, desc=desc, disable=disable or k == "off", **kwargs)
