"""Cold start: a daily-kWh forecast for a customer with little or no history, from priors of comparable
customers (pure, vectorised).

The prior of a new customer is the mean daily kWh of its peers over the last ``window_days`` before the
issue day, from the most specific group with at least ``min_peers`` customers among ``keys`` (e.g.
category + region + tariff, then category + region, then category, then everyone); the basis says
which. With ``k`` days of its own history the level is the credibility-weighted mix
``(k * own_mean + k0 * prior) / (k + k0)`` (Bühlmann): ``k0`` is the peers' within-customer variance of
daily kWh over the between-customer variance of their means, estimated on the peers, so a customer's own
days count for more where customers differ more. The weekday shape is the peers' (their mean kWh per
weekday over ``shape_weeks`` weeks relative to their overall mean).

Invariants
----------
- Only readings dated before the issue day are used, for the new customer and for its peers.
- A new customer is never its own peer (callers pass peers and new customers apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Prior:
    """Per new customer: the prior level (kWh/day), its basis, and the peers' weekday shape."""

    level: pd.Series  # kWh/day, index customer_id
    basis: pd.Series  # e.g. "socio_group=Affluent, tariff=std (n=132 peers)"
    weekday_shape: np.ndarray  # shape (7,), Monday first, mean 1
    k0: float  # days of own history worth as much as the prior


def _window(readings: pd.DataFrame, issue: pd.Timestamp, days: int) -> pd.DataFrame:
    start = issue - pd.Timedelta(days=days)
    return readings[(readings["reading_date"] >= start) & (readings["reading_date"] < issue)]


def credibility_k0(recent: pd.DataFrame) -> float:
    """Within-customer variance of daily kWh / between-customer variance of the means (Bühlmann ``k``)."""
    stats = recent.groupby("customer_id")["kwh"].agg(["mean", "var"])
    between = float(stats["mean"].var())
    within = float(stats["var"].mean())
    if not np.isfinite(between) or between <= 0:
        return float("inf")
    return within / between


def build_prior(
    peers: pd.DataFrame,
    peer_attrs: pd.DataFrame,
    new_attrs: pd.DataFrame,
    *,
    issue: pd.Timestamp,
    keys: tuple[str, ...],
    window_days: int = 28,
    shape_weeks: int = 8,
    min_peers: int = 20,
) -> Prior:
    """The prior of every customer of `new_attrs` from `peers` (readings) and `peer_attrs` (their attributes).

    Parameters
    ----------
    peers : DataFrame
        ``customer_id``, ``reading_date``, ``kwh`` of customers with history (any dates; only those before
        `issue` are read).
    peer_attrs, new_attrs : DataFrame
        ``customer_id`` and the `keys` columns (e.g. ``category``, ``region``, ``tariff``).
    keys : tuple of str
        Grouping columns, most important first; the prior falls back by dropping the last key.
    """
    issue = pd.Timestamp(issue).normalize()
    recent = _window(peers, issue, window_days)
    level = recent.groupby("customer_id")["kwh"].mean().rename("level")
    attrs = peer_attrs.set_index("customer_id").join(level, how="inner")
    new = new_attrs.set_index("customer_id")
    out_level = pd.Series(np.nan, index=new.index, dtype=float)
    out_basis = pd.Series(None, index=new.index, dtype=object)
    for depth in range(len(keys), -1, -1):
        todo = out_level.isna()
        if not todo.any():
            break
        group_keys = list(keys[:depth])
        if group_keys:
            stats = attrs.groupby(group_keys)["level"].agg(["mean", "count"])
            stats = stats[stats["count"] >= min_peers]
            joined = new.loc[todo, group_keys].join(stats, on=group_keys)
        else:
            joined = pd.DataFrame({"mean": attrs["level"].mean(), "count": len(attrs)}, index=new.index[todo])
        found = joined["mean"].notna()
        out_level[joined.index[found]] = joined.loc[found, "mean"]
        labels = pd.Series("all customers", index=joined.index[found])
        for i, key in enumerate(group_keys):  # vectorised "k1=v1, k2=v2"
            part = key + "=" + joined.loc[found, key].astype(str)
            labels = part if i == 0 else labels + ", " + part
        out_basis[joined.index[found]] = (
            labels + " (n=" + joined.loc[found, "count"].astype(int).astype(str) + " peers)"
        )
    shape_days = _window(peers, issue, 7 * shape_weeks)
    by_day = shape_days.groupby(shape_days["reading_date"].dt.dayofweek)["kwh"].mean().reindex(range(7))
    shape = (by_day / by_day.mean()).fillna(1.0).to_numpy()
    return Prior(out_level, out_basis, shape, credibility_k0(recent))


