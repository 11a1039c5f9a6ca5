"""The child programs of notebook 07: one micro-benchmark per fresh process, one JSON line out.

Run through ``helpers.lessons.switching`` (which uses ``core.procs.run_child``
with a timeout), never in the notebook kernel::

    python -m helpers.lessons.switch_probe switch KIND [--seconds S] [--pin CPU] [--depth D] [--through python|c]
    python -m helpers.lessons.switch_probe waiters WHAT --counts 0,1000,10000
    python -m helpers.lessons.switch_probe machine

``switch`` KINDs (two parties hand control back and forth; one round trip is
two switches):

==================  ==========================================================
thread-event        two OS threads, a ``threading.Event`` pair
thread-pipe         two OS threads, a byte through a pair of pipes
process-pipe        two processes (``os.fork``), a byte through a pair of pipes
asyncio             two asyncio tasks, an ``asyncio.Event`` pair, default loop
                    (C tasks and futures: ``_asyncio.Task``)
asyncio-pytask      the same on a loop whose tasks and futures are the
                    pure-Python ``asyncio.tasks._PyTask`` and ``futures._PyFuture``
uvloop              the same as ``asyncio`` on uvloop (a loop from ``uvloop.new_event_loop``, no policy)
asyncio-yield       two asyncio tasks that only ``await asyncio.sleep(0)``: the bare
                    hand-off through the loop, no Event (default loop)
uvloop-yield        the same on uvloop
greenlet            two greenlets, ``greenlet.switch`` (``--depth`` frames below the switch)
gevent              two gevent greenlets, a ``gevent.event.Event`` pair (through gevent's hub)
==================  ==========================================================

Each run is timed until it lasts at least ``--seconds``; the answer is the
last (longest) run: microseconds per switch = elapsed / (2 × round trips). With
``--pin CPU`` the process (and every thread and child it makes) is pinned to
that one CPU with ``os.sched_setaffinity`` before anything starts; where the
OS has no such call the probe exits with code 3 and says so.

The context-switch counters are the kernel's own (``voluntary_ctxt_switches``
and ``nonvoluntary_ctxt_switches`` of ``/proc/self/task/*/status``, summed
over the threads; psutil's ``num_ctx_switches`` elsewhere), read around the
timed run only.

``waiters`` parks N waiters in this fresh process, for each N of ``--counts``
in increasing order (waiters are added, never rebuilt), and reports the
process's RSS, USS and VMS (bytes) and the creation time at each N. WHATs:
``task`` (asyncio tasks awaiting one ``asyncio.Event``), ``greenlet`` (gevent
greenlets waiting on one ``gevent.event.Event``), ``thread`` (OS threads
waiting on one ``threading.Event``), ``process`` (fresh interpreters blocked
reading their stdin; their own USS is measured, since they are not part of
this process).

gevent and uvloop are imported only here, in children, never in a kernel.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable

SWITCH_KINDS = ("thread-event", "thread-pipe", "process-pipe", "asyncio", "asyncio-pytask", "uvloop",
                "asyncio-yield", "uvloop-yield", "greenlet", "gevent")
ASYNC_KINDS = ("asyncio", "asyncio-pytask", "uvloop", "asyncio-yield", "uvloop-yield")
WAITER_KINDS = ("task", "greenlet", "thread", "process")
THROUGH = ("python", "c")
EXIT_UNSUPPORTED = 3  # the OS (or this Python) cannot run the probe: not an error of the probe
MAX_DEPTH = 2000
START_ROUND_TRIPS = 200


# -- the kernel's context-switch counters ----------------------------------------


def _pipe_round_trips(out_fd: int, in_fd: int, n: int) -> float:
    """Seconds for ``n`` round trips of one byte: write to the other side, read its echo."""
    t0 = time.perf_counter()
    for _ in range(n):
        os.write(out_fd, b"x")
        os.read(in_fd, 1)
    return time.perf_counter() - t0

def _ping_pong(ping, pong, n: int) -> float:
    """Seconds for ``n`` round trips: set ``ping``, wait for the other side's ``pong`` (threading or gevent events)."""
    t0 = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    return time.perf_counter() - t0

