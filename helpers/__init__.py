"""Shared machinery for the course "Sync vs Async Python, measured", in four layers.

    core      machinery every layer uses: config, checks, system, procs, executors,
              workloads, timing, models, plots, results, ledger, course, exercises
    servers   every server the course runs, one interface (SlowService, AiohttpServer,
              Uvicorn, Gunicorn with every worker class) and one app contract
              written for WSGI (Flask), aiohttp and ASGI (Starlette)
    load      the load generator (its own processes) and the one-request clients
    lessons   one module per lesson topic (pools, costs, sync_workers, aio, ...)

Imports point one way: core <- servers, load <- lessons (tests/test_layers.py).
The notebooks import what they need, for example::

    from helpers import load, servers
    from helpers.core import config, ledger, plots, timing
    from helpers.lessons import sync_workers

Importing this package (or any module) has no side effects: it starts no
server, prints nothing and leaves matplotlib's settings alone.
"""

__version__ = "0.1.0"
