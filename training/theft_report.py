"""The HTML inspection report: the day's list and one evidence pack per listed customer (inline SVG, no JS)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from training.theft_list import InspectionList, evidence_pack

W, H, PAD = 560, 160, 28


def _line(xs: np.ndarray, ys: np.ndarray, lo: float, hi: float, colour: str, dash: str = "") -> str:
    if len(xs) == 0:
        return ""
    px = PAD + (xs - xs.min()) / max(np.ptp(xs), 1) * (W - 2 * PAD)
    py = H - PAD - (ys - lo) / max(hi - lo, 1e-9) * (H - 2 * PAD)
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True) if np.isfinite(y))
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2"{style} points="{pts}"/>'


def chart_svg(chart: list[dict[str, Any]]) -> str:
    """Consumption per 30 days (black) vs the own past mean (blue, dashed) and peers' median (orange)."""
    if not chart:
        return "<p>no reads</p>"
    xs = np.arange(len(chart), dtype=float)
    own = np.array([c["kwh_30d"] for c in chart], dtype=float)
    peer = np.array([c["peer_median_kwh_30d"] for c in chart], dtype=float)
    past = np.array([c["own_past_mean_kwh_30d"] if c["own_past_mean_kwh_30d"] is not None else np.nan for c in chart])
    hi = float(np.nanmax(np.r_[own, peer, past, 1.0]))
    body = _line(xs, own, 0, hi, "#222") + _line(xs, peer, 0, hi, "#e67e22") + _line(xs, past, 0, hi, "#2c7bb6", "6 4")
    span = f"{chart[0]['read_date']} … {chart[-1]['read_date']}"
    label = f'<text x="4" y="14" font-size="11">kWh/30 d (max {hi:.0f}); {span}</text>'
    return f'<svg width="{W}" height="{H}" role="img" aria-label="consumption chart">{label}{body}</svg>'


def _value(reason: dict[str, Any]) -> str:
    value = "n/a" if reason["value"] is None else f"{reason['value']:.3g}"
    return html.escape(f"{value} {reason['unit']}".strip())


def _pack_html(pack: dict[str, Any]) -> str:
    cid = html.escape(pack["customer_id"])
    reasons = "".join(f"<li>{html.escape(r['words'])} ({_value(r)})</li>" for r in pack["reasons"])
    anomalies = "".join(
        f"<tr><td>{a['read_date']}</td><td>{html.escape(a['what'])}</td>"
        f"<td>{a['old_index']:.0f} → {a['new_index']:.0f}</td>"
        f"<td>{html.escape(a['status'])}</td></tr>"
        for a in pack["anomalies"][:20]
    )
    past = (
        "".join(f"<li>{p['inspected_date']}: {html.escape(p['outcome'])}</li>" for p in pack["past_inspections"])
        or "<li>none</li>"
    )
    return (
        f'<section id="customer-{cid}"><h2>#{pack["rank"]} {cid}</h2>'
        f"<p>P(theft) {pack['probability']:.2f} · estimated stolen {pack['stolen_kwh_year']:.0f} kWh/year · "
        f"expected recovery {pack['expected_revenue']:.0f}</p>{chart_svg(pack['chart'])}"
        f"<p>black: consumption · dashed blue: own past mean · orange: peers' median</p>"
        f"<h3>Why</h3><ul>{reasons}</ul><h3>Index and status anomalies</h3>"
        f"<table><tr><th>read</th><th>what</th><th>index</th><th>status</th></tr>{anomalies}</table>"
        f'<h3 id="inspections-{cid}">Past inspections</h3><ul>{past}</ul></section>'
    )


def write_inspection_report(
    path: Path, model: Any, listing: InspectionList, summary: dict[str, Any] | None = None
) -> Path:
    """Write the list (in-capacity customers) with their evidence packs to `path` (HTML); returns it."""
    listed = listing.frame.loc[listing.frame["in_capacity"]]
    rows = "".join(
        f'<tr><td>{r.rank}</td><td><a href="#customer-{html.escape(r.customer_id)}">'
        f"{html.escape(r.customer_id)}</a></td>"
        f"<td>{r.probability:.2f}</td><td>{r.stolen_kwh_year:.0f}</td><td>{r.expected_revenue:.0f}</td>"
        f"<td>{html.escape(r.reasons)}</td></tr>"
        for r in listed.itertuples(index=False)
    )
    packs = "".join(_pack_html(evidence_pack(model, listing, cid)) for cid in listed["customer_id"])
    extra = f"<pre>{html.escape(str(summary))}</pre>" if summary else ""
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Inspection list</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:auto}td,th{padding:2px 6px;text-align:left}</style>"
        f"</head><body><h1>Inspection list as of {listing.as_of.date()}</h1>"
        f"<p>{len(listed)} inspections, ranked by expected recovered revenue = P(theft) x estimated stolen kWh x "
        f"tariff ({listing.tariff_per_kwh}/kWh).</p>{extra}"
        "<table><tr><th>#</th><th>customer</th><th>P(theft)</th><th>kWh/year</th><th>expected</th><th>reasons</th></tr>"
        f"{rows}</table>{packs}</body></html>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
