"""What customers complain about and what is new: keywords per category/period and emerging terms (pure).

Keywords are class-based TF-IDF (c-TF-IDF): a class (a category, or a month) is all its orders; a term scores
the share of the class's orders mentioning it times ``log(all orders / orders mentioning it)``.

Emerging terms: for each period ``t`` and term ``w``, ``x`` orders of ``n`` mention ``w`` in ``t`` and ``y``
of ``m`` did in the trailing ``window`` periods before ``t``. Under H0 (the share has not changed) and a
Poisson model for each count, ``x`` given ``x + y`` is Binomial(``x + y``, ``n / (n + m)``); the one-sided
p-value is ``P(X >= x)``. This conditional test carries the uncertainty of the trailing rate, so a term seen
a handful of times before does not make a cheap alarm. P-values are adjusted with Benjamini–Hochberg across
every term tested in the same period (false discovery rate ``alpha`` per period); a term is flagged when
``q < alpha``, ``x >= min_count`` and its share is at least ``min_ratio`` times the trailing share.

Invariants
----------
- A period's flags use only that period and the ones before it (the trailing window); nothing later.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from sklearn.feature_extraction.text import CountVectorizer

logger = logging.getLogger(__name__)

FREQS = {"week": "W-MON", "month": "MS"}


def _split(doc: str) -> list[str]:
    return doc.split()


def period_start(created_at: pd.Series, freq: str) -> pd.Series:
    """The start (UTC midnight) of the week (Monday) or month holding each timestamp."""
    if freq not in FREQS:
        raise ValueError(f"freq={freq!r}; expected one of {tuple(FREQS)}")
    when = pd.to_datetime(created_at, utc=True).dt.tz_convert(None).dt.normalize()
    if freq == "week":
        return when - pd.to_timedelta(when.dt.day_of_week, unit="D")
    return when.dt.to_period("M").dt.start_time


def term_counts(docs: list[str], groups: pd.Series, *, min_df: int = 3, max_df: float = 0.3) -> pd.DataFrame:
    """Orders mentioning each term per group (rows: groups in order, columns: terms).

    Terms in fewer than `min_df` orders or in more than `max_df` of all orders (function words, the
    tenant's boilerplate) are left out: the corpus, not a built-in list, decides what is too common.
    """
    vec = CountVectorizer(tokenizer=_split, token_pattern=None, lowercase=False, binary=True, min_df=min_df,
                          max_df=max_df)  # fmt: skip
    X = vec.fit_transform(docs)
    codes, uniques = pd.factorize(pd.Series(groups).reset_index(drop=True), sort=True)
    G = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(uniques), len(codes)))
    counts = (G @ X).toarray()
    return pd.DataFrame(counts, index=pd.Index(uniques, name="group"), columns=vec.get_feature_names_out())


def class_keywords(counts: pd.DataFrame, totals: pd.Series, *, top: int = 10) -> pd.DataFrame:
    """c-TF-IDF top terms per class (row of `counts`): ``group``, ``rank``, ``term``, ``score``, ``orders``.

    ``score = share of the class's orders mentioning the term * log(all orders / orders mentioning it)``.
    """
    tf = counts.to_numpy(dtype=float)
    n = totals.reindex(counts.index).to_numpy(dtype=float)
    share = tf / np.maximum(n, 1.0)[:, None]
    idf = np.log(max(n.sum(), 1.0) / np.maximum(tf.sum(axis=0), 1.0))
    score = share * idf
    k = min(top, score.shape[1])
    best = np.argsort(-score, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(counts)), k)
    cols = best.ravel()
    out = pd.DataFrame(
        {
            "group": counts.index.to_numpy()[rows],
            "rank": np.tile(np.arange(1, k + 1), len(counts)),
            "term": counts.columns.to_numpy()[cols],
            "score": score[rows, cols],
            "orders": tf[rows, cols].astype(int),
        }
    )
    return out[out["orders"] > 0].reset_index(drop=True)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values of one family of p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return q
    order = ok[np.argsort(p[ok])]
    m = len(order)
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def emerging_terms(
    counts: pd.DataFrame,
    totals: pd.Series,
    *,
    window: int = 8,
    alpha: float = 0.01,
    min_count: int = 5,
    min_ratio: float = 2.0,
) -> pd.DataFrame:
    """Test every (period, term) against its trailing window (see the module docstring).

    Parameters
    ----------
    counts : pandas.DataFrame
        Orders mentioning each term per period (rows sorted by period, consecutive: missing periods as 0).
    totals : pandas.Series
        Orders per period, same index as `counts`.
    window : int
        Trailing periods forming the reference rate; periods with less history are not tested.
    alpha : float
        False discovery rate per period (Benjamini–Hochberg).
    min_count, min_ratio : int, float
        A flag also needs this many orders and this ratio of current to trailing share.

    Returns
    -------
    pandas.DataFrame
        One row per tested (period, term) with ``count``, ``orders``, ``share``, ``trailing_share``,
        ``ratio``, ``p_value``, ``q_value`` and ``emerging`` (bool), sorted by period then p-value.
    """
    x = counts.to_numpy(dtype=float)
    n = totals.reindex(counts.index).to_numpy(dtype=float)
    cx = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    cn = np.concatenate([[0.0], np.cumsum(n)])
    t = np.arange(window, len(counts))
    if len(t) == 0:
        logger.warning("only %d periods: need more than window=%d to test anything", len(counts), window)
        return pd.DataFrame(columns=["period", "term", "count", "orders", "share", "trailing_share", "ratio",
                                     "p_value", "q_value", "emerging"])  # fmt: skip
    y = cx[t] - cx[t - window]  # (len(t), terms) trailing counts
    m = (cn[t] - cn[t - window])[:, None]
    xt, nt = x[t], n[t][:, None]
    total = xt + y
    p = np.where(total > 0, stats.binom.sf(xt - 1, total, nt / np.maximum(nt + m, 1.0)), 1.0)
    p = np.where((xt > 0) & (nt > 0) & (m > 0), p, np.nan)
    q = np.apply_along_axis(benjamini_hochberg, 1, p)
    share = xt / np.maximum(nt, 1.0)
    trailing = y / np.maximum(m, 1.0)
    ratio = (xt + 0.5) / np.maximum(nt, 1.0) / ((y + 0.5) / np.maximum(m, 1.0))
    flag = (q < alpha) & (xt >= min_count) & (ratio >= min_ratio)
    rows, cols = np.nonzero(~np.isnan(p))
    out = pd.DataFrame(
        {
            "period": counts.index.to_numpy()[t[rows]],
            "term": counts.columns.to_numpy()[cols],
            "count": xt[rows, cols].astype(int),
            "orders": n[t[rows]].astype(int),
            "share": share[rows, cols],
            "trailing_share": trailing[rows, cols],
            "ratio": ratio[rows, cols],
            "p_value": p[rows, cols],
            "q_value": q[rows, cols],
            "emerging": flag[rows, cols],
        }
    )
    return out.sort_values(["period", "p_value"], kind="stable").reset_index(drop=True)


def periodic_counts(docs: list[str], created_at: pd.Series, freq: str, **kw) -> tuple[pd.DataFrame, pd.Series]:
    """Term counts and order totals per consecutive period (empty periods filled with zeros)."""
    period = period_start(pd.Series(created_at).reset_index(drop=True), freq)
    counts = term_counts(docs, period, **kw)
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=FREQS[freq])
    counts = counts.reindex(full, fill_value=0)
    totals = period.value_counts().reindex(full, fill_value=0).astype(int)
    counts.index.name = totals.index.name = "period"
    return counts, totals


def weather_link(totals: pd.Series, weather: pd.DataFrame | None, freq: str) -> dict | None:
    """Spearman correlation of orders per period with the period's mean temperature and its distance from 18 °C.

    Returns None without weather. A correlation is an annotation for the report, not a causal claim.
    """
    if weather is None or weather.empty:
        return None
    temp = weather.groupby(period_start(weather["observed_at"], freq))["temperature_c"].mean()
    both = pd.DataFrame({"orders": totals, "temperature_c": temp}).dropna()
    if len(both) < 6:
        return None
    rho_t, p_t = stats.spearmanr(both["orders"], both["temperature_c"])
    rho_d, p_d = stats.spearmanr(both["orders"], (both["temperature_c"] - 18.0).abs())
    return {
        "periods": len(both),
        "spearman_temperature": float(rho_t),
        "p_temperature": float(p_t),
        "spearman_distance_from_18c": float(rho_d),
        "p_distance_from_18c": float(p_d),
        "temperature_by_period": both["temperature_c"],
    }
