"""Is JupyterLab already serving this course? Print its address and exit 0; exit 1 if not.

usage: python scripts/running_lab.py NOTEBOOK_DIR   (run by `make lab` before it starts a server)

A second `make lab` would otherwise start another server on the next free
port over the same notebooks, and two kernels could then edit one file.
The running servers are read from Jupyter's own runtime files
(``jupyter_server.serverapp.list_running_servers``, which skips dead ones).
"""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_server.serverapp import list_running_servers


def course_servers(notebooks: Path) -> list[dict]:
    """The running Jupyter servers whose root folder is ``notebooks``."""
    want = notebooks.resolve()
    return [info for info in list_running_servers()
            if Path(info.get("root_dir") or info.get("notebook_dir") or "/nonexistent").resolve() == want]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    found = course_servers(Path(argv[0]))
    if not found:
        return 1
    info = found[0]
    token = f"?token={info['token']}" if info.get("token") else ""
    print(f"JupyterLab is already running on this course (pid {info['pid']}): open {info['url'].rstrip('/')}/lab{token}\n"
          "Stop it with Ctrl-C in its terminal (or `kill {pid}`) to start afresh.".replace("{pid}", str(info["pid"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