def cold_start_forecast(
    prior: Prior, own: pd.DataFrame, *, issue: pd.Timestamp, horizon_days: int = 28
) -> pd.DataFrame:
    """Daily kWh forecast of each new customer for `horizon_days` from `issue` (inclusive).

    `own` holds the new customers' readings before `issue` (``k`` days each, possibly none). Returns
    ``customer_id``, ``reading_date``, ``kwh_p50``, ``own_days``, ``weight_own`` and ``basis``.
    """
    issue = pd.Timestamp(issue).normalize()
    seen = own[own["reading_date"] < issue].groupby("customer_id")["kwh"].agg(["mean", "count"])
    seen = seen.reindex(prior.level.index)
    k = seen["count"].fillna(0.0).to_numpy()
    own_mean = seen["mean"].fillna(0.0).to_numpy()
    k0 = prior.k0 if np.isfinite(prior.k0) else 1e9
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(k > 0, k / (k + k0), 0.0)  # k0 = 0 (peers never vary day to day): own days decide
    level = weight * own_mean + (1 - weight) * prior.level.to_numpy()
    days = pd.date_range(issue, periods=horizon_days, freq="D")
    shape = prior.weekday_shape[days.dayofweek.to_numpy()]
    n = len(level)
    return pd.DataFrame(
        {
            "customer_id": np.repeat(prior.level.index.to_numpy(), horizon_days),
            "reading_date": np.tile(days.to_numpy(), n),
            "kwh_p50": (level[:, None] * shape[None, :]).ravel(),
            "own_days": np.repeat(k.astype(int), horizon_days),
            "weight_own": np.repeat(weight, horizon_days),
            "basis": np.repeat(prior.basis.to_numpy(), horizon_days),
        }
    )


def arrears_priors(
    attrs: pd.DataFrame, probability: np.ndarray, usable: np.ndarray, *, keys: tuple[str, ...], min_peers: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `attrs`, the mean arrears probability of the scored rows (``usable``) of its most
    specific group among `keys` with at least `min_peers` of them, and that group's basis (vectorised).

    Returns
    -------
    prior : ndarray of float, shape (n,)
        NaN where no group (not even everyone) has `min_peers` scored rows.
    basis : ndarray of object, shape (n,)
        e.g. ``"category=residential, region=north, tariff=std (n=61 peers)"``; None where no prior.
    """
    n = len(attrs)
    prior = np.full(n, np.nan)
    basis = np.full(n, None, dtype=object)
    p = pd.Series(np.where(usable, probability, np.nan), index=attrs.index, dtype=float)
    for depth in range(len(keys), -1, -1):
        todo = np.isnan(prior)
        if not todo.any():
            break
        group_keys = list(keys[:depth])
        if group_keys:
            grouped = p.groupby([attrs[k].astype(str) for k in group_keys], sort=False)
            mean, count = grouped.transform("mean").to_numpy(), grouped.transform("count").to_numpy()
            label = pd.Series("", index=attrs.index)
            for i, key in enumerate(group_keys):
                part = key + "=" + attrs[key].astype(str)
                label = part if i == 0 else label + ", " + part
        else:
            mean, count = np.full(n, p.mean()), np.full(n, p.count())
            label = pd.Series("all customers", index=attrs.index)
        take = todo & (count >= min_peers) & ~np.isnan(mean)
        prior[take] = mean[take]
        basis[take] = (
            label + " (n=" + pd.Series(count, index=attrs.index).astype(int).astype(str) + " peers)"
        ).to_numpy()[take]
    return prior, basis


def month_ahead(
    views: pd.DataFrame, *, keys: tuple[str, ...] = ("category", "region", "tariff"), min_peers: int = 20
) -> pd.DataFrame:
    """Next-28-day kWh per customer of `views` (:func:`features.customer_views.build_customer_views`), P10/P50/P90.

    P50: 28 x the credibility mix of the customer's own mean over its last 28 days (``k`` days seen) and its
    peers' prior (customers with 28 full days, most specific group of `keys` with `min_peers`); ``k0`` from
    the peers' within / between variances. P10/P90: P50 x the 10th / 90th percentiles, over the peers, of
    the ratio of their last 28 days to the 28 before (how much a month moves on the next). A customer with
    fewer than 28 days is ``cold_start`` with the prior's basis.
    """
    k = views["days_with_readings_28d"].fillna(0).to_numpy(dtype=float)
    full = k >= 28
    own = views["kwh_mean_28d"].to_numpy(dtype=float)
    present = tuple(c for c in keys if c in views.columns)
    prior, basis = arrears_priors(views[list(present)], own, full, keys=present, min_peers=min_peers)
    between = float(np.nanvar(own[full])) if full.any() else np.nan
    within = float(np.nanmean(views["kwh_var_28d"].to_numpy(dtype=float)[full])) if full.any() else np.nan
    k0 = within / between if between > 0 else np.inf
    weight = np.where(np.isfinite(k0), k / (k + k0), (k > 0).astype(float))
    level = np.where(k > 0, weight * np.nan_to_num(own) + (1 - weight) * prior, prior)
    ratio = (views["kwh_mean_28d"] / views["kwh_mean_prev_28d"]).to_numpy(dtype=float)[full]
    ratio = ratio[np.isfinite(ratio)]
    q10, q90 = np.quantile(ratio, [0.1, 0.9]) if len(ratio) else (np.nan, np.nan)
    p50 = 28 * level
    return pd.DataFrame(
        {
            "month_kwh_p10": p50 * q10,
            "month_kwh_p50": p50,
            "month_kwh_p90": p50 * q90,
        },
        index=views.index,
    ).assign(forecast_cold_start=pd.Series(np.where(full, None, basis), index=views.index, dtype=object))
