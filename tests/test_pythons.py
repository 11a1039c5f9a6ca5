"""The supported Pythons are written once, in pyproject.toml's requires-python, and everything
else that names them agrees: the Makefile's check-python and lock, environment.yml, the helpers'
system module, the README, the lock itself and scripts/check_wheels.py.

Offline: whether every pin has a binary wheel on each of these Pythons needs the registry and is
`make wheels` (scripts/check_wheels.py), not a test.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
RANGE = re.compile(r'^requires-python\s*=\s*"\s*>=\s*3\.(\d+)\s*,\s*<\s*3\.(\d+)\s*"', re.M)


def bounds() -> tuple[int, int]:
    """(lowest minor, highest minor) allowed by pyproject.toml: ">=3.10,<3.16" gives (10, 15)."""
    m = RANGE.search((ROOT / "pyproject.toml").read_text())
    assert m, 'requires-python must read ">=3.A,<3.B" (the Makefile and tests read it so)'
    lo, hi = int(m.group(1)), int(m.group(2)) - 1
    assert lo <= hi
    return lo, hi


def supported() -> list[str]:
    lo, hi = bounds()
    return [f"3.{x}" for x in range(lo, hi + 1)]


def names(text: str, version: str) -> bool:
    """`version` ("3.15") appears in text as a version, not as part of another ("3.150", "13.15")."""
    return re.search(rf"(?<![\d.]){re.escape(version)}(?![\d])", text) is not None


def test_requires_python_is_one_simple_range():
    text = (ROOT / "pyproject.toml").read_text()
    assert len(re.findall(r"^requires-python", text, re.M)) == 1
    if sys.version_info >= (3, 11):
        import tomllib

        spec = tomllib.loads(text)["project"]["requires-python"].replace(" ", "")
        lo, hi = bounds()
        assert spec == f">=3.{lo},<3.{hi + 1}"


def test_environment_yml_python_line_equals_requires_python():
    lo, hi = bounds()
    lines = re.findall(r"^  - python\s*([<>=!~][^#\n]*)", (ROOT / "environment.yml").read_text(), re.M)
    assert [s.replace(" ", "") for s in lines] == [f">=3.{lo},<3.{hi + 1}"]


def test_makefile_writes_no_python_version_of_its_own():
    make = (ROOT / "Makefile").read_text()
    for target in ("check-python", "lock"):
        body = re.search(rf"^{target}:.*?(?=^\S|\Z)", make, re.M | re.S).group(0)
        assert "pyproject.toml" in body, f"make {target} should read the range from pyproject.toml"
        literal = re.findall(r"3\.1\d\b|\(3, *1\d\)", body)
        assert not literal, f"make {target} names Python versions itself: {literal}"


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def run_make(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60)


def with_range(tmp_path: Path, spec: str) -> Path:
    """A folder with the real Makefile and a pyproject.toml whose requires-python is `spec`."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(RANGE.sub(f'requires-python = "{spec}"', text))
    return tmp_path


@needs_make
def test_make_check_python_accepts_this_python_when_pyproject_does(tmp_path):
    here = sys.version_info[1]
    r = run_make(with_range(tmp_path, f">=3.{here},<3.{here + 1}"), "check-python",
                 f"PYTHON={sys.executable}")
    assert r.returncode == 0, r.stderr
    assert f"Using Python 3.{here} " in r.stdout


@needs_make
def test_make_check_python_follows_pyproject_not_a_copy(tmp_path):
    here = sys.version_info[1]
    r = run_make(with_range(tmp_path, f">=3.{here + 1},<3.{here + 3}"), "check-python",
                 f"PYTHON={sys.executable}")
    assert r.returncode != 0
    assert f"needs Python 3.{here + 1} to 3.{here + 2}, but" in r.stderr, r.stderr


@needs_make
def test_make_lock_resolves_from_the_lowest_supported_python(tmp_path):
    r = run_make(with_range(tmp_path, ">=3.9,<3.99"), "-n", "lock")
    assert r.returncode == 0, r.stderr
    assert re.search(r"--universal\b", r.stdout) and re.search(r"--python-version 3\.9\b", r.stdout)
    r = run_make(ROOT, "-n", "lock")
    assert re.search(rf"--python-version 3\.{bounds()[0]}\b", r.stdout), r.stdout


