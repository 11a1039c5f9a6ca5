"""gunicorn hooks used by ``helpers.servers.gunicorn.Gunicorn`` (``-c python:helpers.servers.gunicorn_conf``).

- ``when_ready``: the master listens; it prints ``READY {json}`` with the real
  port of its listening socket (bound on port 0), its pid and its settings,
  raises its open-file limit (the workers inherit it), and starts watching its
  parent: if the notebook kernel disappears the master stops gracefully.
- ``post_worker_init``: each worker prints ``WORKER READY pid=N {json}``
  (its loop, event-loop policy and HTTP parser), so the notebook waits for
  every worker, not just the master.
"""

import json
import os
import warnings

from helpers.core.procs import exit_with_parent
from helpers.core.system import raise_open_file_limit


def when_ready(server) -> None:
    """Master is listening: announce it, then watch the parent."""
    import gunicorn

    from helpers.servers.base import ready_line

    cfg = server.cfg
    soft, hard = raise_open_file_limit()
    port = server.LISTENERS[0].sock.getsockname()[1]
    print(ready_line(port=port, pid=os.getpid(), gunicorn=gunicorn.__version__, worker_class=cfg.worker_class_str,
                     workers=cfg.workers, threads=cfg.threads, backlog=cfg.backlog,
                     worker_connections=cfg.worker_connections, keepalive_s=cfg.keepalive, timeout_s=cfg.timeout,
                     gunicorn_http_parser=cfg.http_parser, preload=cfg.preload_app, access_log=bool(cfg.accesslog),
                     open_files=soft, open_files_hard=hard), flush=True)
    exit_with_parent(graceful=True)


def post_worker_init(worker) -> None:
    """A worker finished booting: say what drives it."""
    import asyncio

    from helpers.servers import contract

    kind = worker.cfg.worker_class_str
    loop = getattr(worker, "loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop):
        mod = type(loop).__module__
        loop_name = "uvloop" if mod.startswith("uvloop") else f"asyncio ({type(loop).__name__})"
    else:
        loop_name = contract.loop_name()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # get_event_loop_policy itself is deprecated in 3.14
        policy = type(asyncio.get_event_loop_policy())
    if "aiohttp" in kind:
        parser = contract.aiohttp_parser()
    elif kind == "asgi":
        from gunicorn.asgi.protocol import ASGIProtocol

        fast = worker.cfg.http_parser != "python" and ASGIProtocol._check_h1c_protocol_available()
        parser = "gunicorn_h1c (C)" if fast else "gunicorn ASGI PythonProtocol (pure Python)"
    else:
        parser = f"gunicorn (pure Python, http_parser={worker.cfg.http_parser})"
    info = {"loop": loop_name, "event_loop_policy": f"{policy.__module__}.{policy.__name__}", "http_parser": parser}
    print(f"WORKER READY pid={worker.pid} {json.dumps(info, sort_keys=True)}", flush=True)
