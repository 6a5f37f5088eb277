"""Realised performance as outcomes arrive (pure): arrears calibration per grade and over time, matured AUC,
forecast error against the backtest.

Arrears: a bill counts only once its outcome window has closed at ``as_of`` (``due_date + late_days <=
as_of``, the ``label_known`` flag of :func:`features.training_sets.bill_labels`); the caller builds the
rows with :func:`training.arrears_fit.training_frame`, the label logic training uses, and keeps the bills
issued after the champion's training cutoff (out of time: the model never saw them).

Forecasts: the champion bundle's issued P10/P50/P90 are joined with the actuals that have arrived since its
data cut-off and scored with :func:`training.backtest.score` (MAPE and sMAPE in %, MASE against the
in-sample seasonal-naive MAE of the stored history, pinball relative to mean |y|, P10-P90 coverage), per
level and frequency and per calendar month of the targets, beside the backtest figures stored with the
champion: those of the same calendar month (``meta["served_by_month"]``, :func:`backtest_by_month` of the
served backtest at training) where the backtest covered that month, else those of the whole backtest
(``meta["served"]``); :func:`against_backtest` names the reference used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.backtest import score
from training.evaluation import roc_auc

SEASON = {"H": 24, "D": 7, "M": 12}


def calibration_by_grade(
    grades: np.ndarray, y: np.ndarray, p: np.ndarray, order: list[str] | None = None
) -> pd.DataFrame:
    """Per grade: ``n``, ``predicted_rate`` (mean p), ``realised_rate`` (mean y), ``gap`` (realised - predicted).

    Parameters
    ----------
    grades : array of str, shape (n,)
    y : array of 0/1, shape (n,)
        Realised outcomes of matured bills.
    p : array of float, shape (n,)
        Predicted late-payment probability of the same bills.
    order : list of str, optional
        Grade order of the output (grades with no bill get ``n = 0`` and NaN rates).
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if not (len(grades) == y.size == p.size):
        raise ValueError(f"grades ({len(grades)}), y ({y.size}) and p ({p.size}) differ in length; expected equal")
    frame = pd.DataFrame({"grade": np.asarray(grades).astype(str), "y": y, "p": p})
    out = frame.groupby("grade", sort=True).agg(
        n=("y", "size"), predicted_rate=("p", "mean"), realised_rate=("y", "mean")
    )
    if order is not None:
        out = out.reindex([str(g) for g in order])
        out["n"] = out["n"].fillna(0).astype(int)
    out = out.reset_index()
    return out.assign(gap=out["realised_rate"] - out["predicted_rate"])


