"""Progress bars for the sweeps: one way to make them, everywhere.

``progress.bar(items, desc="runs")`` is tqdm's bar (tqdm.auto: a widget
where ipywidgets is installed, text otherwise, without tqdm's warning about
the missing widget). It is given a *thread* lock: tqdm would otherwise make
a multiprocessing lock, and where the start method is spawn or forkserver
(the default on Python 3.14+) that starts multiprocessing's resource-tracker
process, which then outlives the cell.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, Iterable

_lock_set = False


def _tqdm_class():
    global _lock_set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    if not _lock_set:
        from tqdm.std import tqdm as std

        std.set_lock(threading.RLock())  # shared by every tqdm class, notebook bars included
        _lock_set = True
    return tqdm


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        disable: bool = False, **kwargs: Any):
    """A progress bar over ``iterable`` (or of ``total`` steps, updated with ``.update()``)."""
    return _tqdm_class()(iterable, total=total, desc=desc, disable=disable, **kwargs)
