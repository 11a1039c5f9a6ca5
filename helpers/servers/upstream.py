"""The apps' clients for the upstream (the slow service): blocking (requests) and async (aiohttp).

Both send ``GET {upstream}/io?ms=A`` and return the upstream's pid. Every
pool size is set explicitly, because a default pool silently caps a
measurement (requests keeps 10 connections per host, aiohttp 100).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

# Imported here, when the app is imported (in a gunicorn worker: at boot, after gevent's patching),
# not at the first request: importing requests takes tens of milliseconds, which the first request
# of every worker would otherwise pay (notebook 03's fifth request would wait 1.8 rounds, not one).
import requests
from requests.adapters import HTTPAdapter

from helpers.servers import contract

SYNC_POOL_PER_THREAD = 1  # one thread sends one request at a time: one connection is enough
GEVENT_POOL = 10_000  # under gevent one session is shared by every greenlet of the worker


def _gevent_patched() -> bool:
    import sys

    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


class SyncUpstream:
    """Blocking client (requests): one Session per thread, or one shared Session under gevent.

    Under gevent ``threading.local`` is greenlet-local and every request runs
    in a new greenlet, so a per-thread session would open a new connection
    per request; the worker shares one session whose pool holds ``GEVENT_POOL``.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._shared: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def _new_session(pool: int):
        s = requests.Session()
        s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0, pool_block=False))
        return s

    def session(self):
        if _gevent_patched():
            if self._shared is None:
                with self._lock:
                    if self._shared is None:
                        self._shared = self._new_session(GEVENT_POOL)
            return self._shared
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = self._new_session(SYNC_POOL_PER_THREAD)
        return s

    def wait(self, ms: float) -> int:
        """Ask the upstream to wait ``ms`` ms (this thread blocks meanwhile); return its pid."""
        r = self.session().get(f"{contract.upstream()}/io", params={"ms": ms}, timeout=contract.MAX_MS / 1000 + 10)
        r.raise_for_status()
        return r.json()["pid"]

    @staticmethod
    def limits() -> dict[str, Any]:
        if _gevent_patched():
            return {"upstream_client": "requests (one Session per worker, gevent)", "upstream_pool": GEVENT_POOL}
        return {"upstream_client": "requests (one Session per thread)", "upstream_pool": SYNC_POOL_PER_THREAD}


class AsyncUpstream:
    """Async client (aiohttp): one ClientSession per process, made on first use in the running loop.

    Its connector's ``limit`` (total connections) comes from ``COURSE_UPSTREAM_LIMIT``
    (default ``contract.DEFAULT_UPSTREAM_LIMIT``); the per-host limit is off.
    """

    def __init__(self) -> None:
        self.limit = contract.upstream_limit()
        self._session: Any = None
        self._lock: asyncio.Lock | None = None

    async def _get(self):
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=contract.MAX_MS / 1000 + 10),
            )
        return self._session

    async def wait(self, ms: float) -> int:
        """Ask the upstream to wait ``ms`` ms without blocking the loop; return its pid."""
        url = f"{contract.upstream()}/io"
        session = await self._get()
        async with session.get(url, params={"ms": str(ms)}) as r:
            r.raise_for_status()
            return (await r.json())["pid"]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def limits(self) -> dict[str, Any]:
        return {"upstream_client": "aiohttp ClientSession (one per process)", "upstream_connection_limit": self.limit}


def use_blocking_pool() -> None:
    """Give the running loop an explicit ``asyncio.to_thread`` pool of ``contract.BLOCKING_THREADS``."""
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=contract.BLOCKING_THREADS, thread_name_prefix="to_thread"))
