"""Real-data forecasting benchmark: PJM East hourly, four OpenSTEF/Alliander nodes, London households.

Run (one benchmark at a time on the shared machine)::

    flock /tmp/meterwise-bench.lock .venv/bin/python benchmarks/forecast_real.py [--only pjm,openstef,london]

(a) PJM East: last 365 days, a forecast issued every day at 00:00 (local, hour-ending stamps) for the next
    24 hours from data up to the issue time; LoadForecaster vs seasonal naive (same hour yesterday).
(b) OpenSTEF: per node, issued daily at 00:00 UTC for the next 96 quarter-hours over the last 30 days;
    weather forecasts/price/profile columns are known ahead; MAE vs the one-day-back naive.
(c) London: the full shared daily dataset (5,566 households, full days only) aggregated to total and the
    ACORN groups; target kWh per reporting household; London daily temperature (actuals); 28 days ahead,
    weekly origins over the last 12 months; P10-P90 coverage, MAPE, vs seasonal naive and ETS.

Writes ``benchmarks/results/forecast_real.json``, CSV tables and small PNG charts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared cores: idle OpenMP threads sleep, not spin
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.series import FeatureSpec, Panel, aggregate_series, panel_from_long  # noqa: E402
from training.backtest import attach_actuals, naive_scale, rolling_origin, score  # noqa: E402
from training.baselines import ETSBaseline, SARIMAXBaseline, SeasonalNaive  # noqa: E402
from training.forecasting import LoadForecaster  # noqa: E402
from training.plots.forecast import plot_backtest, plot_error_by_horizon  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results"
logger = logging.getLogger("forecast_real")


def load_pjm() -> Panel:
    df = pd.read_csv(DATA / "pjm_hourly" / "PJME_hourly.csv", parse_dates=["ds"])
    s = df.groupby("ds")["y"].mean().sort_index()  # 4 duplicated DST hours -> mean
    s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h")).interpolate(limit=6)
    s = s[s.index >= s.index.max() - pd.Timedelta(days=365 * 12)]
    series = pd.DataFrame({"series_id": ["pjm:east"], "level": ["total"]})
    return Panel(pd.DatetimeIndex(s.index), s.to_numpy()[None, :], series, "H")


def bench_pjm(results: dict) -> None:
    t0 = time.perf_counter()
    panel = load_pjm()
    idx = panel.index
    end = len(idx) - 1
    test_start = idx[-1] - pd.Timedelta(days=365)
    origins = np.flatnonzero((idx.hour == 0) & (idx >= test_start) & (np.arange(len(idx)) + 24 <= end))
    spec = FeatureSpec(
        freq="H",
        lags=(1, 2, 3, 24, 48, 72, 168, 336),
        seasons=(24, 168),
        origin_lags=(1, 2, 3, 4, 6, 9, 12, 18, 24, 25, 36, 48, 72, 168),
        windows=(3, 24, 72, 168, 336),
        scale_window=168,
        exog=(),
        calendar=("hour", "dayofweek", "dayofyear", "holiday"),
        holiday_country="US",
        holiday_subdiv=None,
    )

    def lgbm():
        return LoadForecaster(
            spec=spec,
            horizon=24,
            origin_step=24,
            origin_phase=int(np.flatnonzero(idx.hour == 0)[0]) % 24,  # train on 00:00 issues, like the test
            min_history=400,
            max_rows=250_000,
            n_estimators=800,
            learning_rate=0.05,
            num_leaves=63,
            calibration_fraction=0.15,
        )

    fc = rolling_origin(
        panel,
        origins,
        horizon=24,
        refit_every=183,
        models={"lightgbm": lgbm, "seasonal_naive": lambda: SeasonalNaive(24, error_window=24 * 60)},
    )
    scale = naive_scale(panel, int(origins[0]), 24)
    table = score(fc, by=["model"], scale=scale)
    by_h = score(fc, by=["model", "horizon"], scale=scale)
    table.to_csv(OUT / "pjm_scores.csv", index=False)
    by_h.to_csv(OUT / "pjm_scores_by_horizon.csv", index=False)
    m = table.set_index("model")
    results["pjm"] = {
        "mape": float(m.loc["lightgbm", "mape"]),
        "naive_mape": float(m.loc["seasonal_naive", "mape"]),
        "mase": float(m.loc["lightgbm", "mase"]),
        "naive_mase": float(m.loc["seasonal_naive", "mase"]),
        "coverage_p10_p90": float(m.loc["lightgbm", "coverage_p10_p90"]),
        "n_origins": len(origins),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    plot_backtest(fc, "pjm:east", OUT / "pjm_forecast_vs_actual.png", last=24 * 14)
    plot_error_by_horizon(by_h, OUT / "pjm_error_by_horizon.png", metric="mape")
    logger.info("pjm: %s", results["pjm"])


OPENSTEF_EXOG = (
    "APX",
    "clouds",
    "radiation",
    "temp",
    "winddeg",
    "windspeed",
    "windspeed_100m",
    "pressure",
    "humidity",
    "rain",
    "clearSky_ulf",
    "clearSky_dlf",
    "sjv_E1A",
    "sjv_E2A",
    "sjv_E3A",
    "sjv_E4A",
)


def bench_openstef(results: dict) -> None:
    t0 = time.perf_counter()
    frames = []
    for path in sorted((DATA / "openstef_alliander").glob("get_model_input_pid_*.csv.gz")):
        node = path.name.removeprefix("get_model_input_pid_").removesuffix(".csv.gz")
        df = pd.read_csv(path, usecols=["index", "load", *OPENSTEF_EXOG])
        df["timestamp"] = pd.to_datetime(df["index"], utc=True).dt.tz_localize(None)
        frames.append(df.drop(columns="index").assign(series_id=f"node:{node}", level="node"))
    long = pd.concat(frames, ignore_index=True)
    long[list(OPENSTEF_EXOG)] = long.groupby("series_id")[list(OPENSTEF_EXOG)].transform(lambda c: c.ffill().bfill())
    panel = _panel_15min(long)
    idx = panel.index
    test_start = idx[-1].normalize() - pd.Timedelta(days=30)
    origins = np.flatnonzero(
        (idx.hour == 0) & (idx.minute == 0) & (idx >= test_start) & (np.arange(len(idx)) + 96 < len(idx))
    )
    midnight = int(np.flatnonzero((idx.hour == 0) & (idx.minute == 0))[0]) % 96
    spec = FeatureSpec(
        freq="Q",
        lags=(1, 2, 4, 96, 192, 672),
        seasons=(96, 672),
        windows=(4, 96, 672),
        scale_window=672,
        exog=OPENSTEF_EXOG,
        calendar=("hour", "minute", "dayofweek"),
        holiday_country="NL",
        holiday_subdiv=None,
    )

    def lgbm():
        return LoadForecaster(
            spec=spec,
            horizon=96,
            origin_step=96,
            origin_phase=midnight,  # train on 00:00 issues, like the test
            min_history=96 * 7,
            max_rows=300_000,
            n_estimators=500,
            num_leaves=63,
            group_col="series_id",  # residual quantiles per node
        )

    fc = rolling_origin(
        panel,
        origins,
        horizon=96,
        refit_every=15,
        models={"lightgbm": lgbm, "naive_1d": lambda: SeasonalNaive(96, error_window=96 * 14)},
    )
    # the same model fitted per node (reported beside the global one, not picked by test score)
    local = [
        rolling_origin(panel.subset([i]), origins, horizon=96, refit_every=15, models={"lightgbm_per_node": lgbm})
        for i in range(len(panel.ids))
    ]
    fc = pd.concat([fc, *local], ignore_index=True)
    table = score(fc, by=["series_id", "model"])
    table.to_csv(OUT / "openstef_scores.csv", index=False)
    out = {}
    for node, g in table.groupby("series_id"):
        m = g.set_index("model")
        name = node.split(":")[1]
        out[name] = {
            "mae": float(m.loc["lightgbm", "mae"]),
            "naive_mae": float(m.loc["naive_1d", "mae"]),
            "improvement": float(1 - m.loc["lightgbm", "mae"] / m.loc["naive_1d", "mae"]),
            "coverage_p10_p90": float(m.loc["lightgbm", "coverage_p10_p90"]),
            "per_node_model_mae": float(m.loc["lightgbm_per_node", "mae"]),
            "per_node_model_improvement": float(1 - m.loc["lightgbm_per_node", "mae"] / m.loc["naive_1d", "mae"]),
        }
    results["openstef"] = {**out, "seconds": round(time.perf_counter() - t0, 1)}
    plot_backtest(fc, panel.ids[0], OUT / "openstef_forecast_vs_actual.png", last=96 * 7)
    logger.info("openstef: %s", results["openstef"])


def _panel_15min(long: pd.DataFrame) -> Panel:
    index = pd.date_range(long["timestamp"].min(), long["timestamp"].max(), freq="15min")
    series = long.drop_duplicates("series_id")[["series_id", "level"]].reset_index(drop=True)
    row = pd.Index(series["series_id"]).get_indexer(long["series_id"])
    col = index.get_indexer(long["timestamp"])

    def grid(c):
        g = np.full((len(series), len(index)), np.nan)
        g[row, col] = long[c].to_numpy(dtype=float)
        return g

    return Panel(index, grid("load"), series, "Q", {c: grid(c) for c in OPENSTEF_EXOG})


def load_london() -> pd.DataFrame:
    """Daily kWh per household-day (full days only) with the ACORN group, from all 112 blocks."""
    base = DATA / "london_smart_meters"
    info = pd.read_csv(base / "informations_households.csv", usecols=["LCLid", "Acorn_grouped"])
    blocks = sorted((base / "daily_dataset").glob("block_*.csv.xz"))
    df = pd.concat(
        [pd.read_csv(p, usecols=["LCLid", "day", "energy_count", "energy_sum"]) for p in blocks], ignore_index=True
    )
    df = df[(df["energy_count"] == 48) & df["energy_sum"].notna()]
    df = df.merge(info, on="LCLid", how="left")
    return df.rename(
        columns={"LCLid": "customer_id", "day": "reading_date", "energy_sum": "kwh", "Acorn_grouped": "socio_group"}
    )


def bench_london(results: dict) -> None:
    t0 = time.perf_counter()
    df = load_london()
    weather = pd.read_csv(
        DATA / "london_smart_meters" / "weather_daily_darksky.csv", usecols=["time", "temperatureMax", "temperatureMin"]
    )
    temp = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(weather["time"]).dt.normalize(),
            "temperature_c": (weather["temperatureMax"] + weather["temperatureMin"]) / 2,
        }
    )
    temp = temp.groupby("timestamp", as_index=False)["temperature_c"].mean()
    readings = df[["customer_id", "reading_date", "kwh"]].assign(
        reading_date=lambda d: pd.to_datetime(d["reading_date"])
    )
    customers = df.drop_duplicates("customer_id")[["customer_id", "socio_group"]]
    agg = aggregate_series(readings, customers, freq="D", levels=("total", "socio_group"))
    agg = agg[agg["timestamp"] >= "2012-01-01"].merge(temp, on="timestamp", how="left")
    agg.loc[agg["n_meters"] < 20, "kwh_per_meter"] = np.nan  # too few households reporting: not a group mean
    panel = panel_from_long(agg, freq="D", exog=("temperature_c",), attrs=("level", "key"))
    idx = panel.index
    last = len(idx) - 1
    origins = np.arange(last - 28 - 7 * 51, last - 28 + 1, 7)

    def lgbm():
        return LoadForecaster(
            horizon=28,
            origin_step=1,
            min_history=28,
            n_estimators=300,
            num_leaves=15,
            min_child_samples=30,
            calibration_fraction=0.25,
            group_col="series_id",
        )

    fc = rolling_origin(
        panel,
        origins,
        horizon=28,
        refit_every=4,
        models={
            "lightgbm": lgbm,
            "seasonal_naive": lambda: SeasonalNaive(7, error_window=180),
            "ets": lambda: ETSBaseline(7, max_history=365),
        },
    )
    scale = naive_scale(panel, int(origins[0]), 7)
    table = score(fc, by=["model"], scale=scale)
    per_series = score(fc, by=["series_id", "model"], scale=scale)
    by_h = score(fc, by=["model", "horizon"], scale=scale)
    for name, t in (
        ("london_scores", table),
        ("london_scores_by_series", per_series),
        ("london_scores_by_horizon", by_h),
    ):
        t.to_csv(OUT / f"{name}.csv", index=False)
    m = table.set_index("model")
    results["london"] = {
        "coverage_p10_p90": float(m.loc["lightgbm", "coverage_p10_p90"]),
        "mape": float(m.loc["lightgbm", "mape"]),
        "mase": float(m.loc["lightgbm", "mase"]),
        "naive_mape": float(m.loc["seasonal_naive", "mape"]),
        "ets_mape": float(m.loc["ets", "mape"]),
        "ets_coverage_p10_p90": float(m.loc["ets", "coverage_p10_p90"]),
        "households": int(df["customer_id"].nunique()),
        "series": panel.ids,
        "n_origins": len(origins),
        "per_series": {
            r.series_id: {"mape": r.mape, "coverage_p10_p90": r.coverage_p10_p90}
            for r in per_series[per_series["model"] == "lightgbm"].itertuples()
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    # SARIMAX "where it fits": the total series, every 4th origin (one statsmodels fit each)
    total = np.array([panel.ids.index("total:all")])
    sub = origins[::4]
    sar = attach_actuals(SARIMAXBaseline(7, rows=total).predict(panel, sub, horizon=28), panel)
    ours = fc[(fc["model"] == "lightgbm") & (fc["series_id"] == "total:all") & fc["origin"].isin(panel.index[sub])]
    results["london"]["sarimax_total_subset"] = {
        "n_origins": len(sub),
        "sarimax_mape": float(score(sar)["mape"].iloc[0]),
        "lightgbm_mape": float(score(ours)["mape"].iloc[0]),
        "sarimax_coverage_p10_p90": float(score(sar)["coverage_p10_p90"].iloc[0]),
    }
    plot_backtest(fc, "total:all", OUT / "london_forecast_vs_actual.png", last=None)
    plot_error_by_horizon(by_h, OUT / "london_error_by_horizon.png", metric="mape")
    logger.info("london: %s", {k: v for k, v in results["london"].items() if k != "per_series"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="pjm,openstef,london")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "forecast_real.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only.split(","):
        {"pjm": bench_pjm, "openstef": bench_openstef, "london": bench_london}[name](results)
        path.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
