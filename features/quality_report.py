"""The meter-data quality report: a per-meter table (Parquet and CSV), a summary (JSON) and an HTML page with
plots, written into one folder. Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no backend
chosen here) and inlined as base64 PNG, so the page is one file a data engineer can mail to the metering team.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.quality import ISSUE_CHECKS, QUALITY_COLUMNS

logger = logging.getLogger(__name__)

TABLE_FILE, CSV_FILE, HTML_FILE, SUMMARY_FILE = "quality.parquet", "quality.csv", "quality.html", "summary.json"
#: meters drawn in the example plots (the worst by number of issues, then by completeness)
EXAMPLES = 6


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figure(width: float = 7.0, height: float = 3.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_completeness(table: pd.DataFrame, threshold: float) -> str:
    """Histogram of per-meter completeness with the threshold marked (base64 PNG)."""
    fig = _figure()
    ax = fig.subplots()
    ax.hist(table["completeness"].dropna().clip(0, 1), bins=np.linspace(0, 1, 41), color="#4477aa")
    ax.axvline(threshold, color="#cc3311", linestyle="--", label=f"threshold {threshold:.0%}")
    ax.set(xlabel="completeness (share of days read)", ylabel="meters", title="Completeness per meter")
    ax.legend()
    return _png(fig)


def plot_issues(table: pd.DataFrame) -> str:
    """Bar chart: meters per issue (base64 PNG)."""
    counts = [int((table[c].fillna(0).astype(float) > 0).sum()) for c in ISSUE_CHECKS]
    fig = _figure()
    ax = fig.subplots()
    ax.barh(list(ISSUE_CHECKS), counts, color="#ee7733")
    ax.invert_yaxis()
    ax.set(xlabel="meters", title="Meters per issue")
    return _png(fig)


def plot_examples(readings: pd.DataFrame, table: pd.DataFrame, n: int = EXAMPLES) -> str | None:
    """Daily kWh of the `n` worst meters, one panel each (base64 PNG), or None when no meter has an issue."""
    worst = table[table["issues"] != ""].assign(k=lambda t: t["issues"].str.count(",") + 1)
    worst = worst.sort_values(["k", "completeness"], ascending=[False, True]).head(n)
    if worst.empty:
        return None
    fig = _figure(9, 1.8 * len(worst))
    axes = np.atleast_1d(fig.subplots(len(worst), 1, sharex=False))
    picked = readings[readings["customer_id"].astype(str).isin(worst["customer_id"])]
    by_id = dict(tuple(picked.groupby(picked["customer_id"].astype(str))))
    for ax, row in zip(axes, worst.itertuples(index=False), strict=True):
        d = by_id.get(row.customer_id)
        if d is not None:
            daily = d.groupby(pd.to_datetime(d["reading_date"]))["kwh"].first().asfreq("D")  # gaps show as breaks
            ax.plot(daily.index, daily.to_numpy(), lw=0.8, color="#333333")
        ax.set_title(f"{row.customer_id}: {row.issues}", fontsize=8, loc="left")
        ax.set_ylabel("kWh/day", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def render_html(table: pd.DataFrame, summary: dict, plots: dict[str, str | None], *, title: str) -> str:
    """The report page (pure): summary, plots, the 50 worst meters and what each column means."""
    worst = table[table["issues"] != ""].sort_values("completeness").head(50)
    rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{u}</td><td>{html.escape(d)}</td></tr>"
        for c, (u, d) in QUALITY_COLUMNS.items()
    )
    images = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" src="data:image/png;base64,{png}"/>'
        for name, png in plots.items()
        if png
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(json.dumps(summary, indent=2, default=str))}</pre>{images}"
        f"<h2>Meters with an issue (50 least complete)</h2>{worst.to_html(index=False, float_format='%.3f')}"
        f"<h2>Columns</h2><table><tr><th>column</th><th>unit</th><th>meaning</th></tr>{rows}</table></body></html>"
    )


def write_report(
    folder: Path, readings: pd.DataFrame, table: pd.DataFrame, summary: dict, *, threshold: float, title: str
) -> dict[str, str]:
    """Write the table (Parquet, CSV), the summary (JSON) and the HTML page into `folder`; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / TABLE_FILE, index=False)
    table.to_csv(folder / CSV_FILE, index=False)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
    plots = {
        "Completeness": plot_completeness(table, threshold),
        "Issues": plot_issues(table),
        "Worst meters": plot_examples(readings, table),
    }
    (folder / HTML_FILE).write_text(render_html(table, summary, plots, title=title))
    logger.info("data quality report written to %s", folder / HTML_FILE)
    return {k: str(folder / f) for k, f in (("table", TABLE_FILE), ("csv", CSV_FILE), ("html", HTML_FILE))}
