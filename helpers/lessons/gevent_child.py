"""The gevent programs of notebook 06, each run as its own process, never in the kernel.

    python -m helpers.lessons.gevent_child KIND [--no-MODULE ...]   (a JSON spec on stdin)

Monkey-patching is for a whole program and for good: it must happen first,
before anything else is imported, and it cannot be undone. So this file
decides from ``sys.argv`` alone, before any other import, whether the program
it is about to become needs patching, and if so its first real statement is
``from gevent import monkey; monkey.patch_all(...)``. ``--no-time``,
``--no-socket`` ... pass ``time=False``, ``socket=False`` ... to ``patch_all``.

Kinds (each prints one JSON line on stdout, the last line):

- ``fetch``   patched: N calls of ``helpers.load.clients.get_blocking``, the
  function notebook 01 timed, one greenlet each, one shared requests Session
  whose pool size is set explicitly (``pool_maxsize``).
- ``patches`` patched: what ``patch_all()`` replaced, read from gevent's own
  record (``monkey.saved``, ``get_original``, ``is_module_patched``,
  ``is_object_patched``).
- ``late``    patched too late on purpose: ``ssl`` and ``requests`` (and
  ``from time import sleep``) are imported before ``patch_all()``; the
  warning gevent prints on this program's stderr is captured and returned,
  and the early-bound ``sleep`` is shown still blocking.
- ``lag``     patched: the hub's lag, measured by a heartbeat greenlet, while
  one greenlet waits cooperatively, burns CPU, or calls libc's ``sleep``
  through ctypes, and with the fixes (gevent's threadpool, a process pool).
- ``cost``    not patched: memory and creation time of N parked greenlets or
  N parked OS threads, N rising.

The notebook calls these through ``helpers.lessons.greenlets``, which checks
every argument before a child starts; the checks here only guard against a
hand-made spec.
"""
import sys

PATCHED_KINDS = ("fetch", "patches", "lag")
UNPATCHED_KINDS = ("late", "cost")
KINDS = PATCHED_KINDS + UNPATCHED_KINDS
PATCH_OPTIONS = ("socket", "dns", "time", "select", "thread", "os", "ssl", "subprocess", "signal", "queue")


def _patch_options(argv):
    """``--no-time`` -> {"time": False}; anything else that starts with --no- is refused."""
    opts = {}
    for a in argv:
        if a.startswith("--no-"):
            name = a[5:]
            if name not in PATCH_OPTIONS:
                raise SystemExit(f"unknown patch option {a!r}; allowed: " + ", ".join("--no-" + o for o in PATCH_OPTIONS))
            opts[name] = False
    return opts


_KIND = sys.argv[1] if __name__ == "__main__" and len(sys.argv) > 1 else None
_OPTIONS = _patch_options(sys.argv[2:]) if _KIND is not None else {}
if _KIND in PATCHED_KINDS:
    from gevent import monkey

    monkey.patch_all(**_OPTIONS)

# Only from here on may anything else be imported.
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402


def _spec():
    text = sys.stdin.read()
    spec = json.loads(text) if text.strip() else {}
    if not isinstance(spec, dict):
        raise SystemExit("the spec on stdin must be a JSON object")
    return spec


def _need(spec, key, kind):
    if key not in spec:
        raise SystemExit(f"{kind}: the spec needs {key!r}")
    return spec[key]


def _source_id(fn):
    """The function's identity as this process sees it: module, name, file, and a hash of its source."""
    import hashlib
    import inspect

    src = inspect.getsource(fn)
    return {"function": f"{fn.__module__}.{fn.__qualname__}", "file": inspect.getsourcefile(fn),
            "source_sha256": hashlib.sha256(src.encode()).hexdigest()}


# -- fetch ---------------------------------------------------------------------

def fetch(spec):
    """N greenlets each call the unchanged fetch through one shared Session; rows, times, source hash, patch state."""
    import logging

    import gevent
    import requests
    from gevent import monkey
    from requests.adapters import HTTPAdapter

    from helpers.load.clients import get_blocking

    url, n = _need(spec, "url", "fetch"), int(_need(spec, "n", "fetch"))
    pool = spec.get("pool_maxsize")  # None: requests' own default (10)
    timeout_s = float(spec.get("timeout_s", 30.0))

    full = []

    class Count(logging.Handler):  # urllib3 says so when a pool overflows
        def emit(self, record):
            if "pool is full" in record.getMessage():
                full.append(1)

    logging.getLogger("urllib3.connectionpool").addHandler(Count(logging.WARNING))
    session = requests.Session()
    if pool is not None:
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=int(pool), max_retries=0)
        session.mount("http://", adapter)
    effective_pool = session.get_adapter(url)._pool_maxsize

    def one(i):
        rec = get_blocking(url, session, timeout_s)
        rec["request"] = i
        return rec

    t0 = time.perf_counter()
    jobs = [gevent.spawn(one, i) for i in range(n)]
    gevent.joinall(jobs, timeout=timeout_s + 30, raise_error=True)
    wall = time.perf_counter() - t0
    session.close()
    return {"rows": [j.value for j in jobs], "t0": t0, "wall_s": wall, "pid": os.getpid(),
            **_source_id(get_blocking),
            "patched": {m: bool(monkey.is_module_patched(m)) for m in ("socket", "time", "select", "ssl", "threading")},
            "patch_options": _OPTIONS, "pool_maxsize": effective_pool, "pool_full_warnings": len(full)}


