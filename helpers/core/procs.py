"""Subprocesses that are always cleaned up.

``ManagedProcess`` starts a command in its own process group, waits until a
line of its output says it is ready, and stops the whole group on exit, on an
exception, on Ctrl-C / "Interrupt kernel", and before a re-run starts another
instance under the same key. Output goes to temporary files, never to a pipe
nobody reads and never into the notebook.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import psutil

from helpers.core import checks

IS_WINDOWS = sys.platform == "win32"


class ManagedProcess:
    """A subprocess with a readiness check and a guaranteed stop.

    Parameters
    ----------
    cmd: the command line (list of strings).
    key: instances with the same key replace each other: starting a new one
        first stops the old one (a re-run cell never leaves two servers).
    ready_pattern: regular expression searched in the process's output
        (stdout and stderr together); its match is returned by ``start``.
    startup_timeout_s: seconds to wait for the ready line.
    """

    _running: ClassVar[dict[str, "ManagedProcess"]] = {}

    def __init__(
        self,
        cmd: list[str],
        *,
        key: str,
        ready_pattern: str,
        startup_timeout_s: float = 20.0,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> None:
        if not cmd or not all(isinstance(c, str) for c in cmd):
            raise TypeError("cmd must be a non-empty list of strings")
        if startup_timeout_s <= 0:
            raise ValueError(f"startup_timeout_s must be > 0, got {startup_timeout_s}")
        self.cmd = list(cmd)
        self.key = key
        self.ready_re = re.compile(ready_pattern)
        self.startup_timeout_s = float(startup_timeout_s)
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.match: re.Match | None = None
        self._logdir: tempfile.TemporaryDirectory | None = None

    # -- life cycle -----------------------------------------------------
    def start(self) -> re.Match:
        """Start the process and wait until it prints its ready line."""
        old = self._running.get(self.key)
        if old is not None and old is not self:
            old.stop()
        self._logdir = tempfile.TemporaryDirectory(prefix="course-")
        log = Path(self._logdir.name) / "output.log"
        out = open(log, "wb")
        kwargs: dict = {"stdout": out, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
        if IS_WINDOWS:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        try:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, **kwargs)
        finally:
            out.close()
        self._running[self.key] = self
        try:
            self.match = self._wait_ready(log)
            self.after_ready(self.match)
        except BaseException:
            self.stop()
            raise
        return self.match

    def after_ready(self, match: re.Match) -> None:
        """Hook for subclasses: finish start-up once the ready line is seen (read the port,
        wait for workers, probe the server). If it raises, the process is stopped."""

    def _wait_ready(self, log: Path) -> re.Match:
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            text = log.read_text(errors="replace")
            m = self.ready_re.search(text)
            if m:
                return m
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.cmd[0]} exited with code {self.proc.returncode} before it was ready.\n"
                    f"Its output:\n{_tail(text)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{' '.join(self.cmd[:4])} ... was not ready after {self.startup_timeout_s:g} s.\n"
                    f"Its output so far:\n{_tail(text)}"
                )
            time.sleep(0.02)

    def wait_for(self, pattern: str, count: int = 1, timeout_s: float | None = None) -> list[re.Match]:
        """Wait until ``pattern`` has appeared ``count`` times in the output; return the matches.

        Raises RuntimeError if the process exits first, TimeoutError after
        ``timeout_s`` (default: the start-up timeout), with the output so far.
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + (timeout_s or self.startup_timeout_s)
        while True:
            text = self.output()
            found = list(rx.finditer(text))
            if len(found) >= count:
                return found[:count]
            if not self.alive():
                raise RuntimeError(f"{self.cmd[0]} exited before it was ready.\nIts output:\n{_tail(text)}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"saw {len(found)} of {count} lines matching {pattern!r} in time.\nOutput so far:\n{_tail(text)}"
                )
            time.sleep(0.02)

    def output(self) -> str:
        """Everything the process has printed so far (for diagnosis)."""
        if self._logdir is None:
            return ""
        log = Path(self._logdir.name) / "output.log"
        return log.read_text(errors="replace") if log.exists() else ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop the process and every process it started. Safe to call twice."""
        proc = self.proc
        if proc is not None:
            try:
                family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
            except psutil.Error:
                family = [proc.pid]
            _signal_group(proc, signal.SIGTERM if not IS_WINDOWS else signal.CTRL_BREAK_EVENT)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL if not IS_WINDOWS else signal.SIGTERM)
                proc.wait(timeout=grace_s)
            # Anything that left the group (or outlived its parent) goes too.
            for pid in family[1:]:
                try:
                    p = psutil.Process(pid)
                    p.kill()
                    p.wait(timeout=grace_s)
                except psutil.Error:
                    pass
        if self._running.get(self.key) is self:
            del self._running[self.key]
        if self._logdir is not None:
            self._logdir.cleanup()
            self._logdir = None
        self.proc = None

    def __enter__(self) -> "ManagedProcess":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def stop_all(cls) -> None:
        """Stop every process started through this class (also run at exit)."""
        for mp in list(cls._running.values()):
            mp.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        if IS_WINDOWS:
            proc.send_signal(sig)
        else:
            os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def run_child(args: list[str], *, what: str, timeout_s: float = 60.0, input: str | None = None) -> str:
    """Run ``python ARGS`` (this interpreter) to the end and return what it printed on stdout.

    The one way the helpers run a short-lived Python child (the load
    generator, probes, demos that must never run in the kernel). ``input`` is
    sent to its stdin. Raises TimeoutError after ``timeout_s`` seconds (the
    child is killed; so it is on an interrupt) and RuntimeError with the tail
    of its stderr if it exits non-zero. ``what`` names it in those messages.
    """
    timeout_s = checks.seconds(timeout_s)
    try:
        proc = subprocess.run([sys.executable, *args], input=input, capture_output=True, text=True,
                              timeout=timeout_s, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{what} did not finish within {timeout_s:g} s (it was stopped)") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_child_json(module: str, spec: dict | None = None, *, what: str, timeout_s: float = 60.0,
                   args: list[str] = ()) -> Any:
    """Run ``python -m MODULE ARGS`` with ``spec`` as JSON on stdin; return the JSON of its last stdout line."""
    out = run_child(["-m", module, *args], what=what, timeout_s=timeout_s,
                    input=json.dumps(spec) if spec is not None else None)
    lines = out.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{what} printed nothing")
    return json.loads(lines[-1])


def live_children(pid: int | None = None) -> set[int]:
    """The pids of the live (not zombie) descendants of ``pid`` (default: this process)."""
    out = set()
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(nothing)"


def exit_with_parent(poll_s: float = 0.5, graceful: bool = False) -> None:
    """Call in a child process: exit as soon as the process that started it is gone.

    A crashed or restarted notebook kernel then leaves no server behind. With
    ``graceful`` the process sends itself SIGTERM (a gunicorn master then stops
    its workers too); otherwise it exits at once.
    """
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent or not psutil.pid_exists(parent):
                if graceful and not IS_WINDOWS:
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(10)
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


atexit.register(ManagedProcess.stop_all)
