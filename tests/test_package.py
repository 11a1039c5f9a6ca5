"""The package as the notebooks meet it: importing has no side effects."""

import subprocess
import sys

import pytest

MODULES = ["checks", "config", "workloads", "procs", "services", "clients", "load", "timing", "sync_server", "wsgi_app",
           "gunicorn_conf", "course", "exercises", "aio", "nested_demo", "pools", "costs",
           "models", "simul", "plots", "system", "results"]


def test_importing_every_module_has_no_side_effects():
    code = (
        "import threading, matplotlib, psutil, io, contextlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):\n"
        f"    import importlib; [importlib.import_module('helpers.' + m) for m in {MODULES!r}]\n"
        "assert buf.getvalue() == '', buf.getvalue()\n"
        "assert dict(matplotlib.rcParams) == before\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert psutil.Process().children() == []\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_are_documented(name):
    import importlib
    import inspect

    mod = importlib.import_module(f"helpers.{name}")
    assert mod.__doc__
    for attr, obj in vars(mod).items():
        if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"helpers.{name}.{attr} has no docstring"
