"""One customer's key-account report as a self-contained HTML page with plots (I/O at the edge).

Reads the customer views (``meterwise collections views``), the latest batch arrears scores and the audit
trail; draws the last 28 days, the weekday profile and the half-hourly profile; writes
``<var>/reports/<tenant>/customer_<id>.html``.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import UnknownCustomer
from features.settings import DataSettings
from training.collections_settings import load_collections_settings
from training.customer_views_job import VIEWS, views_dir, write_customer_views
from training.decisions import DecisionLog

logger = logging.getLogger(__name__)


def _img(fig) -> str:
    from training.plots.common import png_bytes

    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(png_bytes(fig)).decode()}"/>'


def _charts(view: pd.Series, as_of: pd.Timestamp) -> list[str]:
    from training.plots.common import new_figure

    out = []
    fig, ax = new_figure("wide")
    days = pd.date_range(end=as_of, periods=len(view["daily_28d"]), freq="D")
    ax.bar(days, view["daily_28d"])
    ax.set(title="daily kWh, last 28 days", ylabel="kWh")
    out.append(_img(fig))
    fig, ax = new_figure("normal")
    ax.bar(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], view["weekday_profile"])
    ax.set(title="mean kWh by weekday (8 weeks)", ylabel="kWh/day")
    out.append(_img(fig))
    profile = view.get("interval_profile")
    if profile is not None and len(profile):
        fig, ax = new_figure("wide")
        hours = np.arange(len(profile)) * 24 / len(profile)
        ax.plot(hours, np.asarray(profile, dtype=float) * len(profile) / 24)
        ax.set(
            title=f"mean load by time of day (kW); peak {view['peak_kw']:.1f} kW at {view['peak_at']}", xlabel="hour"
        )
        out.append(_img(fig))
    return out


def render_customer(customer_id: str, view: pd.Series, scores: pd.Series | None, decisions: list[dict]) -> str:
    """The HTML page (pure apart from drawing)."""
    as_of = pd.Timestamp(view["as_of"])
    facts = {
        "category / tariff / region": f"{view.get('category')} / {view.get('tariff')} / {view.get('region')}",
        "key account": view["key_account_basis"] if view["key_account"] else "no",
        "kWh over 365 days": f"{view['kwh_365d']:,.0f}",
        "mean kWh/day (28 days)": f"{view['kwh_mean_28d']:.1f}",
        "peak demand": "n/a (no interval data)"
        if pd.isna(view["peak_kw"])
        else f"{view['peak_kw']:.2f} kW at {view['peak_at']}",
        "load factor (28 days)": "n/a" if pd.isna(view["load_factor"]) else f"{view['load_factor']:.2f}",
    }
    if scores is not None:
        facts["arrears (batch scores)"] = (
            f"p={scores['probability']:.2f}, grade {scores['grade']}, action {scores['action']}"
            + (
                f" (guardrail {scores['guardrail']}; grade's action {scores['original_action']})"
                if scores.get("guardrail")
                else ""
            )
        )
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    audit = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                d["decided_at"],
                d["source"],
                d["action"],
                d["guardrail"] or "",
                "; ".join(filter(None, d["reasons"])),
            )
        )
        + "</tr>"
        for d in decisions
    )
    charts = "".join(_charts(view, as_of))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>customer {html.escape(customer_id)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}th{text-align:left;padding-right:1em}"
        "td,th{border-bottom:1px solid #ddd;padding:4px}</style></head><body>"
        f"<h1>Customer {html.escape(customer_id)}</h1><p>as of {as_of.date()}</p><table>{rows}</table>{charts}"
        "<h2>Decisions served (audit trail, newest first)</h2><table><tr><th>when</th><th>source</th><th>action</th>"
        f"<th>guardrail</th><th>reasons</th></tr>{audit}</table></body></html>"
    )


def write_customer_report(data: DataSettings, customer_id: str, *, as_of: pd.Timestamp | None = None) -> Path:
    """Write the report of `customer_id` (views built first when there are none)."""
    path = views_dir(data.var_dir, data.tenant) / VIEWS
    if as_of is not None or not path.exists():
        write_customer_views(data, as_of=as_of)
    views = pd.read_parquet(path).set_index("customer_id")
    if customer_id not in views.index:
        raise UnknownCustomer([customer_id])
    scores_path = data.scores_dir("arrears") / "latest.parquet"
    scores = None
    if scores_path.exists():
        found = pd.read_parquet(scores_path).set_index("customer_id")
        scores = found.loc[customer_id] if customer_id in found.index else None
    collections = load_collections_settings(data.data_dir)
    log = DecisionLog.open(collections.audit_url(data.var_dir), synchronous=collections.audit_synchronous)
    try:
        decisions = log.for_customer(customer_id, limit=20)
    finally:
        log.close()
    out = data.reports_dir / f"customer_{customer_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_customer(customer_id, views.loc[customer_id], scores, decisions))
    logger.info("customer report -> %s", out)
    return out
