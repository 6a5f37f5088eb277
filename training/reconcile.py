"""Forecast reconciliation: make parts sum to totals (pure).

Method (default ``mint_shrink``): MinT (Wickramasuriya, Athanasopoulos & Hyndman 2019) with the
Schäfer-Strimmer shrinkage covariance of base-forecast residuals,
``y_tilde = S (S' W^-1 S)^-1 S' W^-1 y_hat``, where ``S`` (n_all x n_bottom) maps bottom series to every
series. ``W`` is ``lambda * diag(Sigma) + (1 - lambda) * Sigma`` with ``lambda`` estimated from the
residuals. Also: ``bottom_up``, ``ols`` (W = I) and ``wls_struct`` (W = diag(S 1)). Every method
is a projection onto coherent forecasts, so reconciled aggregates equal the sums of reconciled
bottom series to floating-point precision.

Intervals: the P50 is reconciled; P10/P90 keep their base offsets around the reconciled P50 (quantiles
are not additive, so only the P50 is coherent).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)
METHODS = ("mint_shrink", "wls_struct", "ols", "bottom_up")


def summing_matrix(
    bottom: pd.DataFrame,
    levels: tuple[str, ...] = ("region", "category", "socio_group"),
    *,
    bottom_level: str = "customer",
    key_col: str = "key",
) -> tuple[np.ndarray, list[str]]:
    """Summing matrix for a grouped hierarchy: total, then one row per key of each level, then bottom.

    Parameters
    ----------
    bottom : one row per bottom series with `key_col` and a column per level (its group).

    Returns
    -------
    S : (n_all, n_bottom) 0/1 matrix; ids : ``level:key`` names of the n_all rows.
    """
    n = len(bottom)
    rows, ids = [np.ones(n)], ["total:all"]
    for level in levels:
        if level not in bottom:
            continue
        values = bottom[level].astype(str).to_numpy()
        for key in sorted(set(values)):
            rows.append((values == key).astype(float))
            ids.append(f"{level}:{key}")
    S = np.vstack([*rows, np.eye(n)])
    ids += [f"{bottom_level}:{k}" for k in bottom[key_col].astype(str)]
    return S, ids


def shrink_covariance(residuals: np.ndarray) -> tuple[np.ndarray, float]:
    """Schäfer-Strimmer shrinkage of the (uncentred) residual covariance towards its diagonal.

    `residuals` is (T, n) with NaN allowed: variances use each series' observed rows, correlations
    treat missing residuals as 0. Returns ``(W, lambda)``.
    """
    raw = np.asarray(residuals, dtype=float)
    t = max(len(raw), 2)
    with np.errstate(all="ignore"):
        var = np.nanmean(raw**2, axis=0)  # each series' own observed residuals
    var = np.where(np.isfinite(var), var, np.nanmedian(var) if np.isfinite(var).any() else 1.0)
    sd = np.sqrt(np.clip(var, 1e-12, None))
    z = np.nan_to_num(raw / sd)  # missing residuals pull correlations towards 0
    corr = z.T @ z / t
    np.fill_diagonal(corr, 1.0)
    # Var(r_ij) = t / (t - 1)^3 * sum_k (w_kij - mean_k w_kij)^2 with w_kij = z_ki z_kj
    sum_w, sum_w2 = z.T @ z, (z**2).T @ (z**2)
    var_r = t / (t - 1) ** 3 * (sum_w2 - sum_w**2 / t)
    off = ~np.eye(len(corr), dtype=bool)
    denom = (corr[off] ** 2).sum()
    lam = float(np.clip(var_r[off].sum() / denom, 0, 1)) if denom > 0 else 1.0
    shrunk = lam * np.eye(len(corr)) + (1 - lam) * corr
    return shrunk * np.outer(sd, sd), lam


def projection(S: np.ndarray, method: str = "mint_shrink", residuals: np.ndarray | None = None) -> np.ndarray:
    """The matrix ``P = S G`` with ``y_tilde = P y_hat`` for a reconciliation `method`."""
    n_all, n_bottom = S.shape
    if method == "bottom_up":
        G = np.hstack([np.zeros((n_bottom, n_all - n_bottom)), np.eye(n_bottom)])
        return S @ G
    if method == "ols":
        W = np.eye(n_all)
    elif method == "wls_struct":
        W = np.diag(S.sum(axis=1))
    elif method == "mint_shrink":
        if residuals is None:
            raise ValueError("method='mint_shrink' needs residuals (T x n_all); or use 'wls_struct'")
        W, lam = shrink_covariance(residuals)
        W += np.eye(n_all) * 1e-9 * max(np.trace(W) / n_all, 1e-12)
        logger.info("MinT shrinkage lambda=%.3f over %d series", lam, n_all)
    else:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    Winv_S = np.linalg.solve(W, S)
    G = np.linalg.solve(S.T @ Winv_S, Winv_S.T)
    return S @ G


def reconcile(
    base: pd.DataFrame,
    S: np.ndarray,
    ids: list[str],
    *,
    method: str = "mint_shrink",
    residuals: np.ndarray | None = None,
) -> pd.DataFrame:
    """Reconcile a long forecast frame (``series_id``, ``timestamp``, ``p10``, ``p50``, ``p90``).

    Every id in `ids` must have a forecast for every timestamp. Returns the frame restricted to `ids`
    with coherent ``p50`` and ``p10``/``p90`` shifted by the same adjustment.
    """
    f = base[base["series_id"].isin(ids)]
    wide = f.pivot(index="series_id", columns="timestamp", values="p50").reindex(ids)
    if wide.isna().to_numpy().any():
        missing = wide.index[wide.isna().any(axis=1)].tolist()[:5]
        raise ValueError(f"reconcile: no base forecast for {missing} at some timestamps")
    P = projection(S, method, residuals)
    rec = pd.DataFrame(P @ wide.to_numpy(), index=wide.index, columns=wide.columns)
    adj = (rec - wide).stack().rename("adj").reset_index()
    out = f.merge(adj, on=["series_id", "timestamp"], how="left")
    for col in ("p10", "p50", "p90"):
        out[col] = out[col] + out["adj"]
    return out.drop(columns="adj")
