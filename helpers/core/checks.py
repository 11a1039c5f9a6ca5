"""Argument checks shared by every layer: a clear error before anything starts.

Each check returns the value it accepted (converted where that is harmless)
and raises TypeError for a value of the wrong kind, ValueError for one out of
range, with a message that says what is allowed.
"""

from __future__ import annotations

from typing import Any

LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")
MAX_MS = 60_000.0  # the longest wait or burn any endpoint or workload accepts


def loopback_url(url: Any, name: str = "url") -> str:
    """Return ``url`` if it is an http:// address on this machine (127.x, localhost, [::1]).

    The course never sends a request beyond loopback.
    """
    if not isinstance(url, str) or not url.startswith(tuple(f"http://{h}" for h in LOOPBACK_HOSTS)):
        raise ValueError(f"{name} must be an http:// address on this machine (127.x, localhost, [::1]), got {url!r}")
    return url


def count(name: str, v: Any, upper: int | None = None) -> int:
    """Return ``v`` if it is an int from 1 to ``upper``; TypeError for a non-int, ValueError out of range."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 1 or (upper is not None and v > upper):
        raise ValueError(f"{name} must be from 1 to {upper if upper else 'any size'}, got {v}")
    return v


def number(name: str, v: Any, *, low: float = 0.0, high: float | None = None, allow_low: bool = True) -> float:
    """Return ``v`` as a float if it is a number in [low, high] ((low, high] without ``allow_low``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(v).__name__}")
    if v != v or (v < low or (v == low and not allow_low)) or (high is not None and v > high):
        lo = "[" if allow_low else "("
        raise ValueError(f"{name} must be in {lo}{low:g}, {high if high is not None else 'inf'}], got {v!r}")
    return float(v)


def seconds(v: Any, name: str = "timeout_s", upper: float = 3600.0) -> float:
    """Return ``v`` if it is a number of seconds in (0, ``upper``]."""
    return number(name, v, low=0.0, high=upper, allow_low=False)


def milliseconds(ms: Any, name: str = "ms") -> float:
    """Return ``ms`` as a float if it is a number of milliseconds from 0 to 60,000."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise TypeError(f"{name} must be a number of milliseconds, not {type(ms).__name__}")
    if not (0 <= ms <= MAX_MS):
        raise ValueError(f"{name} must be between 0 and {MAX_MS:g} milliseconds, got {ms!r}")
    return float(ms)


def choice(name: str, v: Any, options: tuple) -> Any:
    """Return ``v`` if it is one of ``options``."""
    if v not in options:
        raise ValueError(f"{name} must be one of {options}, got {v!r}")
    return v
