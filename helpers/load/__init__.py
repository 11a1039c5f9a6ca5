"""The load layer: the load generator (its own process) and the one-request clients.

``run_load`` sends N requests from C clients and returns one row per request;
``clients`` holds the timed single requests (blocking and async) that the
generator and the lessons share.
"""

from helpers.core.system import open_file_limit
from helpers.load.generator import CLIENTS, FD_MARGIN, MAX_CONCURRENCY, check_concurrency, run_load

__all__ = ["CLIENTS", "FD_MARGIN", "MAX_CONCURRENCY", "check_concurrency", "open_file_limit", "run_load"]
