"""The HTML monitoring report: status, breaches, and plots of drift per feature, calibration over time and
error over time (one self-contained file; the PNGs are embedded as base64).

Plots (each drawn only when its data exists):

- drift per feature: PSI per feature and on the score / segment mix, with the warn and alert lines;
- calibration over time: realised vs predicted late rate of matured bills per issue month;
- error over time: realised forecast MAPE and P10-P90 coverage per monitoring run (``history.jsonl``);
- score PSI and matured AUC per monitoring run.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from training.monitoring_checks import Section
from training.plots.common import new_figure, png_bytes

logger = logging.getLogger(__name__)
TOP = 20


def _img(fig) -> str:
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(png_bytes(fig)).decode()}">'


def plot_drift(drift: pd.DataFrame, title: str, warn: float, alert: float) -> str:
    top = drift.dropna(subset=["psi"]).head(TOP).iloc[::-1]
    fig, ax = new_figure((7.0, max(2.5, 0.28 * len(top) + 1)))
    ax.barh(
        top["feature"],
        top["psi"],
        color=["#c0392b" if v >= alert else "#e67e22" if v >= warn else "#2e86c1" for v in top["psi"]],
    )
    for x, style in ((warn, ":"), (alert, "--")):
        ax.axvline(x, color="grey", linestyle=style, linewidth=1)
    ax.set(xlabel="PSI (reference: champion's training data)", title=title)
    return _img(fig)


def plot_calibration(over_time: pd.DataFrame) -> str:
    every = over_time[over_time["grade"] == "all"]
    fig, ax = new_figure("wide")
    ax.plot(every["period"], every["predicted_rate"], marker="o", label="predicted")
    ax.plot(every["period"], every["realised_rate"], marker="s", label="realised")
    ax.set(ylabel="late-payment rate", xlabel="issue month (matured bills)", title="Calibration over time")
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return _img(fig)


def plot_history(history: pd.DataFrame, columns: list[str], title: str, ylabel: str) -> str | None:
    cols = [c for c in columns if c in history.columns and history[c].notna().any()]
    if not cols or len(history) < 1:
        return None
    fig, ax = new_figure("wide")
    for c in cols:
        ax.plot(history["as_of"], history[c], marker="o", label=c)
    ax.set(title=title, ylabel=ylabel, xlabel="monitoring as_of")
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", rotation=45)
    return _img(fig)


def _table(frame: pd.DataFrame, rows: int = 30) -> str:
    return frame.head(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)


def render(status: dict[str, Any], sections: list[Section], history: pd.DataFrame, quarantine: pd.DataFrame) -> str:
    """The report as one HTML string (pure apart from drawing)."""
    t = status["thresholds"]
    parts = [
        f"<h1>Monitoring: {html.escape(status['tenant'])} as of {status['as_of']}</h1>",
        f"<p>Overall <b>{status['status']}</b>. Recommendation: <b>{html.escape(status['recommendation'])}</b>.</p>",
    ]
    breaches = [b for m in status["models"].values() for b in m["breaches"]] + status["inputs"]["breaches"]
    if breaches:
        frame = pd.DataFrame(breaches)[["kind", "check", "subject", "severity", "message"]]
        parts += ["<h2>Breaches</h2>", _table(frame, 100)]
    for sec in sections:
        parts.append(f"<h2>{sec.kind} (champion v{sec.version}): {sec.status}</h2>")
        if sec.note:
            parts.append(f"<p>{html.escape(sec.note)}</p>")
        if "drift" in sec.tables:
            parts.append(
                plot_drift(sec.tables["drift"], f"{sec.kind}: drift per feature", t["psi_warn"], t["psi_alert"])
            )
        if "calibration_over_time" in sec.tables and len(sec.tables["calibration_over_time"]):
            parts.append(plot_calibration(sec.tables["calibration_over_time"]))
        for name, table in sec.tables.items():
            if name != "calibration_over_time":
                parts += [f"<h3>{name}</h3>", _table(table)]
    if len(history):
        for cols, title, ylabel in (
            ([c for c in history.columns if c.startswith("forecast.mape_")], "Forecast error over time", "MAPE %"),
            ([c for c in history.columns if c.startswith("forecast.coverage_")], "P10-P90 coverage over time", "share"),
            (["arrears.score_psi", "arrears.max_feature_psi", "segments.segment_mix_psi"], "Drift over time", "PSI"),
            (["arrears.matured_auc"], "Matured-bill AUC over time", "AUC"),
        ):
            img = plot_history(history, cols, title, ylabel)
            if img:
                parts.append(img)
    parts += ["<h2>Inputs: contract rejection rates</h2>", _table(pd.DataFrame(status["inputs"]["tables"]))]
    if len(quarantine):
        parts += ["<h3>Quarantined rows per run</h3>", _table(quarantine, 50)]
    style = "body{font-family:sans-serif;max-width:1000px;margin:auto} td,th{padding:2px 8px} img{max-width:100%}"
    head = f"<head><meta charset='utf-8'><title>monitoring</title><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(parts)}</body></html>"


def write_monitoring_report(
    path: Path, status: dict[str, Any], sections: list[Section], history: pd.DataFrame, quarantine: pd.DataFrame
) -> Path:
    """Write :func:`render`'s HTML to `path`; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(status, sections, history, quarantine))
    logger.info("monitoring report: %s", path)
    return path
