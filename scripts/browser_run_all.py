"""Check "Run All" the way a learner does it: JupyterLab in headless Chromium.

usage: python scripts/browser_run_all.py [NOTEBOOK...]      (run by `make test-browser`)

Not part of `make test`: it needs Chromium (Debian/Ubuntu: `apt-get install
chromium`), Node.js and npm, which the course itself does not. It installs
playwright-core (the driver only, no browser download) into .venv/browser-test,
starts JupyterLab on a free loopback port in quick mode over a temporary copy
of the notebooks (so nothing it runs is saved over the committed ones), clicks
Run All in each notebook through JupyterLab's own command, and fails unless
every code cell got an execution count, the only errors are the taught
ones (cells tagged raises-exception), the reference-run note shows at the top,
and no progress bar came out as text on stderr (the pink box a newcomer took
for an error; in JupyterLab bars are tqdm's notebook widget). With
SHOTS=/some/dir it saves screenshots of each notebook: its top, a cell with a
progress bar and the first exercise cell.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from helpers.core.procs import ManagedProcess

ROOT = Path(__file__).resolve().parent.parent
DRIVER_DIR = ROOT / ".venv" / "browser-test"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def taught_errors(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("raises-exception" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its JupyterLab
    browser = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    if not browser or not shutil.which("node") or not shutil.which("npm"):
        print("needs Chromium, node and npm on the PATH (e.g. apt-get install chromium nodejs npm)", file=sys.stderr)
        return 2
    if not (DRIVER_DIR / "node_modules" / "playwright-core").is_dir():
        DRIVER_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(DRIVER_DIR), "playwright-core@1"], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
    notebooks = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="course-browser-") as tmp:
        for nb in notebooks:  # copies without outputs: every execution count seen is from this run
            clean = nbformat.read(nb, as_version=4)
            for cell in clean.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            nbformat.write(clean, Path(tmp) / nb.name)
        lab = ManagedProcess(
            [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
             f"--ServerApp.root_dir={tmp}", "--ServerApp.token=", "--ServerApp.password=",
             "--LabApp.expose_app_in_browser=True", "--no-browser", "--allow-root"],
            key="browser-test-lab", ready_pattern=r"http://127\.0\.0\.1:(\d+)/lab", startup_timeout_s=120,
            env={**os.environ, "COURSE_MODE": "quick"},
        )
        with lab:
            script = ROOT / "scripts" / "browser_run_all.js"
            env = {**os.environ, "NODE_PATH": str(DRIVER_DIR / "node_modules"), "CHROMIUM": browser}
            out = subprocess.run(["node", str(script), lab.match.group(1), *[nb.name for nb in notebooks]],
                                 capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    failed = 0
    by_name = {nb.name: nb for nb in notebooks}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        expected = taught_errors(by_name[r["notebook"]])
        ok = (r["done"] == r["total"] and r["errors"] == expected and r["status"] == "idle"
              and r["note"] and r["textBars"] == 0)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {r['notebook']}: {r['done']}/{r['total']} code cells ran, "
              f"{r['errors']} error outputs ({expected} taught), {r['seconds']:.0f} s; reference-run note "
              f"{'shown' if r['note'] else 'MISSING'}; {r['widgets']} progress widgets, {r['stderr']} stderr "
              f"outputs ({r['textBars']} text progress bars)"
              + (" - stalled: no cell finished for a minute" if r.get("stalled") else ""))
    print(f"{len(notebooks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