def calibration_over_time(
    period: pd.Series, grades: np.ndarray, y: np.ndarray, p: np.ndarray, order: list[str] | None = None
) -> pd.DataFrame:
    """:func:`calibration_by_grade` per cohort `period` (e.g. the bill's issue month), stacked with a
    ``period`` column; plus an ``all`` grade row per period."""
    parts = []
    period = pd.Series(period).astype(str).to_numpy()
    for key in sorted(set(period)):
        m = period == key
        table = calibration_by_grade(np.asarray(grades)[m], np.asarray(y)[m], np.asarray(p)[m], order)
        every = calibration_by_grade(np.full(int(m.sum()), "all"), np.asarray(y)[m], np.asarray(p)[m])
        parts.append(pd.concat([table, every], ignore_index=True).assign(period=key))
    columns = ["period", "grade", "n", "predicted_rate", "realised_rate", "gap"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def matured_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC on matured bills; NaN when they hold a single class."""
    y = np.asarray(y, dtype=float)
    return float(roc_auc(y, p)) if y.size and 0 < y.mean() < 1 else float("nan")


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """Join keys in one dtype: level/key/freq as str, timestamp as datetime64 (melted frames hold objects)."""
    return frame.assign(
        level=frame["level"].astype(str), key=frame["key"].astype(str), freq=frame["freq"].astype(str),
        timestamp=pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]"),
    )  # fmt: skip


def forecast_errors(
    forecasts: pd.DataFrame, actuals: pd.DataFrame, history: pd.DataFrame | None = None, *, by_month: bool = False
) -> pd.DataFrame:
    """Realised error per ``freq`` and ``level`` of issued forecasts against arrived actuals.

    Parameters
    ----------
    forecasts : long frame ``level, key, freq, timestamp, p10, p50, p90`` (kWh per period).
    actuals : long frame ``level, key, freq, timestamp, y`` (kWh per period) observed since the cut-off.
    history : long frame like `actuals` from before the cut-off (the MASE scale); optional.
    by_month : also split by the calendar month of the targets: one row per ``period`` (``YYYY-MM``) with its
        ``month`` (1..12), the unit :func:`against_backtest` compares with the backtest of the same month.

    Returns
    -------
    DataFrame with ``freq, level, n, mae, mape, mape_se, smape, mase, pinball, coverage_p10_p90, width_rel``
    (after ``period, month`` with `by_month`); ``mape_se`` is the standard error of the MAPE (sd of the
    per-period APE over the square root of their count, in %; NaN below two periods), read by the sample-size
    aware error check. Empty when no actual has arrived for any forecast.
    """
    keys = ["level", "key", "freq", "timestamp"]
    forecasts, actuals = _keyed(forecasts), _keyed(actuals)
    history = _keyed(history) if history is not None and len(history) else None
    f = forecasts[[*keys, "p10", "p50", "p90"]].merge(actuals[[*keys, "y"]], on=keys, how="inner")
    f = f.assign(series_id=f["level"].astype(str) + "|" + f["key"].astype(str) + "|" + f["freq"].astype(str))
    scale = None
    if history is not None:
        h = history.sort_values("timestamp").assign(
            series_id=lambda d: d["level"].astype(str) + "|" + d["key"].astype(str) + "|" + d["freq"].astype(str)
        )
        lag = h["freq"].map(SEASON).fillna(1).astype(int)
        prev = h.groupby("series_id")["y"].transform(lambda s: s.shift(int(lag.loc[s.index[0]])))
        scale = (h["y"] - prev).abs().groupby(h["series_id"]).mean()
    group = ["freq", "level", *(["period"] if by_month else [])]
    cols = [*group, *(["month"] if by_month else []), "n", "mae", "mape", "mape_se", "smape", "mase", "pinball"]
    cols += ["coverage_p10_p90", "width_rel"]
    if f.empty:
        return pd.DataFrame(columns=cols)
    if by_month:
        f = f.assign(period=f["timestamp"].dt.to_period("M").astype(str))
    out = score(f, by=group, scale=scale).merge(_mape_se(f, group), on=group, how="left")
    if by_month:
        out["month"] = out["period"].str[-2:].astype(int)
    return out[[c for c in cols if c in out.columns]]


def backtest_by_month(held_out: pd.DataFrame) -> pd.DataFrame:
    """Backtest figures per ``freq``, ``level`` and calendar ``month`` (1..12) of the targets.

    Parameters
    ----------
    held_out : the served backtest, one row per origin and target: ``freq, level, timestamp, y, p10, p50, p90``
        (kWh per period; the frame :func:`training.forecast_tenant.evaluate_freq` scores).

    Returns
    -------
    DataFrame ``freq, level, month, n, mape, mape_se, coverage_p10_p90`` (MAPE and its standard error in %;
    ``n`` counts origin-target rows, so a target reached from several origins counts once per origin).
    """
    cols = ["freq", "level", "month", "n", "mape", "mape_se", "coverage_p10_p90"]
    if held_out.empty:
        return pd.DataFrame(columns=cols)
    f = held_out.assign(month=pd.to_datetime(held_out["timestamp"]).dt.month)
    keys = ["freq", "level", "month"]
    out = score(f, by=keys).merge(_mape_se(f, keys), on=keys, how="left")
    return out[cols]


def _mape_se(f: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Standard error of the MAPE per group of `keys` (%), on the rows :func:`training.backtest.score` keeps."""
    f = f.dropna(subset=["y", "p50"])
    y = f["y"].to_numpy(float)
    nz = np.abs(y) > 1e-9
    ape = np.where(nz, np.abs(y - f["p50"].to_numpy(float)) / np.where(nz, np.abs(y), 1.0), np.nan) * 100
    g = f[keys].assign(ape=ape).groupby(keys)["ape"]
    return (g.std(ddof=1) / np.sqrt(g.count())).rename("mape_se").reset_index()


def against_backtest(
    realised: pd.DataFrame, backtest: pd.DataFrame, whole: pd.DataFrame | None = None, *, min_n: int = 1
) -> pd.DataFrame:
    """`realised` errors beside the backtest's (``backtest_mape``, ``backtest_coverage``) per freq and level,
    with ``mape_excess`` = realised MAPE / backtest MAPE - 1 (relative; NaN without a backtest figure) and
    ``reference``: ``same_month``, ``whole_backtest`` or ``none`` (no backtest figure).

    When both `realised` and `backtest` carry ``month`` (calendar month 1..12 of the targets), each realised
    month is compared with the backtest of the same calendar month (a series whose error varies with the
    season is not read as deteriorating when its hard season comes) where that month has at least `min_n`
    backtest rows (``n``; a frame without ``n`` counts as enough); other months fall back to `whole`, the
    backtest over its whole window (per freq and level). Without ``month`` on both, the reference is `whole`
    (when given) or `backtest`.
    """
    cols = {"mape": "backtest_mape", "coverage_p10_p90": "backtest_coverage"}
    monthly = "month" in realised and "month" in backtest
    whole = backtest if not monthly and whole is None else whole
    out = realised.assign(backtest_mape=np.nan, backtest_coverage=np.nan, reference="none")
    if whole is not None and len(whole):
        ref = whole[["freq", "level", *cols]].rename(columns=cols)
        out = out.drop(columns=list(cols.values())).merge(ref, on=["freq", "level"], how="left")
        out.loc[out["backtest_mape"].notna(), "reference"] = "whole_backtest"
    if monthly and len(backtest):
        enough = backtest["n"] >= min_n if "n" in backtest else np.ones(len(backtest), bool)
        keys = ["freq", "level", "month"]
        same = out[keys].merge(backtest.loc[enough, [*keys, *cols]].rename(columns=cols), on=keys, how="left")
        found = same["backtest_mape"].notna().to_numpy()
        for c in cols.values():
            out.loc[found, c] = same.loc[found, c].to_numpy()
        out.loc[found, "reference"] = "same_month"
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mape_excess"] = out["mape"] / out["backtest_mape"] - 1
    return out
