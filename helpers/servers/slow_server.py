"""The slow service's own process: the aiohttp app of ``aiohttp_app`` in local mode (waits are asyncio.sleep).

Start it through ``helpers.servers.slow.SlowService``; run by hand with
``python -m helpers.servers.slow_server --port 0``. It binds 127.0.0.1 only,
serves the app contract (``contract``: /health, /io, /cpu, /mix, /db, /block,
/io-thread), and prints
``READY {json}`` (port, pid, loop, backlog, open files...) once it listens.

``--io-service`` makes /io's wait variable: "fixed" (the default: exactly
``ms``), "exponential" (mean ``ms``) or "lognormal" (mean ``ms``, shape
``--io-sigma``), drawn from one ``random.Random(--io-seed)`` in arrival
order, capped at the contract's largest wait. The drawn wait replaces ``ms``
before the handler runs, so the answer's ``ms`` is the wait really drawn.
"""

from __future__ import annotations

import argparse
import math
import random
import sys

from helpers.core import workloads
from helpers.core.procs import exit_with_parent

IO_SERVICES = ("fixed", "exponential", "lognormal")


def draw_ms(rng: random.Random, kind: str, mean_ms: float, sigma: float = 0.5) -> float:
    """One wait in milliseconds: ``mean_ms`` itself ("fixed"), or an exponential or log-normal draw of
    mean ``mean_ms`` (log-normal: shape ``sigma``, so mu = ln(mean) - sigma^2 / 2); capped at contract.MAX_MS."""
    from helpers.servers.contract import MAX_MS

    if kind not in IO_SERVICES:
        raise ValueError(f"kind must be one of {IO_SERVICES}, got {kind!r}")
    if kind == "fixed" or mean_ms <= 0:
        return mean_ms
    if kind == "exponential":
        x = rng.expovariate(1.0 / mean_ms)
    else:
        x = rng.lognormvariate(math.log(mean_ms) - sigma * sigma / 2.0, sigma)
    return min(x, MAX_MS)


def variable_io(kind: str, sigma: float, seed: int):
    """An aiohttp middleware that replaces /io's ``ms`` by a draw of mean ``ms`` (``draw_ms``)."""
    from aiohttp import web

    from helpers.servers import contract

    rng = random.Random(seed)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path == "/io":
            mean = contract.parse("/io", request.query)["ms"]  # a bad ms raises ValueError: a 400, as without
            drawn = draw_ms(rng, kind, mean, sigma)
            request = request.clone(rel_url=request.rel_url.update_query(ms=f"{drawn:.6f}"))
        return await handler(request)

    return middleware


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the slow service (python -m helpers.servers.slow_server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--keepalive", type=float, default=75.0)
    parser.add_argument("--io-service", choices=IO_SERVICES, default="fixed")
    parser.add_argument("--io-sigma", type=float, default=0.5)
    parser.add_argument("--io-seed", type=int, default=0)
    args = parser.parse_args(argv)
    exit_with_parent()
    workloads.calibrate()
    from helpers.servers.aiohttp_app import make_app
    from helpers.servers.aiohttp_server import serve

    app = make_app(local=True)
    info = {}
    if args.io_service != "fixed":
        app.middlewares.append(variable_io(args.io_service, args.io_sigma, args.io_seed))
        info = {"io_service": args.io_service, "io_seed": args.io_seed}
        if args.io_service == "lognormal":
            info["io_sigma"] = args.io_sigma
    serve(app, port=args.port, backlog=args.backlog, loop=args.loop, keepalive_s=args.keepalive,
          server="slow service (aiohttp)", **info)
    sys.exit(0)


if __name__ == "__main__":
    main()
