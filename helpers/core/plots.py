"""Plots with one consistent look: timelines and sweeps.

Every function styles its own figure and returns its Axes; nothing here
changes matplotlib's global settings. (Not even temporarily: drawing inside
``matplotlib.rc_context`` stops the Jupyter inline backend from showing the
figures of later cells, so the look is applied to each Axes instead.)
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FIGSIZE = (9.0, 3.6)
COLORS = {
    "served": "#1f77b4",
    "waiting": "#ffbf80",
    "model": "#444444",
    "measured": "#d62728",
    "master": "#1f77b4",
    "opponent": "#c7c7c7",
    "cpu": "#d62728",
    "io": "#1f77b4",
}


def _axes(ax, height: float | None = None):
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=(FIGSIZE[0], height or FIGSIZE[1]), layout="constrained")
    return ax


def _finish(ax, title: str | None, xlabel: str | None, ylabel: str | None, legend: bool = True) -> None:
    """The course's look: no top/right frame, a light grid, a frameless legend."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.set_axisbelow(True)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)


def timeline(
    df: pd.DataFrame,
    *,
    lane: str = "client",
    phases: Sequence[tuple[str, str, str]] | None = None,
    color_by: str | None = None,
    ax=None,
    title: str | None = None,
    xlabel: str = "time since start (s)",
    lane_label: str | None = None,
):
    """One row per ``lane`` (client, worker, board...), one bar per request.

    ``phases`` lists (start column, end column, label) drawn in order, by
    default waiting (t_send to server_start, when known) then being served
    (server_start to server_end), or t_send to t_done when the server's times
    are missing. With ``color_by`` (e.g. "who") each bar is coloured by that
    column instead, from the start/end columns of the first phase.
    """
    if lane not in df.columns:
        raise ValueError(f"no column {lane!r} to use as lanes; columns are {list(df.columns)}")
    if phases is None:
        if {"server_start", "server_end"} <= set(df.columns) and df["server_start"].notna().all():
            phases = [("t_send", "server_start", "waiting"), ("server_start", "server_end", "served")]
        else:
            phases = [("t_send", "t_done", "served")]
    lanes = sorted(df[lane].dropna().unique())
    row_of = {v: i for i, v in enumerate(lanes)}
    height = min(5.5, 1.2 + 0.28 * len(lanes))
    ax = _axes(ax, height)
    y = df[lane].map(row_of).to_numpy()
    if color_by is not None:
        start, end, _ = phases[0]
        groups = list(dict.fromkeys(df[color_by]))
        for g in groups:
            m = (df[color_by] == g).to_numpy()
            ax.barh(y[m], (df[end] - df[start])[m], left=df[start][m], height=0.7,
                    color=COLORS.get(str(g)), label=str(g), linewidth=0)
    else:
        for start, end, label in phases:
            width = (df[end] - df[start]).clip(lower=0)
            ax.barh(y, width, left=df[start], height=0.7, color=COLORS.get(label),
                    label=label, edgecolor="white", linewidth=0.5)
    if len(lanes) <= 30:
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([str(v) for v in lanes])
    else:  # too many to label: the rows speak for themselves
        ax.set_yticks([])
    ax.set_xlim(left=0)
    ax.invert_yaxis()
    _finish(ax, title, xlabel, lane_label or lane)
    ax.grid(axis="y", visible=False)
    return ax


def sweep(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    model: Callable[[float], float] | pd.DataFrame | None = None,
    model_y: str | None = None,
    hue: str | None = None,
    ax=None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logx: bool = False,
    logy: bool = False,
    model_label: str = "model",
):
    """Measured ``y`` against ``x`` (one line per ``hue`` group), with a model overlaid.

    ``model`` is either a function of x, drawn as a dashed line over a fine
    grid of the measured x range (as steps for integer x), or a DataFrame with
    columns ``x`` and ``model_y`` (default ``y``). A model DataFrame that also
    has the ``hue`` column gets one dashed line per group, in the group's colour.
    """
    for col in [x, y] + ([hue] if hue else []):
        if col not in df.columns:
            raise ValueError(f"no column {col!r}; columns are {list(df.columns)}")
    ax = _axes(ax)
    groups = [(None, df)] if hue is None else list(df.groupby(hue, sort=False))
    color_of = {}
    for name, g in groups:
        g = g.sort_values(x)
        label = "measured" if name is None else (name if isinstance(name, str) else f"{hue}={name}")
        (line,) = ax.plot(g[x], g[y], "o-", ms=4, label=label,
                          color=COLORS["measured"] if name is None else None)
        color_of[name] = line.get_color()
    if model is not None:
        if isinstance(model, pd.DataFrame) and hue is not None and hue in model.columns:
            for name, m in model.groupby(hue, sort=False):
                m = m.sort_values(x)
                ax.plot(m[x], m[model_y or y], "--", lw=1, color=color_of.get(name, COLORS["model"]))
            ax.plot([], [], "--", lw=1, color=COLORS["model"], label=f"{model_label} (dashed, same colour)")
        elif isinstance(model, pd.DataFrame):
            m = model.sort_values(x)
            ax.plot(m[x], m[model_y or y], "--", color=COLORS["model"], label=model_label)
        else:
            xs = np.sort(df[x].unique())
            if np.issubdtype(np.asarray(xs).dtype, np.integer):
                grid = np.arange(xs.min(), xs.max() + 1)
                ax.step(grid, [model(v) for v in grid], "--", where="mid", color=COLORS["model"], label=model_label)
            else:
                grid = np.linspace(xs.min(), xs.max(), 200)
                ax.plot(grid, [model(v) for v in grid], "--", color=COLORS["model"], label=model_label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _plain_ticks(ax, np.sort(df[x].unique()), logx, logy)
    _finish(ax, title, xlabel or x, ylabel or y)
    return ax


def _plain_ticks(ax, xs, logx: bool, logy: bool) -> None:
    """Label log axes with plain numbers (100, not 10²) and a few integer x values at themselves."""
    from matplotlib import ticker

    plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for axis, is_log in ((ax.xaxis, logx), (ax.yaxis, logy)):
        if is_log:
            lo, hi = axis.get_view_interval()
            if lo > 0 and hi / lo < 30:  # less than a decade or so: label 1-2-5 steps too
                axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(ticker.NullFormatter())
    if np.issubdtype(np.asarray(xs).dtype, np.integer) and 1 < len(xs) <= 12:
        ax.set_xticks(xs)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(ticker.NullLocator())


def bars(values: pd.Series, *, ax=None, title: str | None = None, ylabel: str | None = None, fmt: str = "{:.2f}"):
    """A labelled bar chart of a Series (index as categories)."""
    ax = _axes(ax)
    bars_ = ax.bar([str(i) for i in values.index], values.to_numpy(), color=COLORS["served"])
    ax.bar_label(bars_, labels=[fmt.format(v) for v in values.to_numpy()], fontsize=8)
    _finish(ax, title, None, ylabel, legend=False)
    ax.grid(axis="x", visible=False)
    return ax
