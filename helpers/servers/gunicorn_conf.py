"""gunicorn settings hooks used by ``helpers.gunicorn.Gunicorn`` (``-c python:helpers.gunicorn_conf``).

- Each worker prints ``WORKER READY pid=N`` once it can take requests, so the
  notebook waits for every worker, not just the master.
- The master stops itself gracefully if the process that started it (the
  notebook kernel) disappears, so a crashed kernel leaves no server behind.
"""

from helpers.procs import exit_with_parent


def when_ready(server) -> None:
    """Master is listening: watch the parent."""
    exit_with_parent(graceful=True)


def post_worker_init(worker) -> None:
    """A worker finished booting."""
    print(f"WORKER READY pid={worker.pid}", flush=True)
