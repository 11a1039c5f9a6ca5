"""The notebooks as learners and teachers meet them.

- Run All: JupyterLab queues every cell at once on one kernel; every cell must
  get a reply (a kernel that stops answering, as ipykernel 7 does after
  nest_asyncio.apply(), fails here although nbval passes).
- No process is left behind by a notebook.
- The nbval comparison is real: a changed output fails it.
- The committed notebooks keep the course's skeleton and rules.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
BANNED = {
    r"nest_asyncio\.apply\(": "nest_asyncio.apply() breaks Run All on ipykernel 7",
    r"monkey\.patch_all\(": "gevent monkey-patching inside the kernel hangs it",
    r"sys\.path\.(insert|append)": "notebooks import the installed helpers package",
    r"^\s*[!%]pip install": "installing from a notebook",
    r"asyncio\.run\(": "asyncio.run() raises in a kernel (allowed only as a taught error)",
}


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_run_all_gets_a_reply_for_every_cell(path):
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(path.parent), env={**os.environ, "COURSE_MODE": "quick"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        sent = {}
        for i, cell in enumerate(code_cells(nb)):  # all at once, as JupyterLab's Run All does
            raises = "raises-exception" in tags(cell)
            sent[kc.execute(cell.source, stop_on_error=not raises, allow_stdin=False)] = (i, raises)
        status = {}
        deadline = time.monotonic() + 300
        while len(status) < len(sent):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no reply for cells {sorted(i for m, (i, _) in sent.items() if m not in status)}"
            try:
                msg = kc.get_shell_msg(timeout=remaining)
            except queue.Empty:
                continue  # the assertion above reports which cells never got a reply
            mid = msg["parent_header"].get("msg_id")
            if mid in sent and msg["msg_type"] == "execute_reply":
                status[mid] = msg["content"]["status"]
        for mid, (i, raises) in sent.items():
            expected = "error" if raises else "ok"
            assert status[mid] == expected, f"code cell {i}: {status[mid]} (expected {expected})"
        kernel_pid = km.provisioner.process.pid
        time.sleep(0.5)
        left = [p.cmdline() for p in psutil.Process(kernel_pid).children(recursive=True)]
        assert not left, f"processes left running after the notebook: {left}"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_skeleton_and_rules(path):
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(re.findall(r"^# \S", md, re.M)) == 1, "exactly one H1"
    for heading in ("what you will learn", "prerequisites", "summary", "what's next", "exercises", "resources"):
        assert re.search(rf"^##+ .*{heading}", md, re.M | re.I), f"no '{heading}' section"
    assert "claims tested" in md.lower()
    assert isinstance(nb.metadata.get("course", {}).get("claims"), list)
    cells = code_cells(nb)
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "outputs must come from one top-to-bottom run (make outputs)"
    imports = [i for i, c in enumerate(cells) if re.search(r"^(import|from) \S+", c.source, re.M)]
    assert imports == [0], f"one imports cell, first (imports found in code cells {imports})"
    for c in cells:
        for rx, why in BANNED.items():
            if re.search(rx, c.source, re.M) and not (rx.startswith("asyncio") and "raises-exception" in tags(c)):
                pytest.fail(f"{why}: {c.source[:80]!r}")
        for out in c.outputs:
            if out.output_type == "error":
                assert "raises-exception" in tags(c), f"committed error output: {out.ename}"


def test_a_changed_output_fails_nbval(tmp_path):
    """nbval with this project's settings compares for real."""
    src = NOTEBOOKS[0]
    nb = json.loads(src.read_text())
    target = next(
        c for c in nb["cells"]
        if c["cell_type"] == "code" and "nbval-ignore-output" not in c["metadata"].get("tags", [])
        and any(o.get("name") == "stdout" for o in c.get("outputs", []))
    )
    out = next(o for o in target["outputs"] if o.get("name") == "stdout")
    out["text"] = "".join(out["text"]).replace("e", "E", 1)
    broken = tmp_path / src.name
    broken.write_text(json.dumps(nb))
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path)
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", "--nbval", str(broken), "-q",
           "--nbval-sanitize-with", "nbval_sanitize.cfg", "-p", "no:cacheprovider"]
    env = {**os.environ, "COURSE_MODE": "quick", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout[-2000:]
    assert re.search(r"\b1 failed\b", res.stdout), res.stdout[-2000:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_cell_relies_on_a_trailing_semicolon(path):
    """nbval runs cells without storing history, so IPython cannot see a trailing ';' and shows the value anyway."""
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(code_cells(nb)):
        assert not c.source.rstrip().endswith(";"), f"code cell {i} ends with ';': assign the value instead (_ = ...)"


def _verdict_claims(nb) -> set[str]:
    """The claims a notebook's cells pass to book.verdict (one id or a list of ids)."""
    found: set[str] = set()
    for c in code_cells(nb):
        for arg in re.findall(r"book\.verdict\(\s*(\[[^\]]*\]|\"C\d+\")", c.source):
            found.update(re.findall(r"C\d+", arg))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_claims_metadata_says_what_the_verdicts_test(path):
    """metadata course.claims lists exactly the claims a verdict decides; course.touches the rest it discusses."""
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("course", {})
    tested, touched = set(meta.get("claims", [])), set(meta.get("touches", []))
    assert tested == _verdict_claims(nb), f"claims {sorted(tested)} vs verdicts {sorted(_verdict_claims(nb))}"
    assert not tested & touched, f"a claim both tested and only touched: {sorted(tested & touched)}"
