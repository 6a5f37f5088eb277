"""Real-data forecasting benchmark: PJM East hourly, four OpenSTEF/Alliander nodes, London households.

Run (one benchmark at a time on the shared machine)::

    flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/forecast_real.py [--only pjm,openstef,london]

``--only`` and ``--every K`` (every K-th PJM / OpenSTEF issue) run a slice, written to
``benchmarks/results/forecast_real_slice.json`` (git-ignored; tables and charts in ``benchmarks/out/``), never
over the full run's figures.

Every figure uses only what was known at each issue time, through the one engine
(:mod:`training.forecast_engine`) that tenant jobs and ``meterwise backtest`` use:

(a) PJM East: ``meterwise backtest``'s own code path (:func:`training.backtest_job.run_backtest`) on the
    shared CSV read by :func:`training.csv_series.read_load_csv`: a forecast issued every day at 00:00 over
    the last 365 days for the next 24 hours from data strictly before the issue time, US holidays; no
    weather (the file has none). Nixtla mlforecast's LightGBM out of the box runs on the same issues
    (:func:`mlforecast_baseline`, ``pjm.baselines.mlforecast``) and is gated. Reproduce with
    ``meterwise backtest --input ../shared/data/pjm_hourly/PJME_hourly.csv --freq H --horizon 24 --days 365
    --country US``.
(b) OpenSTEF: per node, the same protocol at 15 minutes (96 ahead, issued daily at 00:00 UTC, last 30 days).
    The files' weather columns are *forecasts*, as are the day-ahead price (APX, published the day before) and
    the standard load profiles (a calendar table): each is read at the target timestamp as the value the file
    holds for that valid time, i.e. assumed issued before the 00:00 issue time (OpenSTEF's own day-ahead
    training inputs). Measured loads enter only through lags at or before the issue time.
(c) London: the full shared daily dataset as a tenant whose hierarchy is total -> ACORN group, through the
    tenant job's own selection (:func:`training.forecast_tenant.evaluate_freq`): kWh sums, the method chosen
    per level among LightGBM, ETS and seasonal naive, reconciled, conformal P10/P90; 28 days ahead, 52 weekly
    origins over the last 12 months, scored on the later 26 (what the API would have returned); temperature
    read through the climatology known at each issue time (no actual future weather); coverage and width.

Writes ``benchmarks/results/forecast_real.json`` (with gates, via ``harness.results.finish``), CSV tables and
small PNG charts.
"""

from __future__ import annotations

import argparse
import importlib.util
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

from harness.results import finish  # noqa: E402

from features.series import Panel, panel_from_long  # noqa: E402
from training.backtest import attach_actuals, score  # noqa: E402
from training.backtest_job import run_backtest  # noqa: E402
from training.csv_series import csv_panel, read_load_csv  # noqa: E402
from training.forecast_tenant import evaluate_freq, tenant_panel  # noqa: E402
from training.plots.forecast import plot_backtest, plot_error_by_horizon  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results"
logger = logging.getLogger("forecast_real")
PJM_CSV = DATA / "pjm_hourly" / "PJME_hourly.csv"
#: the bench extra of pyproject.toml, without its pandas<3 pin (mlforecast runs on the pandas 3 we use)
MLFORECAST_INSTALL = "pip install --no-deps mlforecast coreforecast utilsforecast"


def mlforecast_baseline(panel: Panel, origins: np.ndarray, *, horizon: int, refit_days: int) -> pd.DataFrame:
    """Nixtla mlforecast with LightGBM out of the box on the same issues as the engine (forecast frame + ``y``).

    Configuration a user would write from mlforecast's quick start for hourly load: default
    ``LGBMRegressor`` (seeded), ``lags=[1, 24, 48, 168]``, ``date_features=["hour", "dayofweek", "month"]``,
    recursive multi-step. Refitted on all data strictly before the issue, every `refit_days` days like the
    engine; each issue forecasts from the 500 hours before it. Gaps are interpolated for its input only.
    """
    import lightgbm as lgb
    from mlforecast import MLForecast

    y = pd.Series(panel.y[0]).interpolate(limit_direction="both").to_numpy()
    df = pd.DataFrame({"unique_id": "s", "ds": panel.index, "y": y})
    parts = []
    for i in range(0, len(origins), refit_days):
        block = origins[i : i + refit_days]
        mlf = MLForecast(
            models={"lgbm": lgb.LGBMRegressor(random_state=0, verbosity=-1)},
            freq="h",
            lags=[1, 24, 48, 168],
            date_features=["hour", "dayofweek", "month"],
        ).fit(df.iloc[: block[0] + 1])
        recent = pd.concat([df.iloc[o - 499 : o + 1].assign(unique_id=str(o)) for o in block])
        p = mlf.predict(horizon, new_df=recent)
        o = p["unique_id"].astype(int).to_numpy()
        parts.append(
            pd.DataFrame(
                {"series_id": panel.ids[0], "origin": panel.index[o], "timestamp": p["ds"].to_numpy(),
                 "horizon": panel.index.get_indexer(p["ds"]) - o, "p10": np.nan, "p50": p["lgbm"].to_numpy(),
                 "p90": np.nan}
            )
        )  # fmt: skip
    return attach_actuals(pd.concat(parts, ignore_index=True).assign(model="mlforecast"), panel)


