"""Does every package pinned in requirements.lock have a binary wheel on every supported Python?

    python scripts/check_wheels.py                    # every supported Python x the platforms below
    python scripts/check_wheels.py --pythons 3.14 --platforms linux-x86_64 --pip

The supported Pythons are read from pyproject.toml's `requires-python` (">=3.10,<3.16" means
3.10 to 3.15).  For each Python and platform the lock's environment markers are evaluated for
that target, and every pin that applies is checked for a wheel on the package index:

- default: `uv pip compile --no-deps --only-binary :all:` for the target Python and platform
  (reads the index's metadata only: seconds, nothing is downloaded);
- `--pip`: `pip download --no-deps --only-binary=:all:` into a temporary folder (downloads every
  wheel, a few hundred MB per Python; Linux x86_64 only unless --platforms says otherwise).

Prints one table per platform (package x Python: the pinned version, MISSING, or "-" where the
lock does not install the package there) and exits 1 if a pin lacks a wheel on a supported
Python on a platform the course supports (Linux and macOS); Windows is reported, not enforced
(the course runs there only under WSL or through conda).  Needs the package registry, so it is
`make wheels`, not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent

# The compiled packages worth seeing in the table even when all is well.
WATCH = """uvloop gevent greenlet httptools psutil numpy pandas matplotlib pyzmq tornado aiohttp
frozenlist multidict yarl propcache zope-interface cffi argon2-cffi-bindings pyyaml markupsafe
rpds-py debugpy""".split()

# name: (uv --python-platform, pip --platform tags, marker environment, enforced)
PLATFORMS = {
    "linux-x86_64": ("x86_64-manylinux_2_28",
                     [f"manylinux_2_{n}_x86_64" for n in range(28, 16, -1)]
                     + ["manylinux2014_x86_64", "linux_x86_64"],
                     dict(sys_platform="linux", platform_system="Linux", os_name="posix",
                          platform_machine="x86_64"), True),
    "macos-arm64": ("aarch64-apple-darwin",
                    [f"macosx_{v}_{a}" for v in ("14_0", "13_0", "12_0", "11_0")
                     for a in ("arm64", "universal2")],
                    dict(sys_platform="darwin", platform_system="Darwin", os_name="posix",
                         platform_machine="arm64"), True),
    "macos-x86_64": ("x86_64-apple-darwin",
                     [f"macosx_{v}_{a}" for v in ("13_0", "12_0", "11_0", "10_15", "10_13",
                                                  "10_9") for a in ("x86_64", "universal2")],
                     dict(sys_platform="darwin", platform_system="Darwin", os_name="posix",
                          platform_machine="x86_64"), True),
    "windows-x86_64": ("x86_64-pc-windows-msvc", ["win_amd64"],
                       dict(sys_platform="win32", platform_system="Windows", os_name="nt",
                            platform_machine="AMD64"), False),
}

NO_WHEEL = re.compile(
    r"(?:Because|and) ([A-Za-z0-9][A-Za-z0-9_.\-]*)==\S+ has no (?:usable )?wheels"
    r"|satisfies the requirement ([A-Za-z0-9][A-Za-z0-9_.\-]*)==")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported_pythons(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """3.X for every X allowed by requires-python ">=3.A,<3.B" (the one place it is written)."""
    line = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject.read_text(), re.M).group(1)
    m = re.fullmatch(r"\s*>=\s*3\.(\d+)\s*,\s*<\s*3\.(\d+)\s*", line)
    if not m:
        sys.exit(f'requires-python must read ">=3.A,<3.B", not {line!r}')
    return [f"3.{x}" for x in range(int(m.group(1)), int(m.group(2)))]


def read_lock(lock: Path) -> list[tuple[str, str, Marker | None]]:
    pins = []
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;]+)\s*(?:;\s*(.+))?$", line.strip())
        if m and not line.startswith((" ", "#")):
            pins.append((norm(m.group(1)), m.group(2), Marker(m.group(3)) if m.group(3) else None))
    return pins


def pins_for(pins, python: str, env: dict) -> dict[str, str]:
    """The pins that the lock installs on this Python and platform: {name: version}."""
    full = dict(env, python_version=python, python_full_version=python + ".0",
                implementation_name="cpython", platform_python_implementation="CPython",
                implementation_version=python + ".0", platform_release="", platform_version="",
                extra="")
    return {name: ver for name, ver, marker in pins if marker is None or marker.evaluate(full)}


def uv_exe() -> list[str]:
    here = Path(sys.executable).parent / "uv"
    if here.exists():
        return [str(here)]
    if shutil.which("uv"):
        return [shutil.which("uv")]
    return [sys.executable, "-m", "uv"]


def check_once(backend: str, python: str, platform: str, wanted: dict[str, str], tmp: Path):
    """Run the installer's check on `wanted`; returns (ok, output)."""
    req = tmp / "req.txt"
    req.write_text("".join(f"{n}=={v}\n" for n, v in sorted(wanted.items())))
    uv_platform, pip_tags, _, _ = PLATFORMS[platform]
    if backend == "uv":
        cmd = uv_exe() + ["pip", "compile", str(req), "--no-deps", "--only-binary", ":all:",
                          "--python-version", python, "--python-platform", uv_platform,
                          "--no-header", "--quiet", "-o", str(tmp / "out.txt")]
    else:
        abi = "cp" + python.replace(".", "")
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
               "--abi", abi, "--abi", "abi3", "--abi", "none", "-d", str(tmp / "dl"), "-r", str(req)]
        for tag in pip_tags:
            cmd += ["--platform", tag]
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    env.pop("PIP_FIND_LINKS", None)  # the index only: a local wheel folder would hide a gap
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return r.returncode == 0, r.stdout + r.stderr


