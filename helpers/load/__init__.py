"""The load layer: the load generator (its own processes) and the one-request clients.

``run_load`` sends N requests from C clients (from one or several generator
processes) and returns one row per request; ``run_open_loop`` sends them at
Poisson instants instead (open loop, latency from the scheduled instant);
``clients`` holds the timed single requests (blocking and async) and
``blocking_clients``, the one thread-pool HTTP client, which the generator and
the lessons share.
"""

from helpers.core.system import open_file_limit
from helpers.load.clients import blocking_clients
from helpers.load.generator import (CLIENTS, COLUMNS, FD_MARGIN, MAX_CONCURRENCY, MAX_RATE_RPS, OPEN_COLUMNS,
                                    check_concurrency, check_processes, poisson_schedule, run_load,
                                    run_open_loop)

__all__ = ["CLIENTS", "COLUMNS", "FD_MARGIN", "MAX_CONCURRENCY", "MAX_RATE_RPS", "OPEN_COLUMNS", "blocking_clients",
           "check_concurrency", "check_processes", "open_file_limit", "poisson_schedule", "run_load",
           "run_open_loop"]