def ctx_switches() -> tuple[int, int] | None:
    """(voluntary, involuntary) context switches of every thread of this process so far, or None."""
    task_dir = "/proc/self/task"
    if os.path.isdir(task_dir):
        vol = invol = 0
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            invol += int(line.split()[1])
            except OSError:  # a thread that just ended
                continue
        return vol, invol
    try:
        import psutil

        c = psutil.Process().num_ctx_switches()
        return c.voluntary, c.involuntary
    except Exception:
        return None


def pin_to(cpu: int) -> None:
    """Pin this process to one CPU, or exit with EXIT_UNSUPPORTED where the OS cannot."""
    if not hasattr(os, "sched_setaffinity"):
        print(json.dumps({"unsupported": f"this OS ({sys.platform}) has no os.sched_setaffinity: "
                                         "a process cannot be pinned to one core here"}))
        sys.exit(EXIT_UNSUPPORTED)
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise SystemExit(f"CPU {cpu} is not one this process may use (allowed: {sorted(allowed)})")
    os.sched_setaffinity(0, {cpu})


# -- the ping-pongs: each returns a function run(n) -> elapsed seconds for n round trips
def _thread_event() -> tuple[Callable[[int], float], Callable[[], None]]:
    ping, pong = threading.Event(), threading.Event()
    state = {"n": 0, "stop": False}
    go, done = threading.Event(), threading.Event()

    def other() -> None:
        while True:
            go.wait()
            go.clear()
            if state["stop"]:
                return
            for _ in range(state["n"]):
                ping.wait()
                ping.clear()
                pong.set()
            done.set()

    t = threading.Thread(target=other, daemon=True)
    t.start()

    def run(n: int) -> float:
        state["n"] = n
        done.clear()
        go.set()
        elapsed = _ping_pong(ping, pong, n)
        done.wait(30)
        return elapsed

    def close() -> None:
        state["stop"] = True
        go.set()
        t.join(5)

    return run, close


def _pipe_pair():
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    return a_r, a_w, b_r, b_w


def _thread_pipe():
    a_r, a_w, b_r, b_w = _pipe_pair()

    def other() -> None:
        while True:
            b = os.read(a_r, 1)
            if not b or b == b"q":
                return
            os.write(b_w, b)

    t = threading.Thread(target=other, daemon=True)
    t.start()

    def run(n: int) -> float:
        return _pipe_round_trips(a_w, b_r, n)

    def close() -> None:
        os.write(a_w, b"q")
        t.join(5)
        for fd in (a_r, a_w, b_r, b_w):
            os.close(fd)

    return run, close


def _process_pipe():
    if not hasattr(os, "fork"):
        print(json.dumps({"unsupported": f"this OS ({sys.platform}) has no os.fork"}))
        sys.exit(EXIT_UNSUPPORTED)
    a_r, a_w, b_r, b_w = _pipe_pair()
    pid = os.fork()
    if pid == 0:  # the other process: echo every byte until the pipe closes (also if the parent dies)
        os.close(a_w)
        os.close(b_r)
        try:
            while True:
                b = os.read(a_r, 1)
                if not b or b == b"q":
                    break
                os.write(b_w, b)
        finally:
            os._exit(0)
    os.close(a_r)
    os.close(b_w)

    def run(n: int) -> float:
        return _pipe_round_trips(a_w, b_r, n)

    def close() -> None:
        try:
            os.write(a_w, b"q")
        finally:
            os.close(a_w)
            os.close(b_r)
            os.waitpid(pid, 0)

    return run, close


def _py_loop_factory():
    """A default-style event loop whose futures and tasks are the pure-Python implementations."""
    import asyncio
    from asyncio import futures, tasks

    class PyFutureLoop(asyncio.SelectorEventLoop):
        def create_future(self):
            return futures._PyFuture(loop=self)

    def factory():
        loop = PyFutureLoop()
        loop.set_task_factory(lambda lp, coro, **kw: tasks._PyTask(coro, loop=lp, **kw))
        return loop

    return factory


