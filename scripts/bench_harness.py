"""How fast is the course's harness? Prints figures; asserts nothing (run by `make bench`).

Measured side by side in one run on this machine, each as the median of
several repeats:

1. the load generator's highest request rate against the slow service at
   0 ms, 50 clients: each client (aiohttp, raw, requests) with 1 and 2
   generator processes, and how busy each side's CPU was (a generator
   process near 100 % set the pace itself; the slow service is one process,
   so near 100 % there means the server did);
2. where Debian's ``wrk`` is installed (optional, never needed by the
   course): wrk's rate on the same server and URL, and each of ours as a
   ratio to it;
3. 1,000 concurrent requests that each wait 200 ms: the time taken, as a
   ratio to the ideal 0.2 s (goal: below 1.5);
4. the generator's rate at 0 ms (``/io?ms=0`` of the slow service,
   ``/health`` of the others) against every server class that exists in
   ``helpers.servers`` when the script runs: the ceiling each later notebook
   works under.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import re
import shutil
import statistics
import subprocess
import time

import psutil

from helpers.core import timing
from helpers.core.system import usable_cores
from helpers.load import generator as load
from helpers import servers

CLIENTS = 50


def server_cpu(srv) -> float:
    """CPU seconds the server's processes have used so far."""
    if hasattr(srv, "cpu_times"):
        return srv.cpu_times()
    total = 0.0
    try:
        p = psutil.Process(srv.pid)
        for q in [p, *p.children(recursive=True)]:
            t = q.cpu_times()
            total += t.user + t.system
    except psutil.Error:
        pass
    return total


def ours(srv, url: str, client: str, processes: int, n: int) -> dict:
    """One run of our generator: rate, each process's CPU share, server CPU, CPU per request."""
    c0 = server_cpu(srv)
    df = load.run_load(url, requests=n, concurrency=CLIENTS, client=client, processes=processes)
    lim = df.attrs["limits"]
    s = timing.summarize(df).iloc[0]
    srv_s = server_cpu(srv) - c0
    return {"rate": float(s["throughput_rps"]), "errors": int(s["errors"]), "gen": lim["loadgen_cpu_shares"],
            "server": srv_s / lim["wall_s"], "gen_us": lim["loadgen_cpu_s"] / n * 1e6, "server_us": srv_s / n * 1e6}


def wrk(srv, url: str, seconds: int) -> dict | None:
    """One wrk run (one thread, the same 50 connections), or None where wrk is not installed."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    c0, t0, k0 = server_cpu(srv), time.perf_counter(), _children_cpu()
    out = subprocess.run([exe, "-t1", f"-c{CLIENTS}", f"-d{seconds}s", url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    wall, wrk_s = time.perf_counter() - t0, _children_cpu() - k0
    m, k = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if not (m and k):
        return None
    srv_s = server_cpu(srv) - c0
    n = int(k.group(1))
    return {"rate": float(m.group(1)), "errors": 0, "gen": [wrk_s / wall], "server": srv_s / wall,
            "gen_us": wrk_s / n * 1e6, "server_us": srv_s / n * 1e6}


def _children_cpu() -> float:
    """CPU seconds used by this process's finished children (wrk's, once it has exited)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def med(runs: list[dict]) -> dict:
    """Medians over repeats of every figure of a run (each process's CPU share separately)."""
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("gen", "errors")}
    out["errors"] = sum(r["errors"] for r in runs)
    out["runs"] = [r["rate"] for r in runs]
    if "gen" in runs[0]:
        out["gen"] = [statistics.median(r["gen"][k] for r in runs) for k in range(len(runs[0]["gen"]))]
    return out


def line(label: str, r: dict, ref: dict | None) -> str:
    ratio = f"{r['rate'] / ref['rate']:5.2f}x wrk" if ref else " " * 9
    gen = "+".join(f"{g:.0%}" for g in r["gen"]) if "gen" in r else "-"
    gen_us = f"{r['gen_us']:5.1f}" if "gen_us" in r else "    -"
    err = f", {r['errors']} errors" if r["errors"] else ""
    return (f"  {label:36s} {r['rate']:7.0f} req/s {ratio}  CPU busy: generator {gen:>7s}, server {r['server']:4.0%}"
            f"  CPU us/request: generator {gen_us}, server {r['server_us']:5.1f}"
            f"  (runs {', '.join(f'{x:.0f}' for x in r['runs'])}{err})")


