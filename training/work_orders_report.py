"""The trends report: orders per period and category, emerging terms, keywords, weather link (HTML + PNG).

:func:`build_trends` is pure (tables in, frames out); :func:`write_trends_report` draws and writes files.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.work_orders_text import TextConfig, Tokenizer
from training.work_orders_trends import (
    class_keywords,
    emerging_terms,
    period_start,
    periodic_counts,
    term_counts,
    weather_link,
)

logger = logging.getLogger(__name__)


@dataclass
class Trends:
    freq: str
    volume: pd.DataFrame  # period x category order counts
    emerging: pd.DataFrame  # flagged (period, term) rows
    tested: int  # (period, term) pairs tested
    keywords_by_category: pd.DataFrame
    keywords_by_period: pd.DataFrame
    weather: dict | None
    share: pd.DataFrame  # period x flagged term: share of orders


def build_trends(
    orders: pd.DataFrame,
    *,
    freq: str = "week",
    weather: pd.DataFrame | None = None,
    text_config: TextConfig | None = None,
    window: int | None = None,
    alpha: float = 0.01,
    min_count: int = 5,
) -> Trends:
    """Volumes, emerging terms (see :mod:`training.work_orders_trends`), keywords and the weather link."""
    orders = orders.sort_values("created_at", kind="stable").reset_index(drop=True)
    docs = Tokenizer(text_config or TextConfig()).join(orders["text"])
    window = window or (8 if freq == "week" else 3)
    counts, totals = periodic_counts(docs, orders["created_at"], freq)
    tested = emerging_terms(counts, totals, window=window, alpha=alpha, min_count=min_count)
    flagged = tested[tested["emerging"]].reset_index(drop=True)
    period = period_start(orders["created_at"], freq)
    category = orders["category"].fillna("(none)") if "category" in orders else pd.Series("(all)", index=orders.index)
    volume = pd.crosstab(period, category).reindex(totals.index, fill_value=0)
    labelled = category.ne("(none)").to_numpy()
    if labelled.sum() >= 2 and category[labelled].nunique() >= 2:
        by_cat = term_counts([d for d, k in zip(docs, labelled, strict=True) if k], category[labelled], min_df=2)
        kw_cat = class_keywords(by_cat, category[labelled].value_counts(), top=10)
    else:
        kw_cat = pd.DataFrame(columns=["group", "rank", "term", "score", "orders"])
    month = period_start(orders["created_at"], "month")
    kw_period = class_keywords(term_counts(docs, month, min_df=2), month.value_counts(), top=8)
    terms = list(dict.fromkeys(flagged.sort_values("p_value")["term"]))[:6]
    share = counts[terms].div(totals.clip(lower=1), axis=0) if terms else pd.DataFrame(index=counts.index)
    link = weather_link(totals, weather, freq)
    logger.info("trends (%s): %d periods, %d (period, term) tested, %d flagged", freq, len(totals), len(tested),
                len(flagged))  # fmt: skip
    return Trends(freq, volume, flagged, len(tested), kw_cat, kw_period, link, share)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _table(df: pd.DataFrame, limit: int = 60) -> str:
    return df.head(limit).to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}")


def write_trends_report(trends: Trends, folder: Path) -> Path:
    """``trends.html`` (plots inline) plus ``emerging_terms.csv`` and ``keywords_by_category.csv`` in `folder`."""
    import matplotlib.pyplot as plt  # on the caller's backend (the CLI picks Agg)

    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4))
    trends.volume.plot(ax=ax, lw=1.2)
    ax.set_title(f"work orders per {trends.freq} and category")
    ax.set_ylabel("orders")
    ax.legend(fontsize=7, ncol=4)
    if trends.weather is not None:
        ax2 = ax.twinx()
        temp = trends.weather["temperature_by_period"]
        ax2.plot(temp.index, temp.to_numpy(), color="grey", ls=":", lw=1)
        ax2.set_ylabel("mean temperature (°C)")
    volume_png = _png(fig)
    plt.close(fig)
    parts = [
        "<html><head><meta charset='utf-8'><title>work-order trends</title></head><body>",
        f"<h1>Work-order trends ({html.escape(trends.freq)})</h1>",
        f"<img src='data:image/png;base64,{volume_png}'>",
        "<h2>Emerging terms</h2>",
        "<p>Test: conditional binomial (two Poisson rates) of the period's orders mentioning the term against the "
        "trailing window; Benjamini–Hochberg across the terms of each period; flags also need a minimum count and "
        f"a 2x share. {len(trends.emerging)} flags among {trends.tested} (period, term) tests.</p>",
    ]
    if len(trends.share.columns):
        fig, ax = plt.subplots(figsize=(10, 3.5))
        trends.share.plot(ax=ax, lw=1.2)
        for p in trends.emerging["period"].unique():
            ax.axvline(p, color="red", lw=0.5, alpha=0.4)
        ax.set_title("share of orders mentioning the most significant emerging terms (red: flagged periods)")
        ax.set_ylabel("share of orders")
        parts.append(f"<img src='data:image/png;base64,{_png(fig)}'>")
        plt.close(fig)
    parts.append(_table(trends.emerging))
    if trends.weather is not None:
        w = {k: round(v, 3) for k, v in trends.weather.items() if k != "temperature_by_period"}
        parts += ["<h2>Weather</h2>", f"<p>Spearman correlation of orders per period with weather: {w}</p>"]
    parts += ["<h2>Keywords per category (c-TF-IDF)</h2>", _table(trends.keywords_by_category, 200)]
    parts += ["<h2>Keywords per month (c-TF-IDF)</h2>", _table(trends.keywords_by_period, 200), "</body></html>"]
    path = folder / "trends.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    trends.emerging.to_csv(folder / "emerging_terms.csv", index=False)
    trends.keywords_by_category.to_csv(folder / "keywords_by_category.csv", index=False)
    logger.info("trends report written to %s", path)
    return path
