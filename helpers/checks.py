"""Argument checks shared by the helpers: a clear error before anything starts."""

from __future__ import annotations

from typing import Any

LOOPBACK_PREFIXES = ("http://127.", "http://localhost", "http://[::1]")


def loopback_url(url: Any, name: str = "url") -> str:
    """Return ``url`` if it is an http:// address on this machine, else raise ValueError.

    The course never sends a request beyond loopback.
    """
    if not isinstance(url, str) or not url.startswith(LOOPBACK_PREFIXES):
        raise ValueError(f"{name} must be an http:// address on this machine (127.x, localhost, [::1]), got {url!r}")
    return url


def count(name: str, v: Any, upper: int | None = None) -> int:
    """Return ``v`` if it is an int from 1 to ``upper``; TypeError for a non-int, ValueError out of range."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 1 or (upper is not None and v > upper):
        raise ValueError(f"{name} must be from 1 to {upper if upper else 'any size'}, got {v}")
    return v


MAX_MS = 60_000.0


def milliseconds(ms: Any, name: str = "ms") -> float:
    """Return ``ms`` as a float if it is a number of milliseconds from 0 to 60,000."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise TypeError(f"{name} must be a number of milliseconds, not {type(ms).__name__}")
    if not (0 <= ms <= MAX_MS):
        raise ValueError(f"{name} must be between 0 and {MAX_MS:g} milliseconds, got {ms!r}")
    return float(ms)