def server_classes(upstream: str) -> list[tuple[str, object, str]]:
    """(label, factory, path) of every server class present in helpers.servers now."""
    out: list[tuple[str, object, str]] = []
    G = getattr(servers, "Gunicorn", None)
    kinds = getattr(servers, "WORKER_CLASSES", ("sync",))
    if G is not None:
        for wc in ("sync", "gevent", "aiohttp", "asgi"):
            if wc in kinds:
                out.append((f"Gunicorn(workers=2, {wc})",
                            lambda wc=wc: G(workers=2, worker_class=wc, upstream=upstream, key="bench-server"),
                            "/health"))
    for name in ("AiohttpServer", "Uvicorn"):
        cls = getattr(servers, name, None)
        if cls is not None:
            out.append((f"{name}()", lambda cls=cls: _start(cls, upstream), "/health"))
    return out


def _start(cls, upstream: str):
    try:
        return cls(upstream=upstream, key="bench-server")
    except TypeError:
        return cls(key="bench-server")


def main() -> None:
    ap = argparse.ArgumentParser(description="benchmark the load generator and the servers")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=6000, help="requests in each 0 ms run (requests client: a fifth)")
    ap.add_argument("--wrk-seconds", type=int, default=1)
    args = ap.parse_args()
    t_bench = time.perf_counter()
    print(f"machine: {platform.platform()}, {psutil.cpu_count()} logical cores ({usable_cores()} usable), "
          f"Python {platform.python_version()}; wrk: {shutil.which('wrk') or 'not installed'}")
    print(f"each figure: median of {args.repeats} runs, {CLIENTS} closed-loop clients, keep-alive")
    summary: dict[str, float] = {}
    have_wrk = shutil.which("wrk") is not None
    with servers.SlowService(key="bench-slow") as svc:
        url = svc.url("/io", ms=0)
        print(f"\n1-2. the generator's max rate: slow service (aiohttp, 1 process), /io?ms=0, 50 clients")
        print("     (100 % CPU busy = one core; the runs of all rows are interleaved, wrk first in each round)")
        configs = [(c, p) for c in ("raw", "aiohttp", "requests") for p in (1, 2)]
        runs: dict = {cfg: [] for cfg in configs}
        wruns: list = []
        for _ in range(args.repeats):
            if have_wrk:
                wruns.append(wrk(svc, url, args.wrk_seconds))
            for client, p in configs:
                n = args.requests if client != "requests" else args.requests // 5
                runs[(client, p)].append(ours(svc, url, client, p, n))
        w = med([x for x in wruns if x]) if any(wruns) else None
        if w:
            print(line("wrk -t1 -c50", w, None))
            summary["wrk_rps"] = w["rate"]
        else:
            print("  wrk: not installed (optional: apt-get install wrk)")
        for client, p in configs:
            r = med(runs[(client, p)])
            print(line(f"{client}, {p} process{'es' if p > 1 else ''}", r, w))
            summary[f"{client}_p{p}_rps"] = r["rate"]
            if w:
                summary[f"{client}_p{p}_vs_wrk"] = r["rate"] / w["rate"]

        print("\n3. 1,000 concurrent requests that each wait 200 ms (ideal: 0.2 s)")
        for client in ("aiohttp", "raw"):
            ratios, p99s = [], []
            for _ in range(args.repeats):
                df = load.run_load(svc.url("/io", ms=200), requests=1000, concurrency=1000, client=client)
                s = timing.summarize(df).iloc[0]
                ratios.append(s["duration_s"] / 0.2)
                p99s.append(s["p99_ms"])
            print(f"  {client:8s} {statistics.median(ratios):.2f}x the ideal 0.2 s "
                  f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}); median P99 latency {statistics.median(p99s):.0f} ms")
            summary[f"ratio_1000x200ms_{client}"] = statistics.median(ratios)

        print("\n4. each server's ceiling at 0 ms: our generator (raw client, 1 process) and wrk, interleaved")
        targets = [("SlowService()", lambda: contextlib.nullcontext(svc), "/io?ms=0")] + server_classes(svc.base_url)
        for label, make, path in targets:
            try:
                with make() as srv:
                    u = f"{srv.base_url}{path}"
                    ws, rs = [], []
                    for _ in range(args.repeats):
                        if have_wrk:
                            ws.append(wrk(srv, u, args.wrk_seconds))
                        rs.append(ours(srv, u, "raw", 1, args.requests // 2))
                    wm = med([x for x in ws if x]) if any(ws) else None
                    if wm:
                        print(line(f"{label} {path}, wrk", wm, None))
                    print(line(f"{label} {path}, ours", med(rs), wm))
            except Exception as e:  # a server another change has not finished: report, go on
                print(f"  {label:36s} skipped: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    print("\nsummary: " + " ".join(f"{k}={v:.2f}" if v < 100 else f"{k}={v:.0f}" for k, v in summary.items())
          + f" (bench took {time.perf_counter() - t_bench:.0f} s)")


if __name__ == "__main__":
    main()