# -- patches -------------------------------------------------------------------

# (module, attribute) pairs a learner's blocking code reaches for
WATCHED = (("socket", "socket"), ("socket", "create_connection"), ("socket", "getaddrinfo"), ("time", "sleep"),
           ("select", "select"), ("select", "poll"), ("selectors", "DefaultSelector"), ("threading", "Thread"),
           ("threading", "Lock"), ("threading", "Event"), ("threading", "local"), ("threading", "get_ident"),
           ("queue", "Queue"), ("ssl", "SSLContext"), ("subprocess", "Popen"), ("os", "fork"),
           ("signal", "signal"), ("builtins", "open"), ("json", "loads"))


def _describe(obj):
    mod = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{mod}.{name}"


def patches(spec):
    """What patch_all() replaced: one row per watched name (before, after, replaced, gevent_says_patched)."""
    import importlib

    from gevent import monkey

    rows = []
    for modname, attr in WATCHED:
        mod = importlib.import_module(modname)
        now = getattr(mod, attr, None)
        if now is None:
            continue
        orig = monkey.get_original(modname, attr)  # gevent's record of what was there before
        rows.append({"name": f"{modname}.{attr}", "before": _describe(orig), "after": _describe(now),
                     "replaced": now is not orig,
                     "gevent_says_patched": bool(monkey.is_object_patched(modname, attr))})
    saved = {k: sorted(v) for k, v in monkey.saved.items() if not k.startswith("_")}
    modules = {m: bool(monkey.is_module_patched(m)) for m in
               ("socket", "time", "select", "selectors", "threading", "queue", "ssl", "subprocess", "os", "signal",
                "json")}
    return {"rows": rows, "saved": saved, "modules_patched": modules, "anything_patched": monkey.is_anything_patched(),
            "patch_options": _OPTIONS}


# -- late ----------------------------------------------------------------------

def late(spec):
    """The order pitfall, on purpose: import first, patch afterwards."""
    import io

    captured = io.StringIO()
    real_stderr, sys.stderr = sys.stderr, captured  # what gevent prints on stderr lands here
    try:
        import ssl  # noqa: F401
        from time import sleep as early_sleep  # bound now: the blocking one

        import requests  # noqa: F401  (imports ssl and urllib3 too)
        from gevent import monkey

        monkey.patch_all()
    finally:
        sys.stderr = real_stderr
    import gevent

    n, ms = int(spec.get("n", 5)), float(spec.get("ms", 50))

    def run(sleeper):
        t0 = time.perf_counter()
        gevent.joinall([gevent.spawn(sleeper, ms / 1000) for _ in range(n)])
        return time.perf_counter() - t0

    return {"stderr": captured.getvalue(), "warned": "MonkeyPatchWarning" in captured.getvalue(),
            "n": n, "ms": ms, "early_sleep_s": run(early_sleep), "time_sleep_s": run(time.sleep),
            "early_sleep_is": _describe(early_sleep), "time_sleep_is": _describe(time.sleep)}


# -- lag -----------------------------------------------------------------------

LAG_SCENARIOS = ("gevent.sleep", "time.sleep (patched)", "CPU in the greenlet", "libc sleep (ctypes)",
                 "libc sleep in gevent's threadpool", "CPU in gevent's threadpool", "CPU in a process pool")


def _libc_sleep():
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    libc.usleep.argtypes = [ctypes.c_uint]
    return lambda ms: libc.usleep(int(ms * 1000))


