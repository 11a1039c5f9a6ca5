"""What this machine offers the experiments: Python, cores, GIL, limits, packages."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import pandas as pd
import psutil

from helpers.load import open_file_limit
from helpers.pools import usable_cores
from helpers.services import somaxconn

CORE_PACKAGES = (
    "jupyterlab", "ipykernel", "matplotlib", "pandas", "numpy", "aiohttp", "requests",
    "gevent", "greenlet", "nest-asyncio", "psutil", "tqdm", "gunicorn", "flask", "uvloop",
)
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
NEEDED_OPEN_FILES = 1100  # the 1,000-client experiments, plus the process's own files


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
    if sys.version_info[:2] not in SUPPORTED_PYTHONS:
        out.append(f"Python {platform.python_version()} is not one of the tested versions 3.10-3.13.")
    if sys.platform == "win32":
        out.append("Windows: gunicorn and uvloop do not run here; the server notebooks need Linux, macOS or WSL.")
    soft, hard = open_file_limit()
    if hard is not None and hard < NEEDED_OPEN_FILES:
        out.append(f"The open-file limit ({hard}) is below {NEEDED_OPEN_FILES}: the 1,000-client experiments will refuse to run.")
    missing = [k for k, v in package_versions().items() if v == "not installed" and k != "uvloop"]
    if missing:
        out.append(f"Missing packages: {', '.join(missing)} (run `make setup`).")
    return out