def check(backend: str, python: str, platform: str, wanted: dict[str, str]) -> set[str]:
    """The names in `wanted` that have no wheel for this Python and platform."""
    missing: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="wheels-") as t:
        left = dict(wanted)
        while left:
            ok, out = check_once(backend, python, platform, left, Path(t))
            if ok:
                return missing
            names = {norm(a or b) for a, b in NO_WHEEL.findall(out)} & set(left)
            if not names:
                sys.exit(f"{backend} failed for Python {python} on {platform}:\n{out}")
            missing |= names
            for n in names:
                del left[n]
    return missing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    ap.add_argument("--pythons", help="comma-separated, default: every supported one")
    ap.add_argument("--platforms", help=f"comma-separated from {','.join(PLATFORMS)}")
    ap.add_argument("--pip", action="store_true", help="download every wheel with pip instead")
    ap.add_argument("--all", action="store_true", help="show every package, not only the watched")
    a = ap.parse_args()
    supported = supported_pythons()
    pythons = a.pythons.split(",") if a.pythons else supported
    platforms = (a.platforms.split(",") if a.platforms
                 else ["linux-x86_64"] if a.pip else list(PLATFORMS))
    backend = "pip" if a.pip else "uv"
    pins = read_lock(a.lock)
    print(f"requires-python gives {', '.join(supported)}; checking {', '.join(pythons)} "
          f"with {backend}, only binary wheels, {len({p[0] for p in pins})} pinned packages")
    failed = []
    for platform in platforms:
        env, enforced = PLATFORMS[platform][2], PLATFORMS[platform][3]
        table: dict[str, dict[str, str]] = {}
        for py in pythons:
            wanted = pins_for(pins, py, env)
            missing = check(backend, py, platform, wanted)
            for name in set(WATCH) | set(wanted):
                cell = "-" if name not in wanted else (
                    "MISSING " + wanted[name] if name in missing else wanted[name])
                table.setdefault(name, {})[py] = cell
            if missing and py in supported and enforced:
                failed += [f"{platform} Python {py}: {n}=={wanted[n]}" for n in sorted(missing)]
        rows = [n for n in WATCH] + sorted(
            n for n in table if n not in WATCH
            and (a.all or any(c.startswith("MISSING") for c in table[n].values())))
        others = len(table) - len(rows)
        w = max(len(n) for n in rows) + 2
        cw = max(9, *(len(c) + 2 for r in rows for c in table[r].values()))
        print(f"\n{platform}" + ("" if enforced else " (reported, not enforced)"))
        print("package".ljust(w) + "".join(py.ljust(cw) for py in pythons))
        for n in rows:
            print(n.ljust(w) + "".join(table[n][py].ljust(cw) for py in pythons))
        if others:
            print(f"... and {others} other pinned packages, all with wheels (--all lists them)")
    if failed:
        print("\nNo binary wheel for:\n  " + "\n  ".join(failed))
        return 1
    outside = [py for py in pythons if py not in supported]
    print("\nEvery pinned package has a binary wheel on every supported Python and enforced platform"
          + (f" (gaps above are on {', '.join(outside)}, outside requires-python)." if outside else "."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
