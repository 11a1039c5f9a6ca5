"""The app contract (``contract``) as a WSGI app (Flask): one request per thread, blocking calls.

Served by gunicorn's sync, gthread and gevent workers (``helpers.servers.flask_app:app``).
Upstream calls use ``requests`` (``upstream.SyncUpstream``: one Session per
thread with an explicit pool, or one shared session under gevent): real
blocking network I/O, so the very same code later runs under gevent. ``/db``
holds one of at most k "connections" of this process (a
``threading.BoundedSemaphore`` per k). ``/block`` and ``/io-thread`` exist
only in the async apps (404 here).
"""

from __future__ import annotations

import threading
import time

from flask import Flask, jsonify, request

from helpers.core import workloads
from helpers.servers import contract
from helpers.servers.contract import UPSTREAM_ENV  # noqa: F401  (kept for old callers)
from helpers.servers.upstream import SyncUpstream

app = Flask(__name__)
_upstream = SyncUpstream()
_pools = contract.Pools(threading.BoundedSemaphore)


def _params() -> dict:
    return contract.parse(request.path, request.args)


@app.errorhandler(ValueError)
@app.errorhandler(contract.NoUpstream)
@app.errorhandler(OSError)
def _handler_error(e: Exception):
    """Bad parameters -> 400, no upstream -> 503, upstream failure -> 502: JSON with the reason."""
    status, body = contract.error(e)
    return jsonify(body), status


@app.errorhandler(404)
@app.errorhandler(405)
def _http_error(e):
    return jsonify(error=f"{e.name}: {request.path}"), e.code


def _answer(start: float, p: dict, **extra):
    return jsonify(contract.answer(request.path, start, p, **extra))


@app.get("/health")
def health():
    """Readiness probe, with what this app knows of its limits."""
    start = time.perf_counter()
    limits = {"app": "flask", "loop": contract.loop_name(), **_upstream.limits()}
    return jsonify(contract.answer("/health", start, {}, ok=True, limits=limits))


@app.get("/io")
def io():
    """Wait ``ms`` on the slow service (blocking I/O through requests)."""
    start = time.perf_counter()
    p = _params()
    return _answer(start, p, upstream_pid=_upstream.wait(p["ms"]))


@app.get("/cpu")
def cpu():
    """Burn ``ms`` milliseconds of calibrated CPU in this worker."""
    start = time.perf_counter()
    p = _params()
    workloads.burn_cpu(p["ms"])
    return _answer(start, p)


@app.get("/mix")
def mix():
    """Burn ``cpu_ms``, then wait ``io_ms`` on the slow service."""
    start = time.perf_counter()
    p = _params()
    workloads.burn_cpu(p["cpu_ms"])
    return _answer(start, p, upstream_pid=_upstream.wait(p["io_ms"]))


@app.get("/db")
def db():
    """Wait ``ms`` on the slow service holding one of at most ``k`` connections of this process."""
    arrived = time.perf_counter()
    p = _params()
    with _pools.get(p["k"]):
        start = time.perf_counter()  # /db's start: the connection is held from here
        pid = _upstream.wait(p["ms"])
    return _answer(start, p, upstream_pid=pid, arrived=arrived)