def bench_pjm(results: dict, every: int = 1) -> None:
    t0 = time.perf_counter()
    panel = csv_panel(read_load_csv(PJM_CSV, "H"), "H")
    fc, summary = run_backtest(panel, "H", horizon=24, days=365, country="US", every=every)
    seconds = round(time.perf_counter() - t0, 1)
    origins = panel.index.get_indexer(pd.DatetimeIndex(fc.loc[fc["model"] == "lightgbm", "origin"].unique()))
    refit = max(summary["refit_every_days"] // every, 1)
    mlf = mlforecast_baseline(panel, np.sort(origins), horizon=24, refit_days=refit)
    fc = pd.concat([fc, mlf], ignore_index=True)
    by_h = score(fc, by=["model", "horizon"])
    table = score(fc, by=["model"])
    table.to_csv(OUT / "pjm_scores.csv", index=False)
    by_h.to_csv(OUT / "pjm_scores_by_horizon.csv", index=False)
    summary["baselines"]["mlforecast"] = {
        "mape": float(table.set_index("model").loc["mlforecast", "mape"]),
        "mae": float(table.set_index("model").loc["mlforecast", "mae"]),
        "config": "MLForecast(LGBMRegressor(), lags=[1, 24, 48, 168], date_features=[hour, dayofweek, month]), "
        "recursive, refitted like the engine",
    }
    results["pjm"] = {
        **summary,
        "naive_mape": summary["baselines"]["naive_1d"]["mape"],
        "weather": "none (the PJM file has no temperature)",
        "command": "meterwise backtest --input PJME_hourly.csv --freq H --horizon 24 --days 365 --country US",
        "seconds": seconds,
    }
    plot_backtest(fc, "input:series", OUT / "pjm_forecast_vs_actual.png", model="lightgbm", last=24 * 14)
    plot_error_by_horizon(by_h, OUT / "pjm_error_by_horizon.png", metric="mape")
    logger.info("pjm: %s", results["pjm"])


OPENSTEF_KNOWN = (
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


def _openstef_panel(path: Path) -> Panel:
    df = pd.read_csv(path, usecols=["index", "load", *OPENSTEF_KNOWN])
    ts = pd.to_datetime(df["index"], utc=True).dt.tz_localize(None)
    long = df.drop(columns="index").assign(timestamp=ts, series_id="input:series", level="input", key="series")
    long[list(OPENSTEF_KNOWN)] = long[list(OPENSTEF_KNOWN)].ffill().bfill()  # leading NaN rows only
    return panel_from_long(long, freq="Q", value="load", exog=OPENSTEF_KNOWN, attrs=("level", "key"))


def bench_openstef(results: dict, every: int = 1) -> None:
    t0 = time.perf_counter()
    out, frames = {}, []
    for path in sorted((DATA / "openstef_alliander").glob("get_model_input_pid_*.csv.gz")):
        node = path.name.removeprefix("get_model_input_pid_").removesuffix(".csv.gz")
        fc, summary = run_backtest(
            _openstef_panel(path), "Q", horizon=96, days=30, refit_days=15, known=OPENSTEF_KNOWN, every=every
        )
        frames.append(fc.assign(series_id=f"node:{node}"))
        naive = summary["baselines"]["naive_1d"]["mae"]
        out[node] = {
            "mae": summary["mae"],
            "naive_mae": naive,
            "naive_7d_mae": summary["baselines"]["naive_7d"]["mae"],
            "improvement": 1 - summary["mae"] / naive,
            "coverage_p10_p90": summary["coverage_p10_p90"],
            "mean_width_pct": summary["mean_width_pct"],
            "windows": summary["windows"],
        }
    fc = pd.concat(frames, ignore_index=True)
    score(fc, by=["series_id", "model"]).to_csv(OUT / "openstef_scores.csv", index=False)
    results["openstef"] = {
        **out,
        "weather": "issued forecasts (the files' weather columns, read at their valid time)",
        "weather_alignment": (
            "The files hold one weather-forecast value per 15-minute valid time, without its issue time "
            "(OpenSTEF's own day-ahead model inputs). Each issue at 00:00 UTC reads, for every target in the "
            "next 24 h, the value the file holds for that valid time, i.e. assumes that forecast was issued "
            "before 00:00 UTC; the same for the APX day-ahead price (published the day before) and the "
            "standard load profiles (a calendar table). Measured load enters only through lags at or before "
            "the issue time; no weather column is ever read at a time after its target."
        ),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    plot_backtest(fc, fc["series_id"].iloc[0], OUT / "openstef_forecast_vs_actual.png", model="lightgbm", last=96 * 7)
    logger.info("openstef: %s", results["openstef"])


def load_london() -> dict[str, pd.DataFrame]:
    """The London households as tenant tables: daily ``readings`` (full days only, from 2012), ``customers``
    (ACORN group as ``socio_group``) and ``weather`` (daily mean of the Dark Sky max and min temperature)."""
    base = DATA / "london_smart_meters"
    info = pd.read_csv(base / "informations_households.csv", usecols=["LCLid", "Acorn_grouped"])
    blocks = sorted((base / "daily_dataset").glob("block_*.csv.xz"))
    df = pd.concat(
        [pd.read_csv(p, usecols=["LCLid", "day", "energy_count", "energy_sum"]) for p in blocks], ignore_index=True
    )
    df = df[(df["energy_count"] == 48) & df["energy_sum"].notna()]
    readings = pd.DataFrame(
        {"customer_id": df["LCLid"].to_numpy(), "reading_date": pd.to_datetime(df["day"]), "kwh": df["energy_sum"]}
    )
    readings = readings[readings["reading_date"] >= "2012-01-01"].reset_index(drop=True)
    customers = info.rename(columns={"LCLid": "customer_id", "Acorn_grouped": "socio_group"})
    customers = customers[customers["customer_id"].isin(set(readings["customer_id"]))]
    weather = pd.read_csv(base / "weather_daily_darksky.csv", usecols=["time", "temperatureMax", "temperatureMin"])
    weather = pd.DataFrame(
        {
            "observed_at": pd.to_datetime(weather["time"]).dt.normalize(),
            "temperature_c": (weather["temperatureMax"] + weather["temperatureMin"]) / 2,
        }
    )
    return {"readings": readings, "customers": customers, "weather": weather}


#: London backtest: 28 days ahead, 52 weekly origins (the last 12 months), LightGBM refitted every 13 origins
LONDON_PROTOCOL = (28, 52, 7, 13)
LEVEL_FIGURES = ("mape", "mae", "naive_mae", "coverage_p10_p90", "mean_width_pct")


def bench_london(results: dict, every: int = 1) -> None:
    """The tenant job's own path on London: kWh sums per level, chosen method, reconciled, calibrated, held out.

    The households are a tenant whose hierarchy is total -> ACORN group (:func:`training.forecast_tenant.
    tenant_panel` with those levels: kWh summed, modelled per reporting meter, back to kWh with the meter
    count at the issue time). :func:`training.forecast_tenant.evaluate_freq` backtests LightGBM, ETS and the
    seasonal naive, chooses per level, reconciles and calibrates; the figures are those of the final
    P10/P50/P90 the API would have returned, on the later 26 origins (each calibrated on the residuals
    observed by its issue time). Temperature enters through the climatology known at each issue time.
    """
    t0 = time.perf_counter()
    tables = load_london()
    panel = tenant_panel(tables, "D", levels=("total", "socio_group"))
    sel, held_out = evaluate_freq(panel, "D", 0, None, None, protocol=LONDON_PROTOCOL)
    overall = score(held_out)
    naive = sel.candidates[sel.candidates["model"] == "seasonal_naive"]  # same held-out rows, kWh
    by_h = score(held_out.assign(model="served"), by=["model", "horizon"])
    by_series = score(held_out, by=["series_id"])
    sel.candidates.to_csv(OUT / "london_candidates.csv", index=False)
    sel.served.to_csv(OUT / "london_served.csv", index=False)
    by_series.to_csv(OUT / "london_scores_by_series.csv", index=False)
    by_h.to_csv(OUT / "london_scores_by_horizon.csv", index=False)
    served = sel.served.set_index("level")
    results["london"] = {
        "coverage_p10_p90": float(overall["coverage_p10_p90"].iloc[0]),
        "mean_width_pct": float(overall["width_rel"].iloc[0] * 100),
        "weather": "issued" if panel.issued is not None else "climatology",
        "mape": float(overall["mape"].iloc[0]),
        "mae_kwh": float(overall["mae"].iloc[0]),
        "naive_mape": float(np.average(naive["mape"], weights=naive["n"])),
        "naive_mae_kwh": float(np.average(naive["mae"], weights=naive["n"])),
        "scored": "served: chosen method per level, reconciled (kWh), conformal P10/P90, held-out origins",
        "reconciliation": sel.reconciliation,
        "methods": sel.picks,
        "fallbacks": sel.fallbacks,
        "levels": {lvl: {k: float(served.loc[lvl, k]) for k in LEVEL_FIGURES} for lvl in served.index},
        "candidates": {
            f"{r.model}.{r.level}": {"mase": r.mase, "mape": r.mape, "coverage_p10_p90": r.coverage_p10_p90}
            for r in sel.candidates.itertuples()
        },
        "per_series": {
            r.series_id: {"mape": r.mape, "coverage_p10_p90": r.coverage_p10_p90, "mean_width_pct": r.width_rel * 100}
            for r in by_series.itertuples()
        },
        "households": int(tables["readings"]["customer_id"].nunique()),
        "series": panel.ids,
        "n_origins": LONDON_PROTOCOL[1],
        "held_out_origins": int(held_out["origin"].nunique()),
        "first_held_out_issue": str(held_out["origin"].min()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    plot_backtest(held_out.assign(model="served"), "total:all", OUT / "london_forecast_vs_actual.png",
                  model="served", last=None)  # fmt: skip
    plot_error_by_horizon(by_h, OUT / "london_error_by_horizon.png", metric="mape")
    logger.info("london: %s", {k: v for k, v in results["london"].items() if k not in {"per_series", "candidates"}})


def gates(results: dict) -> dict[str, bool]:
    """The issue's targets, from this run's figures (a section not run is not gated)."""
    out = {}
    if "pjm" in results:
        out["pjm_mape_below_3.5"] = results["pjm"]["mape"] < 3.5
        out["pjm_beats_both_naives_and_mlforecast"] = all(
            results["pjm"]["mape"] < b["mape"] for b in results["pjm"]["baselines"].values()
        )
    for node, r in results.get("openstef", {}).items():
        if isinstance(r, dict):
            out[f"openstef_{node}_20pct_below_naive"] = r["mae"] <= 0.8 * r["naive_mae"]
    if "london" in results:
        out["london_coverage_0.75_0.85"] = 0.75 <= results["london"]["coverage_p10_p90"] <= 0.85
        out["london_no_actual_weather"] = results["london"]["weather"] in {"climatology", "issued"}
        levels = results["london"]["levels"].values()
        out["london_every_level_coverage_0.75_0.85"] = all(0.75 <= r["coverage_p10_p90"] <= 0.85 for r in levels)
        out["london_served_never_loses_to_naive"] = all(r["mae"] <= r["naive_mae"] for r in levels)
    return out


SECTIONS = {"pjm": bench_pjm, "openstef": bench_openstef, "london": bench_london}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--every", type=int, default=1, help="keep every k-th PJM/OpenSTEF issue (a slice)")
    args = parser.parse_args()
    only = args.only.split(",")
    # a slice never overwrites the full run's figures
    name = "forecast_real" if sorted(only) == sorted(SECTIONS) and args.every == 1 else "forecast_real_slice"
    global OUT
    OUT = OUT if name == "forecast_real" else ROOT / "benchmarks" / "out" / name  # tables and charts too
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "pjm" in only and importlib.util.find_spec("mlforecast") is None:  # before minutes of fitting
        raise SystemExit(f"forecast_real: the PJM baseline needs mlforecast; install it with: {MLFORECAST_INSTALL}")
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {}  # live figures only: a section not run this time is not carried over
    for section in only:
        SECTIONS[section](results, every=args.every)
    finish(name, results, gates(results))


if __name__ == "__main__":
    main()
