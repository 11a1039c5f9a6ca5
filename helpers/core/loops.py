"""Which event loop runs a program: asyncio's own or uvloop, chosen by name, never by policy.

``run(coro, "uvloop")`` uses ``uvloop.run()`` (it sets no event-loop policy,
an API Python 3.14 deprecates); ``"asyncio"`` uses ``asyncio.run()``;
``"auto"`` takes uvloop where it is installed (not on Windows) and asyncio
otherwise. For child processes and servers only: a notebook kernel already
runs a loop, so notebooks use top-level ``await``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine

LOOPS = ("asyncio", "uvloop", "auto")


def has_uvloop() -> bool:
    """True where uvloop can be imported."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(loop: str) -> str:
    """The loop that ``run(..., loop)`` will use: "asyncio" or "uvloop"; ValueError if uvloop is asked for but missing."""
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
    if loop == "auto":
        return "uvloop" if has_uvloop() else "asyncio"
    if loop == "uvloop" and not has_uvloop():
        raise ValueError("uvloop is not installed (it does not exist for Windows); use loop='asyncio'")
    return loop


def run(coro: Coroutine, loop: str = "asyncio") -> Any:
    """Run ``coro`` to completion on a new event loop of the named kind; return its result."""
    try:
        kind = resolve(loop)
    except ValueError:
        coro.close()
        raise
    if kind == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def running_loop_name() -> str:
    """"uvloop" or "asyncio": the kind of the loop running now (RuntimeError outside one)."""
    return "uvloop" if "uvloop" in type(asyncio.get_running_loop()).__module__ else "asyncio"
