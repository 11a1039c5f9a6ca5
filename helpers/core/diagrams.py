"""Concept diagrams drawn with matplotlib, in one consistent look.

The lessons draw their diagrams (gunicorn's master and workers, the GIL's
hand-over, the event loop's ready queue and selector) from these few pieces,
so every diagram in the course shares its colours, fonts and arrows, and is
generated from code next to the experiment that tests it (no image files to
keep in step).

    ax = diagrams.canvas(10, 4, title="...")
    diagrams.box(ax, 0.5, 1, 2, 1, "master", kind="process")
    diagrams.arrow(ax, (2.5, 1.5), (4, 1.5), "accept()")
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# one colour per kind of thing, used the same way in every diagram
KINDS = {
    "process": ("#dbe9f6", "#1f77b4"),   # (fill, edge): an OS process
    "thread": ("#e8f4e8", "#2ca02c"),    # an OS thread
    "task": ("#fff1dd", "#ff7f0e"),      # a coroutine task or a greenlet
    "kernel": ("#eeeeee", "#555555"),    # the OS kernel: sockets, selector, scheduler
    "client": ("#f6e0e0", "#d62728"),    # a client or request
    "note": ("#ffffff", "#bbbbbb"),      # a label with a light frame
}


def canvas(width: float, height: float, *, title: str | None = None, scale: float = 0.9):
    """An empty diagram ``width`` x ``height`` units (inches at ``scale`` 1), with no axes drawn."""
    _, ax = plt.subplots(figsize=(width * scale, height * scale), layout="constrained")
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    return ax


def box(ax, x: float, y: float, w: float, h: float, text: str = "", *, kind: str = "process",
        fontsize: float = 9, dashed: bool = False, align: str = "center"):
    """A rounded box with its lower-left corner at (x, y); ``kind`` picks the colour (see KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    fill, edge = KINDS[kind]
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=fill,
                           edgecolor=edge, linewidth=1.2, linestyle="--" if dashed else "-")
    ax.add_patch(patch)
    if text:
        tx = x + w / 2 if align == "center" else x + 0.12
        ax.text(tx, y + h / 2, text, ha=align, va="center", fontsize=fontsize)
    return patch


def arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "", *,
          color: str = "#444444", dashed: bool = False, fontsize: float = 8, bend: float = 0.0,
          offset: tuple[float, float] = (0.0, 0.12)):
    """An arrow from ``start`` to ``end``, labelled at its middle (shifted by ``offset``)."""
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, linewidth=1.1,
                            linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={bend}")
    ax.add_patch(patch)
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=fontsize, color=color)
    return patch


def label(ax, x: float, y: float, text: str, *, fontsize: float = 8, color: str = "#444444", **kw):
    """Free text at (x, y)."""
    return ax.text(x, y, text, fontsize=fontsize, color=color, **kw)
