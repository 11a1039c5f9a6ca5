"""One request, timed: the blocking (requests) and the asyncio (aiohttp) way.

Both return the same record, so blocking and async runs land in the same
table: t_send and t_done (client clock, perf_counter seconds), latency_s,
status, error, and what the server said about itself (server_pid,
server_thread, server_start, server_end) when it answers with the slow
service's JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

SERVER_FIELDS = {"pid": "server_pid", "thread": "server_thread", "start": "server_start", "end": "server_end"}


def _record(t_send: float, status: int | None, body: bytes | None, error: str | None) -> dict[str, Any]:
    t_done = time.perf_counter()
    rec: dict[str, Any] = {
        "t_send": t_send,
        "t_done": t_done,
        "latency_s": t_done - t_send,
        "status": status,
        "error": error,
    }
    if body:
        try:
            info = json.loads(body)
        except ValueError:
            info = None
        if isinstance(info, dict):
            for src, dst in SERVER_FIELDS.items():
                if src in info:
                    rec[dst] = info[src]
    return rec


def get_blocking(url: str, session=None, timeout_s: float = 30.0) -> dict[str, Any]:
    """GET ``url`` with requests (blocking this thread until the answer is in)."""
    import requests

    getter = session if session is not None else requests
    t_send = time.perf_counter()
    try:
        r = getter.get(url, timeout=timeout_s)
        return _record(t_send, r.status_code, r.content, None)
    except requests.RequestException as e:
        return _record(t_send, None, None, f"{type(e).__name__}: {e}")


async def get_async(session, url: str) -> dict[str, Any]:
    """GET ``url`` with an aiohttp ClientSession (gives the event loop back while waiting)."""
    import asyncio

    import aiohttp

    t_send = time.perf_counter()
    try:
        async with session.get(url) as r:
            body = await r.read()
            return _record(t_send, r.status, body, None)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        return _record(t_send, None, None, f"{type(e).__name__}: {e}")
