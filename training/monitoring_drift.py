"""Population drift measures (pure): PSI with stated bins, two-sample KS, share shift and migration counts.

PSI (population stability index) of a numeric column, as used in credit scoring:

- **bins**: ``n_bins`` (default 10) quantile bins of the *reference* sample. Inner edges are the reference
  quantiles at ``1/n_bins, 2/n_bins, ...``, de-duplicated (a column with many ties gets fewer bins); the
  outer edges are ``-inf`` and ``+inf`` so every current value falls in a bin. Bins are right-closed
  (``numpy.searchsorted(edges, x, side="left")``), so a value equal to an edge joins the lower bin.
- **missing values** form their own bin (a column that starts arriving empty is drift too).
- **empty bins**: a share of 0 is replaced by ``eps`` (default 1e-4) in both samples before the log, so an
  empty bin adds a large but finite term instead of infinity.
- ``PSI = sum_b (cur_b - ref_b) * ln(cur_b / ref_b)``; conventions: < 0.1 stable, 0.1-0.25 moderate shift,
  > 0.25 significant shift (the thresholds live in :class:`training.monitoring_rules.MonitoringSettings`).

Categorical columns (object / category / bool) use one bin per reference category plus one "other" bin
for categories unseen in the reference. KS is :func:`scipy.stats.ks_2samp` on the non-missing values.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

DEFAULT_BINS = 10
EPS = 1e-4


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def quantile_edges(reference: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Bin edges: ``-inf``, the de-duplicated inner reference quantiles, ``+inf`` (see the module docstring)."""
    if n_bins < 2:
        raise ValueError(f"n_bins={n_bins}; expected at least 2")
    ref = np.asarray(reference, dtype=float)
    ref = ref[np.isfinite(ref)]
    if not ref.size:
        raise ValueError("reference holds no finite values; PSI needs a reference distribution")
    inner = np.unique(np.quantile(ref, np.arange(1, n_bins) / n_bins))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _shares(counts: np.ndarray, eps: float) -> np.ndarray:
    total = counts.sum()
    share = counts / total if total else np.zeros_like(counts, dtype=float)
    return np.where(share > 0, share, eps)


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, *, eps: float = EPS) -> float:
    """PSI of two count vectors over the same bins (empty shares replaced by `eps`)."""
    ref_counts, cur_counts = np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)
    if ref_counts.shape != cur_counts.shape:
        raise ValueError(f"{ref_counts.size} reference bins and {cur_counts.size} current bins; expected equal")
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return float("nan")
    r, c = _shares(ref_counts, eps), _shares(cur_counts, eps)
    return float(np.sum((c - r) * np.log(c / r)))


def binned_counts(reference: pd.Series, current: pd.Series, n_bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Counts per bin of both samples: ``bin``, ``reference``, ``current`` (the bins PSI uses)."""
    reference, current = pd.Series(reference), pd.Series(current)
    if _is_numeric(reference) and _is_numeric(current):
        ref, cur = reference.to_numpy(dtype=float), current.to_numpy(dtype=float)
        edges = quantile_edges(ref, n_bins)
        labels = [f"({lo:.4g}, {hi:.4g}]" for lo, hi in itertools.pairwise(edges)] + ["missing"]
        k = edges.size - 1

        def count(x: np.ndarray) -> np.ndarray:
            missing = ~np.isfinite(x)
            idx = np.clip(np.searchsorted(edges, x[~missing], side="left") - 1, 0, k - 1)
            return np.append(np.bincount(idx, minlength=k), missing.sum())

        return pd.DataFrame({"bin": labels, "reference": count(ref), "current": count(cur)})
    ref_s, cur_s = reference.astype(object).fillna("missing"), current.astype(object).fillna("missing")
    cats = list(pd.unique(ref_s.astype(str)))
    ref_c = ref_s.astype(str).value_counts().reindex(cats, fill_value=0).to_numpy()
    cur_str = cur_s.astype(str)
    cur_c = cur_str.value_counts().reindex(cats, fill_value=0).to_numpy()
    other = int((~cur_str.isin(cats)).sum())
    return pd.DataFrame({"bin": [*cats, "other"], "reference": [*ref_c, 0], "current": [*cur_c, other]})


def psi(reference: pd.Series, current: pd.Series, *, n_bins: int = DEFAULT_BINS, eps: float = EPS) -> float:
    """Population stability index of `current` against `reference` (bins as in the module docstring)."""
    counts = binned_counts(reference, current, n_bins)
    return psi_from_counts(counts["reference"].to_numpy(), counts["current"].to_numpy(), eps=eps)


def ks(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``) on finite values.

    NaN, NaN for non-numeric columns or when either sample has no finite value."""
    reference, current = pd.Series(reference), pd.Series(current)
    if not (_is_numeric(reference) and _is_numeric(current)):
        return float("nan"), float("nan")
    ref, cur = reference.to_numpy(dtype=float), current.to_numpy(dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not ref.size or not cur.size:
        return float("nan"), float("nan")
    res = stats.ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def drift_table(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], *, n_bins: int = DEFAULT_BINS
) -> pd.DataFrame:
    """One row per column: ``feature``, ``psi``, ``ks``, ``ks_pvalue``, ``n_reference``, ``n_current``.

    Sorted by PSI, largest first. A column missing from `current` raises ``KeyError`` naming it."""
    missing = [c for c in columns if c not in current.columns or c not in reference.columns]
    if missing:
        raise KeyError(f"columns {missing[:5]} are missing from the reference or current sample")
    rows = []
    for col in columns:
        ref, cur = reference[col], current[col]
        stat, pvalue = ks(ref, cur)
        rows.append(
            {
                "feature": col,
                "psi": psi(ref, cur, n_bins=n_bins) if ref.notna().any() else float("nan"),
                "ks": stat,
                "ks_pvalue": pvalue,
                "n_reference": int(ref.size),
                "n_current": int(cur.size),
            }
        )
    out = pd.DataFrame(rows, columns=["feature", "psi", "ks", "ks_pvalue", "n_reference", "n_current"])
    return out.sort_values("psi", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def share_shift(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Share of each label (grade, segment) in both samples: ``label``, ``reference_share``, ``current_share``,
    ``change`` (percentage points as a fraction), with labels of either sample."""
    ref = pd.Series(reference).astype(str).value_counts(normalize=True)
    cur = pd.Series(current).astype(str).value_counts(normalize=True)
    labels = sorted(set(ref.index) | set(cur.index))
    out = pd.DataFrame(
        {
            "label": labels,
            "reference_share": ref.reindex(labels, fill_value=0.0).to_numpy(),
            "current_share": cur.reindex(labels, fill_value=0.0).to_numpy(),
        }
    )
    return out.assign(change=out["current_share"] - out["reference_share"])


def share_psi(shift: pd.DataFrame, *, eps: float = EPS) -> float:
    """PSI over the labels of a :func:`share_shift` table (the grade-mix or segment-mix PSI)."""
    return psi_from_counts(shift["reference_share"].to_numpy(), shift["current_share"].to_numpy(), eps=eps)


def migration_counts(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Customers per (``from_label``, ``to_label``) among those labelled in both (indexed by customer id).

    Adds ``moved`` (from != to). Customers in only one series are left out (new or gone, not migrated)."""
    both = pd.concat([pd.Series(previous).rename("from_label"), pd.Series(current).rename("to_label")], axis=1)
    both = both.dropna().astype(str)
    out = both.value_counts(["from_label", "to_label"]).rename("customers").reset_index()
    return out.assign(moved=out["from_label"] != out["to_label"]).sort_values(
        ["from_label", "to_label"], kind="stable", ignore_index=True
    )
