"""The servers layer: every server the course runs, one interface (``base.Server``).

base            the interface: READY protocol, url(), base_url, pid, worker_pids(), memory(), cpu_times(), limits
contract        the app contract, written once: endpoints, parameter validation, answer fields
upstream        the apps' upstream clients: requests (blocking) and aiohttp (async), explicit pools
flask_app       the app contract as a WSGI app (Flask)
aiohttp_app     the app contract as an aiohttp app (also the slow service's app, in local mode)
asgi_app        the app contract as an ASGI app (Starlette)
slow            SlowService: the slow upstream (aiohttp, one process) every experiment waits on
slow_server     the slow service's own process (python -m helpers.servers.slow_server)
aiohttp_server  AiohttpServer: the aiohttp app standalone, one process, one thread (and its process)
uvicorn_server  Uvicorn: uvicorn serving the Starlette app, chosen loop and HTTP parser (and its process)
gunicorn        Gunicorn: real gunicorn with a chosen worker class, serving the matching app
gunicorn_conf   gunicorn hooks: the READY line, WORKER READY lines, exit with the parent
"""

from helpers.servers.aiohttp_server import AiohttpServer
from helpers.servers.base import Server
from helpers.servers.gunicorn import WORKER_CLASSES, Gunicorn
from helpers.servers.slow import SlowService
from helpers.servers.uvicorn_server import Uvicorn

__all__ = ["AiohttpServer", "Gunicorn", "Server", "SlowService", "Uvicorn", "WORKER_CLASSES"]
