"""How fast is the course's harness? Prints figures; asserts nothing (run by `make bench`).

Measured side by side in one run on this machine, each as the median of
several repeats:

1. the load generator's highest request rate against the slow service at
   0 ms (and how busy the generator's own CPU was: near 100 % means the
   generator, not the server, set the pace);
2. 1,000 concurrent requests that each wait 200 ms: the time taken, as a
   ratio to the ideal 0.2 s (goal: below 1.5).
"""

from __future__ import annotations

import argparse
import platform
import statistics

import psutil

from helpers import load, services, timing


def main() -> None:
    ap = argparse.ArgumentParser(description="benchmark the load generator and the slow service")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--requests", type=int, default=5000, help="requests in each 0 ms run")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {psutil.cpu_count()} logical cores, Python {platform.python_version()}")
    rates, shares, ratios, p99s = [], [], [], []
    with services.SlowService() as svc:
        print(f"server limits: {svc.limits}")
        for client in ("aiohttp", "requests"):
            r, s = [], []
            for _ in range(args.repeats):
                n = args.requests if client == "aiohttp" else args.requests // 5
                df = load.run_load(svc.url(io_ms=0), requests=n, concurrency=50, client=client)
                r.append(float(timing.summarize(df)["throughput_rps"].iloc[0]))
                s.append(df.attrs["limits"]["loadgen_cpu_share"])
            print(f"0 ms requests, 50 clients, {client:8s}: median {statistics.median(r):8.0f} req/s "
                  f"(runs: {', '.join(f'{x:.0f}' for x in r)}); generator CPU busy {statistics.median(s):.0%}")
            if client == "aiohttp":
                rates, shares = r, s
        for _ in range(args.repeats):
            df = load.run_load(svc.url(io_ms=200), requests=1000, concurrency=1000)
            summ = timing.summarize(df).iloc[0]
            ratios.append(summ["duration_s"] / 0.2)
            p99s.append(summ["p99_ms"])
        print(f"1,000 concurrent 200 ms requests: median {statistics.median(ratios):.2f}x the ideal 0.2 s "
              f"(runs: {', '.join(f'{x:.2f}' for x in ratios)}); median P99 latency {statistics.median(p99s):.0f} ms")
    print(f"summary: max_rate_rps={statistics.median(rates):.0f} (generator CPU busy {statistics.median(shares):.0%}) "
          f"ratio_1000x200ms={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
