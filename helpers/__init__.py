"""Shared machinery for the course "Sync vs Async Python, measured".

The notebooks import the modules they need, for example::

    from helpers.core import config, plots, models, timing
    from helpers.load import generator as load
    from helpers.servers import slow as services

config     quick and full mode
checks     argument checks shared by the modules (loopback URLs, counts)
workloads  calibrated CPU burn and I/O wait (picklable, for any pool)
procs      subprocesses that are always cleaned up
services   the slow service (a real aiohttp server in its own process)
clients    one timed request, blocking (requests) or async (aiohttp)
load       the load generator (its own process): one row per request
pools      thread and process pools that always clean up; staircase, GIL and
           mixed-pool experiments
costs      what a thread and a process worker cost (memory, start-up)
timing     Timer, repeat-and-median, throughput and latency percentiles
models     the ideal and queueing models drawn beside measurements
simul      the chess simul, played for real and scaled down
plots      timelines and sweeps, one consistent look
system     this machine: cores, GIL, limits, package versions
results    saving measurements to results/
course     the notebooks and claims (generated course map)
exercises  self-checks for the exercises
sync_server  gunicorn serving the Flask app of wsgi_app (gunicorn_conf: its hooks)
aio        asyncio from the inside: traced tasks, loop lag, debug mode, many
           requests from one thread, a pooled database
nested_demo  nest_asyncio, shown in a subprocess only

Importing this package (or any module) has no side effects: it starts no
server, prints nothing and leaves matplotlib's settings alone.
"""

__version__ = "0.1.0"
