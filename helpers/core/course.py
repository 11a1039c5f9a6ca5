"""The course itself: its notebooks, its claims, and which notebook tests which.

The table of contents is generated from the notebooks (their title and the
``course.claims`` list in each notebook's metadata), never typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]  # the course folder (helpers/core/course.py)
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"


def notebooks(folder: Path = NOTEBOOKS) -> pd.DataFrame:
    """One row per course notebook (``NN-title.ipynb``, in order): file, title, claims."""
    rows = []
    for path in sorted(folder.glob("[0-9][0-9]-*.ipynb")):
        nb = json.loads(path.read_text())
        title = next(
            (line[2:].strip() for c in nb["cells"] if c["cell_type"] == "markdown"
             for line in "".join(c["source"]).splitlines() if line.startswith("# ")),
            path.stem,
        )
        meta = nb.get("metadata", {}).get("course", {})
        rows.append({"file": path.name, "title": title, "claims": ", ".join(meta.get("claims", [])),
                     "touches": ", ".join(meta.get("touches", []))})
    return pd.DataFrame(rows, columns=["file", "title", "claims", "touches"])


def course_map() -> pd.DataFrame:
    """The notebooks with the claims each *tests* (a verdict decides them) and only *touches*."""
    return notebooks().rename(columns={"claims": "claims tested (verdicts)", "touches": "claims touched (no verdict)"})


def claims() -> pd.DataFrame:
    """The essay's claims C1-C16 as questions, with the notebooks that test each."""
    df = pd.read_csv(DATA / "claims.csv")
    nbs = notebooks()
    for col, key in (("tested_in", "claims"), ("touched_in", "touches")):
        found: dict[str, list[str]] = {cid: [] for cid in df["id"]}
        for _, row in nbs.iterrows():
            for cid in filter(None, (c.strip() for c in row[key].split(","))):
                found.setdefault(cid, []).append(row["file"][:2])
        df[col] = [", ".join(found.get(cid, [])) or ("(coming)" if col == "tested_in" else "")
                   for cid in df["id"]]
    return df


def published() -> pd.DataFrame:
    """Figures other people published on other machines (see CLAIMS.md), to set beside ours."""
    return pd.read_csv(DATA / "published_figures.csv")


def published_markdown() -> str:
    """The published figures as a Markdown table: every source whole, linked to where it was published."""
    df = published()
    df["source"] = [f"[{s}]({u})" if isinstance(u, str) and u else s for s, u in zip(df["source"], df["url"])]
    df["year"] = df["year"].map(lambda y: "" if pd.isna(y) else f"{int(y)}")
    return markdown_table(df[["source", "year", "setup", "measure", "value", "unit", "claims"]])


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (for ``IPython.display.Markdown``), without extra packages."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)