def system_module():
    for name in ("helpers.core.system", "helpers.system"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name not in (name, name.rpartition(".")[0]):
                raise
    pytest.fail("neither helpers.core.system nor helpers.system can be imported")


def system_range(mod) -> tuple[tuple[int, int], tuple[int, int]]:
    """The lowest and highest (major, minor) the system module calls supported."""
    if hasattr(mod, "supported_pythons"):
        got = mod.supported_pythons()
    else:
        got = mod.SUPPORTED_PYTHONS
    vs = [tuple(int(p) for p in v.split(".")[:2]) if isinstance(v, str) else tuple(v)[:2]
          for v in got]
    return min(vs), max(vs)


def test_helpers_system_supports_exactly_the_pyproject_range():
    lo, hi = bounds()
    mod = system_module()
    got = system_range(mod)
    if got != ((3, lo), (3, hi)):
        from importlib import metadata

        try:
            installed = metadata.metadata("sync-async-measured")["Requires-Python"]
        except metadata.PackageNotFoundError:
            installed = "not installed"
        pytest.fail(f"{mod.__name__} supports {got}, pyproject.toml 3.{lo} to 3.{hi}; the installed "
                    f"course's Requires-Python is {installed!r} (stale: run `make setup`)")
    if hasattr(mod, "SUPPORTED_PYTHONS") and len(mod.SUPPORTED_PYTHONS) > 2:
        listed = [v if isinstance(v, str) else "%d.%d" % tuple(v)[:2] for v in mod.SUPPORTED_PYTHONS]
        assert listed == supported()


def test_readme_names_the_lowest_and_highest_supported_python():
    readme = (ROOT / "README.md").read_text()
    for v in (supported()[0], supported()[-1]):
        assert names(readme, v), f"README.md does not name Python {v}"


PLATFORMS = {
    "linux": dict(sys_platform="linux", platform_system="Linux", os_name="posix", platform_machine="x86_64"),
    "macos-arm64": dict(sys_platform="darwin", platform_system="Darwin", os_name="posix", platform_machine="arm64"),
    "macos-x86_64": dict(sys_platform="darwin", platform_system="Darwin", os_name="posix", platform_machine="x86_64"),
    "windows": dict(sys_platform="win32", platform_system="Windows", os_name="nt", platform_machine="AMD64"),
}


def marker_env(version: str, platform: str) -> dict:
    return dict(PLATFORMS[platform], python_version=version, python_full_version=version + ".0",
                implementation_name="cpython", platform_python_implementation="CPython",
                implementation_version=version + ".0", platform_release="", platform_version="",
                extra="")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("version", supported())
def test_the_universal_lock_pins_every_dependency_once_on_every_supported_python(version, platform):
    env = marker_env(version, platform)
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if m and (not m.group(3) or Marker(m.group(3)).evaluate(env)):
            pins.setdefault(norm(m.group(1)), []).append(m.group(2))
    twice = {n: v for n, v in pins.items() if len(v) > 1}
    assert not twice, f"the lock pins these twice on {version}/{platform}: {twice}"
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in meta["dependencies"] + meta["optional-dependencies"]["test"]]
    missing = [str(r) for r in wanted
               if (r.marker is None or r.marker.evaluate(env)) and norm(r.name) not in pins]
    assert not missing, f"the lock has no pin on Python {version}/{platform} for {missing}; run `make lock`"
    wrong = [f"{r.name}=={pins[norm(r.name)][0]}" for r in wanted if norm(r.name) in pins
             and not r.specifier.contains(pins[norm(r.name)][0], prereleases=True)]
    assert not wrong, f"pins outside pyproject's ranges on {version}/{platform}: {wrong}"


def test_check_wheels_reads_the_same_range():
    spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "scripts" / "check_wheels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.supported_pythons() == supported()