def _asyncio_run(kind: str, measure: Callable) -> Any:
    """Run ``measure`` (a coroutine function taking the run(n) helper) on the loop of ``kind``."""
    import asyncio

    if kind.startswith("uvloop"):
        try:
            import uvloop
        except ImportError:
            print(json.dumps({"unsupported": "uvloop is not installed (it does not exist for Windows)"}))
            sys.exit(EXIT_UNSUPPORTED)
        factory = uvloop.new_event_loop
    elif kind == "asyncio-pytask":
        factory = _py_loop_factory()
    else:
        factory = None

    async def main():
        ping, pong = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        info = {"loop": f"{type(loop).__module__}.{type(loop).__qualname__}"}

        yield_only = kind.endswith("-yield")

        async def other(n):
            if yield_only:
                for _ in range(n):
                    await asyncio.sleep(0)
                return
            for _ in range(n):
                await ping.wait()
                ping.clear()
                pong.set()

        async def run(n: int) -> float:
            t = asyncio.create_task(other(n))
            info["task_class"] = f"{type(t).__module__}.{type(t).__qualname__}"
            info["future_class"] = f"{type(loop.create_future()).__module__}.{type(loop.create_future()).__qualname__}"
            await asyncio.sleep(0)  # the other task starts and parks on ping
            t0 = time.perf_counter()
            if yield_only:  # both tasks are ready at every turn: the loop runs one, then the other
                for _ in range(n):
                    await asyncio.sleep(0)
            else:
                for _ in range(n):
                    ping.set()
                    await pong.wait()
                    pong.clear()
            elapsed = time.perf_counter() - t0
            await t
            return elapsed

        result = await measure(run)
        result.update(info)
        return result

    # A loop made by the factory and run to the end: what asyncio.Runner(loop_factory=...) does on
    # 3.11+, written out so that 3.10 runs it too.
    loop = (factory or asyncio.new_event_loop)()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def _greenlet(depth: int, through: str):
    import greenlet

    main = greenlet.getcurrent()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_DEPTH + 100))

    def park() -> None:
        while True:
            if main.switch() == "stop":
                return

    def down_py(d: int) -> None:  # Python calls Python: on 3.11+ no C stack per frame
        if d == 0:
            return park()
        return down_py(d - 1)

    def down_c(d: int) -> None:  # each level goes through a C function (map): one C stack frame each
        if d == 0:
            return park()
        return list(map(down_c, [d - 1]))[0]

    down = down_py if through == "python" else down_c
    g = greenlet.greenlet(lambda: down(depth))
    g.switch()  # g walks down `depth` frames and parks
    info = {"stack_saved_bytes": getattr(g, "_stack_saved", None)}

    def run(n: int) -> float:
        sw = g.switch
        t0 = time.perf_counter()
        for _ in range(n):
            sw()
        return time.perf_counter() - t0

    def close() -> None:
        info["stack_saved_bytes"] = getattr(g, "_stack_saved", info["stack_saved_bytes"])
        g.switch("stop")

    return run, close, info


def _gevent():
    import gevent
    import gevent.event

    ping, pong = gevent.event.Event(), gevent.event.Event()

    def other(n: int) -> None:
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    def run(n: int) -> float:
        g = gevent.spawn(other, n)
        gevent.sleep(0)  # the other greenlet starts and parks on ping
        elapsed = _ping_pong(ping, pong, n)
        g.join(30)
        return elapsed

    return run, lambda: None


def calibrate(run: Callable[[int], float], seconds: float) -> tuple[int, float, tuple | None, tuple | None]:
    """Grow the number of round trips until one run lasts ``seconds``; return (n, elapsed, ctx before, after)."""
    run(START_ROUND_TRIPS)  # warm up
    n = START_ROUND_TRIPS
    while True:
        before = ctx_switches()
        elapsed = run(n)
        after = ctx_switches()
        if elapsed >= seconds:
            return n, elapsed, before, after
        n = int(n * min(20.0, max(2.0, 1.25 * seconds / max(elapsed, 1e-9))))


