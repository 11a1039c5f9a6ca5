"""What this machine offers the experiments: Python, cores, GIL, limits, packages."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import psutil


CORE_PACKAGES = (
    "jupyterlab", "ipykernel", "matplotlib", "pandas", "numpy", "aiohttp", "requests",
    "gevent", "greenlet", "nest-asyncio", "psutil", "tqdm", "gunicorn", "flask", "starlette", "uvicorn",
    "httptools", "uvloop",
)
DISTRIBUTION = "sync-async-measured"  # this course, as pip installed it


PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def supported_pythons() -> tuple[tuple[int, int], tuple[int, int]]:
    """The lowest and highest Python (major, minor) the course supports.

    The range is written once, as ``requires-python`` in pyproject.toml: read
    from there when the course's folder is at hand (an editable install), else
    from the installed distribution's Requires-Python, which pip copied from it.
    """
    if PYPROJECT.exists():
        m = re.search(r'^requires-python\s*=\s*"([^"]*)"', PYPROJECT.read_text(), re.M)
        spec = m.group(1) if m else ""
    else:
        spec = metadata.metadata(DISTRIBUTION)["Requires-Python"] or ""
    lo, hi = re.search(r">=\s*3\.(\d+)", spec), re.search(r"<\s*3\.(\d+)", spec)
    if not (lo and hi):
        raise RuntimeError(f"cannot read the supported Python range from Requires-Python {spec!r}")
    return (3, int(lo.group(1))), (3, int(hi.group(1)) - 1)
NEEDED_OPEN_FILES = 1100  # the 1,000-client experiments, plus the process's own files


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells, else the count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def somaxconn() -> int | None:
    """The kernel's cap on any listen backlog (Linux), or None where unknown."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def effective_backlog(requested: int) -> int:
    """The listen backlog a server really gets: what it asks for, capped by somaxconn."""
    cap = somaxconn()
    return min(requested, cap) if cap else requested


def open_file_limit() -> tuple[int | None, int | None]:
    """(soft, hard) open-file limit of this process; None where unlimited or unknown (Windows)."""
    try:
        import resource
    except ImportError:
        return (None, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return (None if soft == inf else soft, None if hard == inf else hard)


def raise_open_file_limit(need: int | None = None) -> tuple[int, int]:
    """Raise this process's open-file soft limit (to ``need``, or as far as allowed).

    Every socket is an open file, so servers and load generators call this
    before opening many connections. Returns (soft, hard) afterwards, -1 where
    the platform has no such limit (Windows). Never raises: a limit that
    cannot be raised is simply reported as it is.
    """
    try:
        import resource
    except ImportError:
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    target = ceiling if need is None else min(need, ceiling)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return (soft, hard)


def gil_enabled() -> bool:
    """False only on a free-threaded CPython build running with the GIL off."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def package_versions(names=CORE_PACKAGES) -> dict[str, str]:
    """Installed version of each package, or "not installed"."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def machine() -> dict[str, object]:
    """Facts about this machine that the experiments depend on."""
    soft, hard = open_file_limit()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpus_usable": usable_cores(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gil_enabled": gil_enabled(),
        "open_files_soft": soft if soft is not None else "unlimited/unknown",
        "open_files_hard": hard if hard is not None else "unlimited/unknown",
        "listen_backlog_cap_somaxconn": somaxconn() or "unknown",
    }


def report() -> pd.DataFrame:
    """The machine and the package versions as a two-column table (item, value)."""
    rows = [(k, v) for k, v in machine().items()]
    rows += [(f"package {k}", v) for k, v in package_versions().items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def problems() -> list[str]:
    """What on this machine would stop or shrink an experiment (empty list: none)."""
    out = []
    lo, hi = supported_pythons()
    if not (lo <= sys.version_info[:2] <= hi):
        out.append(f"Python {platform.python_version()} is not one of the tested versions "
                   f"{lo[0]}.{lo[1]}-{hi[0]}.{hi[1]}.")
    if sys.platform == "win32":
        out.append("Windows: gunicorn and uvloop do not run here; the server notebooks need Linux, macOS or WSL.")
    soft, hard = open_file_limit()
    if hard is not None and hard < NEEDED_OPEN_FILES:
        out.append(f"The open-file limit ({hard}) is below {NEEDED_OPEN_FILES}: the 1,000-client experiments will refuse to run.")
    missing = [k for k, v in package_versions().items() if v == "not installed" and k != "uvloop"]
    if missing:
        out.append(f"Missing packages: {', '.join(missing)} (run `make setup`).")
    return out


# --- the CPU an experiment really got -------------------------------------------------------
# "The machine was busy" is measured, not guessed: over a window, the CPU time used by this
# process and everything it started (live descendants, and the ones already reaped, through
# the OS's children counters) against the machine's total busy time from the kernel's counters
# (psutil.cpu_times: /proc/stat on Linux; steal time counts as taken by others).

_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal", "guest_nice")


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in _BUSY_FIELDS)  # Linux counts guest time inside user


def _own_tree_cpu_s() -> float:
    """CPU seconds used so far by this process, its reaped children and its live descendants."""
    me = os.times()
    total = me.user + me.system + me.children_user + me.children_system
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()  # its own time, and its reaped children's (live ones are listed too)
            total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


class CpuWindow:
    """``with system.CpuWindow() as w: ...`` then ``w.ours_cores``, ``w.others_cores``, ``w.free_cores``.

    ``ours_cores`` is the CPU this process tree used per second of wall time (2.0 = two cores
    busy all along), ``others_cores`` what every other program used, ``free_cores`` what was left
    for the experiment: the usable cores minus the others' share. ``busy`` is True when other
    programs took more than ``BUSY_CORES`` of a core on average. A descendant that exits and is
    reaped by a process that itself exits unreaped inside the window is not counted as ours (the
    OS keeps no record of it); the course's servers and load generators are all reaped.
    """

    BUSY_CORES = 0.25

    def __enter__(self) -> "CpuWindow":
        import time

        self._clock = time.perf_counter
        self.cores = usable_cores()
        self._t0, self._m0, self._o0 = self._clock(), _machine_busy_s(), _own_tree_cpu_s()
        self._s0 = getattr(psutil.cpu_times(), "steal", 0.0)
        self.wall_s = self.ours_cores = self.others_cores = self.free_cores = self.steal_cores = None
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = max(self._clock() - self._t0, 1e-9)
        ours = max(_own_tree_cpu_s() - self._o0, 0.0)
        machine = max(_machine_busy_s() - self._m0, 0.0)
        self.ours_cores = ours / self.wall_s
        # machine CPUs may exceed our affinity; others are counted on the whole machine
        self.others_cores = max(machine - ours, 0.0) / self.wall_s
        self.free_cores = max(self.cores - self.others_cores, 0.0)
        self.steal_cores = max(getattr(psutil.cpu_times(), "steal", 0.0) - self._s0, 0.0) / self.wall_s

    @property
    def busy(self) -> bool:
        return self.others_cores is not None and self.others_cores > self.BUSY_CORES

    def summary(self) -> str:
        return (f"this experiment used {self.ours_cores:.2f} cores on average over {self.wall_s:.1f} s; "
                f"other programs used {self.others_cores:.2f} (of which the virtual machine's host took "
                f"{self.steal_cores:.2f}), leaving {self.free_cores:.2f} of {self.cores}")

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "ours_cores": self.ours_cores, "others_cores": self.others_cores,
                "free_cores": self.free_cores, "steal_cores": self.steal_cores, "cores": self.cores}
