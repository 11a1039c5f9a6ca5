"""The chess simul, played for real (scaled down) with asyncio.

A master plays ``boards`` opponents. Her moves are *blocking* (``time.sleep``:
while she thinks, nothing else in the room happens, like CPU work in an event
loop); an opponent's reply is *waiting* (``await asyncio.sleep``: the master
is free meanwhile, like I/O). ``scale`` turns the story's seconds into real
seconds (0.001: one story second is one real millisecond).

Each function returns one row per move: board, move, who ("master" or
"opponent"), start and end (real seconds since the game began) and the same
times in story seconds.
"""

from __future__ import annotations

import asyncio
import time

import pandas as pd

from helpers.core.models import simul_time


def _check(boards: int, move_pairs: int, scale: float, master_move_s: float, opponent_move_s: float) -> None:
    simul_time(boards, move_pairs, master_move_s, opponent_move_s, "sync")  # validates the sizes
    if not (0 < scale <= 1):
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    real = simul_time(boards, move_pairs, master_move_s, opponent_move_s, "sync") * scale
    if real > 120:
        raise ValueError(f"that simul would take {real:.0f} real seconds one board at a time; use a smaller scale")


def _frame(rows: list[dict], t0: float, scale: float) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["start"] -= t0
    df["end"] -= t0
    df["story_start_s"] = df["start"] / scale
    df["story_end_s"] = df["end"] / scale
    return df


def play_sync(boards: int = 24, move_pairs: int = 30, *, scale: float = 0.001,
              master_move_s: float = 5, opponent_move_s: float = 55) -> pd.DataFrame:
    """One board at a time: every game is played to its end before the next starts."""
    _check(boards, move_pairs, scale, master_move_s, opponent_move_s)
    rows = []
    t0 = time.perf_counter()
    for b in range(boards):
        for k in range(move_pairs):
            s = time.perf_counter()
            time.sleep(master_move_s * scale)
            e = time.perf_counter()
            rows.append({"board": b, "move": k, "who": "master", "start": s, "end": e})
            time.sleep(opponent_move_s * scale)  # she just stands there
            rows.append({"board": b, "move": k, "who": "opponent", "start": e, "end": time.perf_counter()})
    return _frame(rows, t0, scale)


async def play_async(boards: int = 24, move_pairs: int = 30, *, scale: float = 0.001,
                     master_move_s: float = 5, opponent_move_s: float = 55) -> pd.DataFrame:
    """Board to board: one task per board, the master moves wherever it is her turn."""
    _check(boards, move_pairs, scale, master_move_s, opponent_move_s)
    rows: list[dict] = []
    t0 = time.perf_counter()

    async def board(b: int) -> None:
        for k in range(move_pairs):
            s = time.perf_counter()
            time.sleep(master_move_s * scale)  # blocking on purpose: she can make one move at a time
            e = time.perf_counter()
            rows.append({"board": b, "move": k, "who": "master", "start": s, "end": e})
            await asyncio.sleep(opponent_move_s * scale)  # the opponent thinks; she walks on
            rows.append({"board": b, "move": k, "who": "opponent", "start": e, "end": time.perf_counter()})

    await asyncio.gather(*(board(b) for b in range(boards)))
    return _frame(rows, t0, scale).sort_values(["board", "move", "start"], ignore_index=True)