def lag(spec):
    """The hub's lag (heartbeat greenlet) while one greenlet does a job_ms job in each scenario."""
    import contextlib

    import gevent

    from helpers.core import executors, workloads

    scenarios = list(spec.get("scenarios", LAG_SCENARIOS))
    for s in scenarios:
        if s not in LAG_SCENARIOS:
            raise SystemExit(f"lag: unknown scenario {s!r}; known: {LAG_SCENARIOS}")
    job_ms = float(_need(spec, "job_ms", "lag"))
    interval_s = float(spec.get("interval_ms", 5.0)) / 1000
    before_s, after_s = float(spec.get("before_s", 0.05)), float(spec.get("after_s", 0.05))
    workloads.calibrate()
    iters = workloads.iterations_for(job_ms)
    usleep = _libc_sleep()
    threadpool = gevent.get_hub().threadpool
    # fork, on purpose: under patching, a spawn pool's resource tracker cannot be stopped (its waitpid goes
    # through gevent's patched os.waitpid and never returns), and the pool is forked before any real thread runs
    method = spec.get("start_method", "fork")
    out_rows, jobs = [], {}
    need_pool = "CPU in a process pool" in scenarios
    with (executors.process_pool(1, method) if need_pool else contextlib.nullcontext()) as pool:
        if pool is not None:
            pool.submit(workloads.calibrate).result(timeout=60)  # the worker is up before anything is timed
        work = {
            "gevent.sleep": lambda: gevent.sleep(job_ms / 1000),
            "time.sleep (patched)": lambda: time.sleep(job_ms / 1000),
            "CPU in the greenlet": lambda: workloads.spin(iters),
            "libc sleep (ctypes)": lambda: usleep(job_ms),
            "libc sleep in gevent's threadpool": lambda: threadpool.spawn(usleep, job_ms).get(),
            "CPU in gevent's threadpool": lambda: threadpool.spawn(workloads.spin, iters).get(),
            # the future's wait is a patched Condition: this greenlet parks, the hub keeps turning
            "CPU in a process pool": lambda: pool.submit(workloads.spin, iters).result(timeout=60),
        }
        for s in scenarios:
            rows = []
            state = {"on": True}

            def beat():
                while state["on"]:
                    due = time.perf_counter() + interval_s
                    gevent.sleep(interval_s)
                    now = time.perf_counter()
                    rows.append({"t": now, "lag_ms": max(0.0, now - due) * 1000})

            t0 = time.perf_counter()
            hb = gevent.spawn(beat)
            gevent.sleep(before_s)
            js = time.perf_counter()
            gevent.spawn(work[s]).get(timeout=60)
            je = time.perf_counter()
            gevent.sleep(after_s)
            state["on"] = False
            hb.join(timeout=5)
            hb.kill()
            for r in rows:
                out_rows.append({"scenario": s, "t_s": r["t"] - js, "lag_ms": r["lag_ms"],
                                 "during_job": (r["t"] > js) and (r["t"] - r["lag_ms"] / 1000 - interval_s < je)})
            jobs[s] = {"job_s": je - js, "start_s": js - t0}
    return {"rows": out_rows, "jobs": jobs, "job_ms": job_ms, "interval_ms": interval_s * 1000,
            "threadpool_size": threadpool.maxsize,
            "process_pool": f"1 worker, start method {method}" if need_pool else None,
            "pid": os.getpid()}


# -- cost ----------------------------------------------------------------------

def cost(spec):
    """Memory (RSS, USS) and creation time as more and more greenlets or threads are parked on an event."""
    import gc
    import threading

    import psutil

    what = _need(spec, "what", "cost")
    counts = [int(c) for c in _need(spec, "counts", "cost")]
    proc = psutil.Process()
    rows, parked = [], []
    if what == "greenlet":
        import gevent
        from gevent.event import Event

        gate = Event()
        gevent.sleep(0)  # the hub exists before the first measurement
    elif what == "thread":
        gate = threading.Event()
    else:
        raise SystemExit(f"cost: what must be 'greenlet' or 'thread', got {what!r}")

    def park():
        gate.wait()

    def measure(n, create_s):
        gc.collect()
        time.sleep(0.02) if what == "thread" else gevent.sleep(0.02)
        m = proc.memory_full_info()
        rows.append({"what": what, "count": n, "rss_bytes": m.rss, "uss_bytes": m.uss, "create_s": create_s,
                     "alive": sum(1 for p in parked if (p.is_alive() if what == "thread" else not p.dead))})

    measure(0, 0.0)
    for n in counts:
        add = n - len(parked)
        t0 = time.perf_counter()
        for _ in range(add):
            if what == "greenlet":
                g = gevent.spawn(park)
            else:
                g = threading.Thread(target=park, daemon=True)
                g.start()  # returns once the thread runs
            parked.append(g)
        if what == "greenlet":
            gevent.sleep(0)  # let every new greenlet start and park on the event
        create_s = time.perf_counter() - t0
        measure(n, create_s / max(add, 1))
    stack = None
    if what == "greenlet":
        saved = [getattr(g, "_stack_saved", None) for g in parked[:1000]]
        saved = [s for s in saved if isinstance(s, int)]
        stack = sum(saved) / len(saved) if saved else None
    gate.set()
    if what == "greenlet":
        gevent.joinall(parked, timeout=30)
    else:
        for t in parked:
            t.join(10)
    return {"rows": rows, "stack_saved_mean_bytes": stack, "pid": os.getpid()}


def main(argv=None):
    """Run the kind named on the command line with the JSON spec from stdin; print one JSON line."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in KINDS:
        raise SystemExit(f"usage: python -m helpers.lessons.gevent_child KIND; KIND is one of {', '.join(KINDS)}"
                         f" (got {argv[0] if argv else 'nothing'!r})")
    result = globals()[argv[0]](_spec())
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
