"""The London forecast stream of ``benchmarks/monitoring.py``: the product's forecasting engine as champion.

The series is the daily total of the London households as the engine sees a tenant's total: mean kWh per
household per day over the households with a full day of readings (the panel the engine forecasts).

* **Champion.** :func:`training.forecast_engine.series_engine` (the engine of ``meterwise backtest`` and
  ``meterwise forecast``; members chosen by its own inner validation) fitted on data up to the cut-off
  2013-03-31, with its conformal P10/P90; UK holidays (a calendar known in advance); no weather (never
  the actual future temperature). It is not refitted afterwards.
* **Issues.** Weekly, on days 1, 8, 15, 22 and 29 of each month, from the data strictly before the issue
  day, for the days up to the next issue (horizons 1..7; the month's last issue 1..3).
* **Backtest figures (the reference).** The engine's own rolling-origin backtest
  (:func:`training.backtest.rolling_origin`) over the 12 months before the cut-off, on the same issue grid
  and horizons (like with like), refitted every quarter on data before each issue; its members are chosen
  by validation before the first backtest issue. Every backtest target lies on or before the cut-off. The
  error check compares each monitored month with the backtest of the same calendar month (London's daily
  error varies about fourfold over the year: spring and Christmas are hard, summer easy), so a season is
  not read as a deterioration; the whole-year backtest figure is reported beside it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.series import Panel, panel_from_long
from training.backtest import rolling_origin
from training.forecast_engine import series_engine
from training.monitoring_outcomes import against_backtest, forecast_errors
from training.monitoring_rules import MonitoringSettings, coverage_interval, forecast_breaches

logger = logging.getLogger("benchmarks.monitoring")
HORIZON, ISSUE_DAYS, COUNTRY, SEED = 7, (1, 8, 15, 22, 29), "GB", 0
REFIT_ISSUES = 15  # the backtest refits every quarter (5 issues a month)
KEYS = ["level", "key", "freq", "timestamp"]


def household_panel(daily: pd.DataFrame) -> Panel:
    """One-series daily panel ``total:all``: mean kWh per household per day (households with a full day)."""
    per_home = daily.groupby("day")["kwh"].mean()
    long = pd.DataFrame(
        {"timestamp": per_home.index, "load": per_home.to_numpy(), "series_id": "total:all", "level": "total",
         "key": "all"}
    )  # fmt: skip
    return panel_from_long(long, freq="D", value="load", attrs=("level", "key"))


def issue_grid(panel: Panel, months: pd.PeriodIndex) -> tuple[np.ndarray, np.ndarray]:
    """Origins (the day before each issue) and the last target of each issue (the day before the next issue
    or the month's end), as panel positions; issues whose first target is past the data are dropped."""
    origins, last = [], []
    end = panel.last_observed()
    for m in months:
        days = pd.date_range(m.start_time, m.end_time.normalize(), freq="D")
        issues = [d for d in days if d.day in ISSUE_DAYS]
        for i, day in enumerate(issues):
            stop = issues[i + 1] - pd.Timedelta(days=1) if i + 1 < len(issues) else days[-1]
            pos = panel.index.get_indexer([day - pd.Timedelta(days=1), min(stop, panel.index[end])])
            if pos[0] >= 0 and pos[0] < end:
                origins.append(pos[0])
                last.append(pos[1])
    return np.asarray(origins, dtype=np.int64), np.asarray(last, dtype=np.int64)


def _long(fc: pd.DataFrame, panel: Panel, origins: np.ndarray, last: np.ndarray) -> pd.DataFrame:
    """Forecast frame trimmed to each issue's targets, in the monitoring layout (``level, key, freq, ...``)."""
    origin_pos = panel.index.get_indexer(pd.DatetimeIndex(fc["origin"]))
    stop = pd.Series(last, index=origins).reindex(origin_pos).to_numpy()
    keep = panel.index.get_indexer(pd.DatetimeIndex(fc["timestamp"])) <= stop
    out = fc[keep].assign(level="total", key="all", freq="D")
    return out[[*KEYS, "origin", "horizon", "p10", "p50", "p90"]].reset_index(drop=True)


def actuals(panel: Panel, forecasts: pd.DataFrame) -> pd.DataFrame:
    """The arrived actuals (kWh per household per day) of a forecast frame's targets."""
    col = panel.index.get_indexer(pd.DatetimeIndex(forecasts["timestamp"]))
    y = np.where(col >= 0, panel.y[0, np.clip(col, 0, None)], np.nan)
    return forecasts[KEYS].assign(y=y).dropna(subset=["y"])


def history(panel: Panel, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The series up to the cut-off (the MASE scale), in the monitoring layout."""
    keep = panel.index <= cutoff
    return pd.DataFrame({"level": "total", "key": "all", "freq": "D", "timestamp": panel.index[keep],
                         "y": panel.y[0, keep]}).dropna(subset=["y"])  # fmt: skip


def backtest(panel: Panel, months: pd.PeriodIndex, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The engine's rolling-origin backtest on the monitoring issue grid inside the training window.

    Returns the errors per calendar month (``month`` 1..12 beside the :func:`forecast_errors` columns), over
    the whole window, and a summary (whole-window figures, members, issues).
    """
    origins, last = issue_grid(panel, months)
    if panel.index[last.max()] > cutoff:
        raise ValueError(f"backtest months {months[0]}..{months[-1]} reach past the cut-off {cutoff.date()}")
    factory, members = series_engine(panel, "D", HORIZON, end=int(origins[0]), country=COUNTRY, seed=SEED)
    fc = rolling_origin(panel.extend(HORIZON), origins, horizon=HORIZON, models={"engine": factory},
                        refit_every=REFIT_ISSUES)  # fmt: skip
    fc = _long(fc, panel, origins, last)
    act = actuals(panel, fc)
    month = pd.DatetimeIndex(fc["timestamp"]).month
    per_month = pd.concat(
        [forecast_errors(fc[month == m], act).assign(month=m) for m in sorted(set(month))], ignore_index=True
    )
    whole_frame = forecast_errors(fc, act)
    whole = whole_frame.iloc[0]
    summary = {
        "window": f"{months[0]}..{months[-1]}",
        "issues": len(origins),
        "refit_every_issues": REFIT_ISSUES,
        "members": [f"{target} / scale {window}" for window, target in members],
        "mape": round(float(whole["mape"]), 2),
        "coverage_p10_p90": round(float(whole["coverage_p10_p90"]), 3),
        "width_rel": round(float(whole["width_rel"]), 3),
        "mape_by_month": {int(r.month): round(float(r.mape), 2) for r in per_month.itertuples()},
        "coverage_by_month": {int(r.month): round(float(r.coverage_p10_p90), 3) for r in per_month.itertuples()},
    }
    logger.info("london engine backtest: %s", summary)
    return per_month, whole_frame, summary


def champion(panel: Panel, cutoff: pd.Timestamp):
    """The engine fitted on data up to the cut-off (members chosen by its validation before the cut-off)."""
    end = int(panel.index.get_loc(cutoff))
    factory, members = series_engine(panel, "D", HORIZON, end=end, country=COUNTRY, seed=SEED)
    model = factory().fit(panel, end=end)
    logger.info("london champion: members %s, fitted to %s", members, cutoff.date())
    return model, [f"{target} / scale {window}" for window, target in members]


def monitor_month(
    model,
    panel: Panel,
    month: pd.Period,
    reference: pd.DataFrame,
    whole: pd.DataFrame,
    hist: pd.DataFrame,
    settings: MonitoringSettings,
) -> dict:
    """One monthly check of the unrefitted champion: issue the month's forecasts, score them as the actuals
    arrive, compare with the backtest of the same calendar month; breaches by the product's rules (and, for
    the record, by the point rule and against the whole-year backtest)."""
    origins, last = issue_grid(panel, pd.PeriodIndex([month]))
    fc = _long(model.predict(panel.extend(HORIZON), origins, horizon=HORIZON), panel, origins, last)
    act = actuals(panel, fc)
    raw = forecast_errors(fc, act, hist).assign(month=month.month)
    err = against_backtest(raw, reference)  # the backtest of the same calendar month
    e = err.iloc[0]
    lo, hi = coverage_interval(e["coverage_p10_p90"] * e["n"], int(e["n"]), settings.breach_confidence)
    point = settings.model_copy(update={"breach_confidence": 0.0})
    yearly = against_backtest(raw.drop(columns="month"), whole)

    def names(found) -> list[str]:
        return [f"{b.check}:{b.subject}" for b in found]

    # sensitivity of the error rule to the independence it assumes: the APE's lag-1 autocorrelation r and
    # the MAPE lower bound with the standard error widened by sqrt((1 + r) / (1 - r)) (effective sample size)
    z = float(norm.ppf(0.5 + settings.breach_confidence / 2))
    joined = fc.merge(act, on=KEYS).sort_values("timestamp")
    ape = (np.abs(joined["y"] - joined["p50"]) / joined["y"]).to_numpy() * 100
    r = max(float(np.corrcoef(ape[:-1], ape[1:])[0, 1]), 0.0)
    widened = float(e["mape_se"]) * np.sqrt((1 + r) / (1 - r))

    return {
        "periods": int(e["n"]),
        "mape": round(float(e["mape"]), 2),
        "mape_se": round(float(e["mape_se"]), 2),
        "backtest_mape_same_month": round(float(e["backtest_mape"]), 2),
        "error_limit": round(float(e["backtest_mape"]) * (1 + settings.error_margin), 2),
        "mape_lower_bound": round(float(e["mape"]) - z * float(e["mape_se"]), 2),
        "ape_lag1_autocorr": round(r, 3),
        "mape_lower_bound_autocorr_adjusted": round(float(e["mape"]) - z * widened, 2),
        "mase": round(float(e["mase"]), 3),
        "coverage_p10_p90": round(float(e["coverage_p10_p90"]), 3),
        "coverage_interval": [round(lo, 3), round(hi, 3)],
        "width_rel": round(float(e["width_rel"]), 3),
        "forecast_alerts": names(forecast_breaches(err, settings)),
        "point_rule_alerts": names(forecast_breaches(err, point)),
        "whole_year_reference_alerts": names(forecast_breaches(yearly, settings)),
    }
