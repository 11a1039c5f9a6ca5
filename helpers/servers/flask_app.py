"""A small Flask app for the sync-server experiments, served by gunicorn.

Endpoints (GET, JSON answers):

- ``/io?ms=A``: asks the slow service (``COURSE_UPSTREAM``) to wait A ms, with
  ``requests``: real blocking network I/O, so the very same code later runs
  under gevent.
- ``/cpu?ms=B``: burns B ms of calibrated CPU in the worker.
- ``/health``: readiness.

Every answer says which worker process and thread served it and when the
handler started and ended (``time.perf_counter()``, shared by all processes
of the machine).
"""

from __future__ import annotations

import os
import threading
import time

import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter

from helpers import workloads

UPSTREAM_ENV = "COURSE_UPSTREAM"
app = Flask(__name__)
_local = threading.local()


def _session() -> requests.Session:
    """One upstream session per worker thread (requests sessions are not shared across threads)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0))
        _local.session = s
    return s


def _ms(name: str = "ms") -> float:
    raw = request.args.get(name, "0")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of milliseconds, got {raw!r}") from None
    if not (0 <= value <= 60_000):
        raise ValueError(f"{name} must be between 0 and 60000 ms, got {raw!r}")
    return value


@app.errorhandler(ValueError)
def bad_request(e: ValueError):
    """Bad query parameters: a 400 that says what was wrong."""
    return jsonify(error=str(e)), 400


def _answer(start: float, **extra):
    return jsonify(pid=os.getpid(), thread=threading.get_ident(), start=start, end=time.perf_counter(), **extra)


@app.get("/io")
def io():
    """Wait ``ms`` milliseconds on the slow service (blocking I/O through requests)."""
    start = time.perf_counter()
    ms = _ms()
    upstream = os.environ.get(UPSTREAM_ENV)
    if not upstream:
        return jsonify(error=f"no upstream: set {UPSTREAM_ENV} to the slow service's address"), 503
    r = _session().get(f"{upstream}/io", params={"ms": ms}, timeout=60)
    r.raise_for_status()
    return _answer(start, io_ms=ms, upstream_pid=r.json()["pid"])


@app.get("/cpu")
def cpu():
    """Burn ``ms`` milliseconds of calibrated CPU in this worker."""
    start = time.perf_counter()
    ms = _ms()
    workloads.burn_cpu(ms)
    return _answer(start, cpu_ms=ms)


@app.get("/health")
def health():
    """Readiness probe."""
    return jsonify(ok=True, pid=os.getpid())
