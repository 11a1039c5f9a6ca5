"""The slow service's own process: the aiohttp app of ``aiohttp_app`` in local mode (waits are asyncio.sleep).

Start it through ``helpers.servers.slow.SlowService``; run by hand with
``python -m helpers.servers.slow_server --port 0``. It binds 127.0.0.1 only,
serves the app contract (``contract``: /health, /io, /cpu, /mix, /db, /block,
/io-thread), and prints
``READY {json}`` (port, pid, loop, backlog, open files...) once it listens.
"""

from __future__ import annotations

import argparse
import sys

from helpers.core import workloads
from helpers.core.procs import exit_with_parent


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the slow service (python -m helpers.servers.slow_server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--keepalive", type=float, default=75.0)
    args = parser.parse_args(argv)
    exit_with_parent()
    workloads.calibrate()
    from helpers.servers.aiohttp_app import make_app
    from helpers.servers.aiohttp_server import serve

    serve(make_app(local=True), port=args.port, backlog=args.backlog, loop=args.loop, keepalive_s=args.keepalive,
          server="slow service (aiohttp)")
    sys.exit(0)


if __name__ == "__main__":
    main()
