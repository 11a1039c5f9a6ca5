"""Execute notebooks top to bottom in place, the way the committed outputs are made.

usage: python scripts/execute_notebooks.py NOTEBOOK...   (run by `make outputs`)

Each notebook runs in a fresh kernel from its own folder, cell by cell; cells
tagged ``raises-exception`` may fail (they teach an error), any other error
stops with a clear message and leaves the file untouched. Volatile metadata
(timings, widget state) is not written, and a progress bar keeps only its
final state: tqdm redraws its line with carriage returns, which JupyterLab
folds into one line but a static render (GitHub, nbviewer) may show as one
line per update. Progress bars are switched off for these runs
(``COURSE_PROGRESS=off``, unless set otherwise): the saved outputs hold none.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def final_states(text: str) -> str:
    """``text`` as a terminal would leave it: of each line, only what follows its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def tidy_streams(outputs: list) -> list:
    """Merge each run of consecutive stream outputs of one name (a progress bar sends one per redraw) and keep
    only the final state of each stderr line."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] += out["text"]
        else:
            merged.append(out)
    for out in merged:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            out["text"] = final_states(out["text"])
    return merged


def execute(path: Path, timeout_s: int = 600) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    t0 = time.perf_counter()
    client.execute()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = tidy_streams(cell.outputs)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{path}: {len(nb.cells)} cells in {time.perf_counter() - t0:.1f} s", flush=True)


def main(argv: list[str]) -> int:
    os.environ.setdefault("COURSE_PROGRESS", "off")  # inherited by each notebook's kernel
    if not argv:
        print(__doc__)
        return 2
    for arg in argv:
        path = Path(arg)
        if not path.is_file() or path.suffix != ".ipynb":
            print(f"not a notebook: {arg}", file=sys.stderr)
            return 2
        try:
            execute(path)
        except CellExecutionError as e:
            print(f"{path}: a cell failed; the file was not changed.\n{e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