async def _acalibrate(run, seconds: float) -> dict:
    await run(START_ROUND_TRIPS)
    n = START_ROUND_TRIPS
    while True:
        before = ctx_switches()
        elapsed = await run(n)
        after = ctx_switches()
        if elapsed >= seconds:
            return _result(n, elapsed, before, after)
        n = int(n * min(20.0, max(2.0, 1.25 * seconds / max(elapsed, 1e-9))))


def _result(n: int, elapsed: float, before, after) -> dict:
    r = {"round_trips": n, "elapsed_s": elapsed, "us_per_switch": elapsed / (2 * n) * 1e6,
         "voluntary_switches": None, "involuntary_switches": None}
    if before is not None and after is not None:
        r["voluntary_switches"] = after[0] - before[0]
        r["involuntary_switches"] = after[1] - before[1]
    return r


def switch(kind: str, seconds: float, pin: int | None, depth: int, through: str) -> dict:
    """Time one kind of switch for about ``seconds`` (optionally pinned, at a stack depth); return its figures."""
    if pin is not None:
        pin_to(pin)
    info: dict = {}
    if kind in ASYNC_KINDS:

        async def measure(run):
            return await _acalibrate(run, seconds)

        r = _asyncio_run(kind, measure)
    else:
        if kind == "thread-event":
            run, close = _thread_event()
        elif kind == "thread-pipe":
            run, close = _thread_pipe()
        elif kind == "process-pipe":
            run, close = _process_pipe()
        elif kind == "greenlet":
            run, close, info = _greenlet(depth, through)
        elif kind == "gevent":
            run, close = _gevent()
        else:  # argparse has already refused it
            raise SystemExit(f"unknown kind {kind!r}")
        try:
            r = _result(*calibrate(run, seconds))
        finally:
            close()
    r.update(info)
    r.update({"kind": kind, "pinned_cpu": pin, "depth": depth if kind == "greenlet" else 0,
              "through": through if kind == "greenlet" else None, "pid": os.getpid(),
              "python": sys.version.split()[0]})
    return r


# -- waiters ---------------------------------------------------------------------
def _memory(pids: list[int] | None = None) -> dict:
    import psutil

    m = psutil.Process().memory_full_info()
    out = {"rss_bytes": m.rss, "uss_bytes": m.uss, "vms_bytes": m.vms}
    if pids is not None:
        ex = [psutil.Process(p).memory_full_info() for p in pids]
        out["children_uss_bytes"] = sum(x.uss for x in ex)
        out["children_rss_bytes"] = sum(x.rss for x in ex)
    return out


