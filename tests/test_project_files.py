"""The project's own files agree with each other."""

import json
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split(req: str) -> tuple[str, str]:
    req = req.split(";")[0].split("#")[0].strip()
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return norm(m.group(1)), m.group(2).replace(" ", "")


def pyproject_reqs() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["test"]
    out = dict(split(r) for r in reqs)
    out["python"] = meta["requires-python"]
    return out


def conda_reqs() -> dict[str, str]:
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+[^#]*)", line)
        if m and not m.group(1).startswith(("pip", "conda-forge")):
            name, spec = split(m.group(1))
            out[name] = spec
    return out


def test_environment_yml_matches_pyproject():
    assert conda_reqs() == pyproject_reqs()


def test_lock_pins_every_direct_dependency_exactly():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {norm(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", lock, re.M)}
    missing = set(pyproject_reqs()) - {"python"} - pinned
    assert not missing, f"requirements.lock lacks {missing}; run `make lock`"


def test_readme_lists_every_notebook_and_only_those():
    listed = set(re.findall(r"notebooks/(\d\d-[\w-]+\.ipynb)", (ROOT / "README.md").read_text()))
    present = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert present, "no notebooks found"
    assert listed == present


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_course_map_and_results_are_found_from_the_installed_package():
    from helpers.core import course, results

    assert list(course.notebooks()["file"]) == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert results.results_dir() == ROOT / "results" or "COURSE_RESULTS_DIR" in __import__("os").environ


def test_committed_progress_bars_keep_only_their_final_state():
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "scripts" / "execute_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bar = "runs:   0%|  | 0/2\rruns:  50%|# | 1/2\rruns: 100%|##| 2/2\n"
    assert mod.final_states(bar) == "runs: 100%|##| 2/2\n"
    assert mod.final_states("a warning\nno bar here") == "a warning\nno bar here"
    redraws = [{"output_type": "stream", "name": "stderr", "text": "\r" + t} for t in bar.split("\r") if t]
    tidy = mod.tidy_streams([{"output_type": "stream", "name": "stdout", "text": "hello\n"}] + redraws)
    assert tidy[1:] == [{"output_type": "stream", "name": "stderr", "text": "runs: 100%|##| 2/2\n"}]


def test_committed_notebooks_hold_no_progress_bars():
    """make outputs runs with COURSE_PROGRESS=off: a bar in a saved output is only noise in a static render."""
    import re

    bar = re.compile(r"\d+%\|")
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
                if bar.search(text) or "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                    found.append(f"{path.name} cell {i}")
    assert not found, f"progress bars saved in: {found} (re-run `make outputs`)"
