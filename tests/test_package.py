"""The package as the notebooks meet it: importing has no side effects."""

import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
# Every module of every layer, found on disk (so a new module is covered without editing this list).
MODULES = sorted(
    ".".join(p.relative_to(HELPERS.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in HELPERS.rglob("*.py")
)


def test_importing_every_module_has_no_side_effects():
    code = (
        "import threading, matplotlib, psutil, io, contextlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):\n"
        f"    import importlib; [importlib.import_module(m) for m in {MODULES!r}]\n"
        "assert buf.getvalue() == '', buf.getvalue()\n"
        "assert dict(matplotlib.rcParams) == before\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert psutil.Process().children() == []\n"
        "import gevent.monkey; assert not gevent.monkey.is_anything_patched(), 'a module patched on import'\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_are_documented(name):
    import importlib
    import inspect

    mod = importlib.import_module(name)
    assert mod.__doc__
    for attr, obj in vars(mod).items():
        if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"