def waiters(what: str, counts: list[int]) -> dict:
    """Park ``counts`` waiters of one kind (thread, task, greenlet, process) and record memory and creation time at each count."""
    gc.collect()
    rows: list[dict] = []

    def record(n: int, create_s: float, extra: dict | None = None, pids=None) -> None:
        gc.collect()
        rows.append({"waiters": n, "create_s": create_s, **_memory(pids), **(extra or {})})

    if what == "task":
        import asyncio

        async def main():
            ev = asyncio.Event()
            tasks: list = []
            record(0, 0.0)
            for n in counts:
                t0 = time.perf_counter()
                while len(tasks) < n:
                    tasks.append(asyncio.create_task(ev.wait()))
                await asyncio.sleep(0)  # every new task takes its first step and parks on the event
                create_s = time.perf_counter() - t0
                record(n, create_s, {"parked": sum(not t.done() for t in tasks)})
            ev.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())
    elif what == "greenlet":
        import gevent
        import gevent.event

        ev = gevent.event.Event()
        gs: list = []
        record(0, 0.0)
        for n in counts:
            t0 = time.perf_counter()
            while len(gs) < n:
                gs.append(gevent.spawn(ev.wait))
            gevent.sleep(0)  # every new greenlet runs to its wait and parks
            create_s = time.perf_counter() - t0
            record(n, create_s, {"parked": sum(not g.dead for g in gs)})
        ev.set()
        gevent.joinall(gs, timeout=60)
    elif what == "thread":
        ev = threading.Event()
        ths: list = []
        record(0, 0.0, {"stack_size_bytes": threading.stack_size()})
        try:
            for n in counts:
                t0 = time.perf_counter()
                while len(ths) < n:
                    t = threading.Thread(target=ev.wait, daemon=True)
                    t.start()
                    ths.append(t)
                create_s = time.perf_counter() - t0
                record(n, create_s, {"parked": sum(t.is_alive() for t in ths)})
        finally:
            ev.set()
            for t in ths:
                t.join(10)
    elif what == "process":
        procs: list[subprocess.Popen] = []
        record(0, 0.0, pids=[])
        try:
            for n in counts:
                t0 = time.perf_counter()
                while len(procs) < n:
                    p = subprocess.Popen([sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                    p.stdout.readline()  # a whole interpreter has started and now waits
                    procs.append(p)
                create_s = time.perf_counter() - t0
                record(n, create_s, {"parked": sum(p.poll() is None for p in procs)}, pids=[p.pid for p in procs])
        finally:
            for p in procs:
                try:
                    p.stdin.close()
                except OSError:
                    pass
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
    else:
        raise SystemExit(f"unknown waiter kind {what!r}")
    return {"what": what, "rows": rows, "pid": os.getpid(), "python": sys.version.split()[0]}


def machine() -> dict:
    """What the probes need to know about this machine: can it pin, which CPUs, thread limits."""
    info: dict[str, Any] = {"can_pin": hasattr(os, "sched_setaffinity"), "platform": sys.platform,
                            "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                            "thread_stack_size_bytes": threading.stack_size()}
    try:
        import resource

        info["rlimit_nproc"] = [None if v == resource.RLIM_INFINITY else v
                                for v in resource.getrlimit(resource.RLIMIT_NPROC)]
        info["rlimit_stack_bytes"] = [None if v == resource.RLIM_INFINITY else v
                                      for v in resource.getrlimit(resource.RLIMIT_STACK)]
    except (ImportError, AttributeError, ValueError):
        info["rlimit_nproc"] = info["rlimit_stack_bytes"] = None
    for name, path in (("threads_max", "/proc/sys/kernel/threads-max"), ("max_map_count", "/proc/sys/vm/max_map_count"),
                       ("cgroup_pids_max", "/sys/fs/cgroup/pids.max")):
        try:
            with open(path) as f:
                v = f.read().strip()
            info[name] = None if v == "max" else int(v)
        except (OSError, ValueError):
            info[name] = None
    try:
        import psutil

        info["processes_now"] = len(psutil.pids())
        info["memory_available_bytes"] = psutil.virtual_memory().available
    except Exception:
        info["processes_now"] = info["memory_available_bytes"] = None
    for mod in ("uvloop", "gevent", "greenlet"):
        try:
            __import__(mod)
            info[mod] = True
        except ImportError:
            info[mod] = False
    return info


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"counts must be integers separated by commas, got {text!r}") from None
    if not counts or any(c < 1 for c in counts) or counts != sorted(set(counts)):
        raise argparse.ArgumentTypeError(f"counts must be positive and increasing, got {text!r}")
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m helpers.lessons.switch_probe switch|waiters ...``, one JSON line out."""
    parser = argparse.ArgumentParser(prog="python -m helpers.lessons.switch_probe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("switch")
    s.add_argument("kind", choices=SWITCH_KINDS)
    s.add_argument("--seconds", type=float, default=0.2)
    s.add_argument("--pin", type=int, default=None)
    s.add_argument("--depth", type=int, default=0)
    s.add_argument("--through", choices=THROUGH, default="python")
    w = sub.add_parser("waiters")
    w.add_argument("what", choices=WAITER_KINDS)
    w.add_argument("--counts", type=_counts, required=True)
    sub.add_parser("machine")
    args = parser.parse_args(argv)
    if args.command == "switch":
        if not (0 < args.seconds <= 30):
            parser.error(f"--seconds must be in (0, 30], got {args.seconds}")
        if not (0 <= args.depth <= MAX_DEPTH):
            parser.error(f"--depth must be from 0 to {MAX_DEPTH}, got {args.depth}")
        out = switch(args.kind, args.seconds, args.pin, args.depth, args.through)
    elif args.command == "waiters":
        out = waiters(args.what, args.counts)
    else:
        out = machine()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
