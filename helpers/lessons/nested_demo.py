"""nest_asyncio, shown where it cannot hurt: in a fresh Python process.

Run ``python -m helpers.lessons.nested_demo`` (the notebook calls ``run()``, which
starts it as a subprocess with a timeout). It prints, in four steps:

1. ``asyncio.run()`` inside a running event loop raises RuntimeError, as it
   does in a Jupyter kernel.
2. ``nest_asyncio.apply()`` patches asyncio so the same call works; the script
   lists what was replaced.
3. The risk: a plain (synchronous) function that calls ``asyncio.run()`` now
   lets *other tasks* run in the middle of it. Two tasks that each add 1 to a
   balance that way lose an update.
4. uvloop's loop cannot be patched at all.

The output is deterministic. Never apply nest_asyncio in a notebook kernel:
on ipykernel 7 it makes JupyterLab's Run All drop every later cell.
Importing this module does nothing; only ``main()`` (the script) patches.
"""

from __future__ import annotations

import sys

from helpers.core import checks, procs


def _inner() -> "object":
    import asyncio

    async def inner() -> str:
        await asyncio.sleep(0.01)
        return "inner result"

    return inner()


def main() -> int:
    """Run the four demonstrations in this (throw-away) process and print what happened."""
    import asyncio

    print("1. Inside a running event loop (as in a Jupyter kernel), call asyncio.run():")

    async def step1() -> None:
        coro = _inner()
        try:
            asyncio.run(coro)
        except RuntimeError as e:
            print(f"   RuntimeError: {e}")
        finally:
            coro.close()

    asyncio.run(step1())

    import nest_asyncio

    async def step2() -> None:
        loop = asyncio.get_running_loop()
        cls = type(loop)
        def patchable() -> dict:
            """What nest_asyncio may replace, as it is right now."""
            return {
                "asyncio.run": asyncio.run,
                "asyncio.get_event_loop": asyncio.get_event_loop,
                "asyncio.Task": asyncio.Task,
                "asyncio.Future": asyncio.Future,
                f"{cls.__name__}.run_until_complete": cls.run_until_complete,
                f"{cls.__name__}.run_forever": cls.run_forever,
                f"{cls.__name__}._run_once": cls._run_once,
            }

        before = patchable()
        c_task = asyncio.Task is not asyncio.tasks._PyTask
        nest_asyncio.apply(loop)
        after = patchable()
        print("2. After nest_asyncio.apply(), these were replaced in this process:")
        for name, old in before.items():
            if after[name] is not old:
                note = ""
                if name == "asyncio.Task" and c_task:
                    note = "  (the C-accelerated Task is swapped for the slower pure-Python one)"
                if name == "asyncio.Future":
                    note = "  (the same for Future)"
                if name.endswith("._run_once"):
                    note = "  (the heart of the loop, rewritten; debug mode's slow-step check is gone)"
                print(f"   {name}{note}")
        print(f"   and the same call now works: asyncio.run(...) returned {asyncio.run(_inner())!r}")

    asyncio.run(step2())  # asyncio.run is the patched one now; that is fine in a script

    print("3. The risk: a plain function that calls asyncio.run() lets other tasks run inside it.")
    state = {"balance": 0}
    log: list[str] = []

    def deposit(who: str) -> None:
        """A synchronous read-modify-write, with a hidden nested event loop in the middle."""
        seen = state["balance"]
        log.append(f"{who} reads {seen}")
        asyncio.run(asyncio.sleep(0.01))  # e.g. a library call that "just runs" a coroutine
        state["balance"] = seen + 1
        log.append(f"{who} writes {seen + 1}")

    async def customer(who: str) -> None:
        deposit(who)  # no await here: the author expects no other task can run in between

    async def step3() -> None:
        await asyncio.gather(customer("A"), customer("B"))

    asyncio.run(step3())
    print("   " + "; ".join(log))
    print(f"   two deposits of 1 each: balance = {state['balance']} (expected 2)"
          + (": an update was lost" if state["balance"] != 2 else ""))

    print("4. uvloop's loop (written in C) cannot be patched:")
    try:
        import uvloop
    except ImportError:
        print("   (uvloop is not installed here)")
    else:
        loop = uvloop.new_event_loop()
        try:
            nest_asyncio.apply(loop)
            print("   it was patched (unexpected)")
        except ValueError as e:
            print(f"   ValueError: {e}")
        finally:
            loop.close()
    return 0


def run(timeout_s: float = 60.0) -> str:
    """Run this demo as a subprocess (never in the calling process) and return what it printed.

    Raises TimeoutError if it takes longer than ``timeout_s`` seconds (the
    process is killed), RuntimeError with its error output if it fails.
    """
    checks.seconds(timeout_s, upper=600)
    return procs.run_child(["-m", "helpers.lessons.nested_demo"], what="the nest_asyncio demo", timeout_s=timeout_s)


if __name__ == "__main__":
    sys.exit(main())
