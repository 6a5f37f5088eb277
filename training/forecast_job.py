"""Forecast jobs (all I/O here): ``meterwise train forecast``, ``meterwise forecast`` and promotion.

``train_forecast`` loads the tenant, aggregates readings to total / region / category / socio_group /
customer series (daily and monthly from ``readings``, hourly from ``interval_readings``), backtests every
candidate and serves, per level and frequency, the one whose reconciled, calibrated forecasts win
(:mod:`training.forecast_tenant`, :mod:`training.forecast_select`), aligns H/D/M totals
(:mod:`training.temporal`), stores the served backtest figures with the bundle, over the whole backtest
(``meta["served"]``) and per calendar month of the targets (``meta["served_by_month"]``: the reference of
``meterwise monitor``'s error and coverage checks), logs every candidate's scores and the choice to MLflow,
registers ``meterwise-forecast`` and promotes it through :func:`training.promotion.decide`, the champion
re-scored on the challenger's backtest windows (:func:`promote_version` does the same for a registered version).
A partitioned tenant is aggregated on the Dask cluster, its hierarchy down to region x category x
socio_group cells (:mod:`training.forecast_parts`).

``forecast`` answers a planner's question from the champion, re-issued at the last observed period of the
tenant's current data without retraining (:func:`refresh_bundle`), or trains the one engine on a CSV it has
never seen. Generic CSV format (``--input my.csv``, see :mod:`training.csv_series`)::

    timestamp,load[,temperature]
    2024-01-01 00:00,123.4,5.1

``temperature`` (°C) is optional and enters through its climatology known at the issue time. Outputs:
``<out>/<name>.csv``, ``.parquet``, ``.png`` with ``timestamp, p10, p50, p90`` and ``.json`` with the issue
time, data cut-off, model version and method.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.io import write_table
from features.series import FREQS
from features.settings import DataSettings
from training.backtest import score
from training.csv_series import read_load_csv
from training.forecast_bundle import ForecastBundle
from training.forecast_issue import csv_bundle, refresh_bundle
from training.forecast_parts import tenant_series
from training.forecast_tenant import HORIZONS, evaluate_freq, history_frame, issue_freq
from training.lifecycle import apply_decision, judge
from training.monitoring_outcomes import backtest_by_month
from training.promotion import Decision, Scored
from training.settings import TrainingSettings
from training.temporal import align

logger = logging.getLogger(__name__)
KIND = "forecast"
FEATURE_VERSION = "series-v3"
CANDIDATE_COLUMNS = ["freq", "model", "level", "mase", "mape", "mae", "coverage_p10_p90", "mean_width_pct"]


def train_forecast(
    data: DataSettings,
    training: TrainingSettings,
    *,
    freqs: tuple[str, ...] = ("D", "M", "H"),
    force: bool = False,
    params: dict | None = None,
    country: str | None = None,
) -> dict[str, Any]:
    """Backtest, choose, fit, reconcile, log to MLflow, register and maybe promote; returns a summary.

    `params` override LoadForecaster settings (e.g. ``{"n_estimators": 50}`` for a quick run);
    `country` adds its holidays (none unless asked).
    """
    from training.plots.forecast import plot_backtest, plot_error_by_horizon
    from training.registry import open_registry

    found = tenant_series(data, freqs)
    attrs = found.attrs
    plots = Path(tempfile.mkdtemp(prefix="forecast_plots_"))
    issued, histories, candidates, served, by_month, engines = [], [], [], [], [], {}
    meta: dict[str, Any] = {"issued_at": {}, "data_cutoff": {}, "methods": {}, "coverage": {}, "weather": {}}
    for freq in freqs:
        panel = found.panels.get(freq)
        if panel is None:
            logger.warning("no data for freq %s; skipped", freq)
            continue
        try:
            sel, held_out = evaluate_freq(panel, freq, training.seed, params, attrs, country)
        except ValueError as err:  # too little history for this freq: skip it, keep the others
            logger.warning("freq %s skipped: %s", freq, err)
            continue
        candidates.append(sel.candidates.assign(freq=freq))
        served.append(sel.served.assign(freq=freq))
        by_month.append(backtest_by_month(held_out))  # the monitor's same-calendar-month reference
        total = str(panel.series.loc[panel.series["level"] == "total", "series_id"].iloc[0])
        plot_backtest(held_out.assign(model="served"), total, plots / f"backtest_total_{freq}.png")
        by_h = score(held_out.assign(model="served"), by=["model", "horizon"])
        plot_error_by_horizon(by_h, plots / f"error_by_horizon_{freq}.png", metric="mape")
        served_fc, model = issue_freq(panel, freq, HORIZONS[freq], sel, training.seed, params, attrs, country)
        issued.append(served_fc)
        engines[freq] = {"model": model, "selection": sel, "country": country}
        last = panel.index[panel.last_observed()]
        meta["data_cutoff"][freq] = str(last + pd.tseries.frequencies.to_offset(FREQS[freq]))
        meta["issued_at"][freq] = meta["data_cutoff"][freq]
        meta["methods"][freq] = {
            "picks": sel.picks,
            "coherent": sel.coherent,
            "reconciliation": sel.reconciliation,
            "fallbacks": sel.fallbacks,
        }
        groups = panel.series[panel.series["level"] != "customer"]
        meta["coverage"][freq] = {  # customers each aggregate covers (H: those with interval meters)
            lvl: dict(zip(g["key"].astype(str), g["customers"].astype(int), strict=True))
            for lvl, g in groups.groupby("level")
        }
        observed = "climatology" if "temperature_c" in panel.exog else "none"
        meta["weather"][freq] = "issued" if panel.issued is not None else observed
        histories.append(history_frame(panel, freq))
    if not issued:
        raise ValueError(f"{data.data_dir}: no readings for any of freqs {freqs}")
    candidates_df, served_df = pd.concat(candidates, ignore_index=True), pd.concat(served, ignore_index=True)
    by_month_df = pd.concat(by_month, ignore_index=True)
    main_freq = "D" if "D" in set(served_df["freq"]) else str(served_df["freq"].iloc[0])
    main = served_df[(served_df["freq"] == main_freq) & (served_df["level"] != "customer")]
    score_value = float((main["mae"] / main["naive_mae"]).mean())  # relative MAE vs seasonal naive, served
    meta.update(
        {
            "data_hash": found.data_hash,
            "partitions": found.partitions,
            "score_metric": "relmae_vs_naive",
            "score": score_value,
            "score_freq": main_freq,
            "feature_version": FEATURE_VERSION,
            "config": {"params": params or {}, "country": country},
            "candidates": candidates_df[CANDIDATE_COLUMNS].to_dict("records"),
            "served": served_df.to_dict("records"),
            "served_by_month": by_month_df.to_dict("records"),
        }
    )
    history = pd.concat(histories, ignore_index=True)
    issued_df = align(pd.concat(issued, ignore_index=True), history)  # H, D and M totals agree
    bundle = ForecastBundle(issued_df, history, meta)
    bundle.engines_ = engines  # fitted models and choices: re-issue from newer data without retraining
    example = pd.DataFrame({"level": ["total"], "key": ["all"], "horizon": [3], "freq": [main_freq]})
    registry = open_registry(training, data.tenant)
    with registry.training_run(
        KIND,
        tags={"tenant": data.tenant, "as_of": str(meta["data_cutoff"]), "feature_version": FEATURE_VERSION},
        params={"freqs": ",".join(freqs), "country": str(country),
                **{f"reconciliation.{f}": v["reconciliation"] for f, v in meta["methods"].items()},
                "horizons": str({f: HORIZONS[f] for f in freqs}),
                **{f"method.{f}.{lvl}": m for f, v in meta["methods"].items() for lvl, m in v["picks"].items()}},
    ) as run_id:  # fmt: skip
        flat = {
            f"{r.freq}.{r.model}.{r.level}.{m}": getattr(r, m)
            for r in candidates_df.itertuples()
            for m in CANDIDATE_COLUMNS[3:]
            if pd.notna(getattr(r, m))
        }
        flat.update({
            f"{r.freq}.served.{r.level}.{m}": getattr(r, m)
            for r in served_df.itertuples()
            for m in ("mape", "mae", "coverage_p10_p90", "mean_width_pct")
            if pd.notna(getattr(r, m))
        })  # fmt: skip
        registry.log_metrics({**{k.replace(":", "_"): float(v) for k, v in flat.items()}, "score": score_value})
        registry.log_table(candidates_df, "backtest_candidates.csv")
        registry.log_table(served_df, "backtest_served.csv")
        registry.log_table(by_month_df, "backtest_served_by_month.csv")
        registry.log_artifacts(plots, "plots")
        uri = registry.log_model(KIND, bundle, example)
        version = registry.register(KIND, uri)
        decision = _decide(registry, training, data, version, bundle, force=force)
    return {
        "run_id": run_id,
        "version": version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "score": score_value,
        "served": served_df,
        "levels": bundle.levels_,
        "max_horizon": bundle.max_horizon_,
        "methods": meta["methods"],
    }


def _windows_id(data_hash: str, feature_version: str = FEATURE_VERSION) -> str:
    """Identifies the held-out windows: the data and the backtest protocol (feature version)."""
    return f"{data_hash}|{feature_version}"


def _scored(bundle: ForecastBundle, version: str | None) -> Scored:
    meta = bundle.meta_
    return Scored(
        version,
        str(meta.get("score_metric", "relmae_vs_naive")),
        float(meta.get("score", np.inf)),
        False,
        _windows_id(str(meta.get("data_hash", "")), str(meta.get("feature_version", "unknown"))),
        pd.Timestamp(min(meta.get("data_cutoff", {"": "1970-01-01"}).values())),
    )


def rescore(bundle: ForecastBundle, data: DataSettings, training: TrainingSettings) -> Scored:
    """Score a bundle's configuration on the current data's backtest windows (refitted before each window).

    A bundle whose score came from the same data and protocol keeps it; otherwise its configuration
    (``meta['config']``: params, holidays) is backtested again on the current tenant data.
    """
    config = bundle.meta_.get("config", {})
    freq = str(bundle.meta_.get("score_freq", "D"))
    found = tenant_series(data, (freq,))
    mine = _scored(bundle, None)
    if mine.data_id == _windows_id(found.data_hash) and np.isfinite(mine.value):
        return mine
    sel, _ = evaluate_freq(found.panels[freq], freq, training.seed, config.get("params"), found.attrs,
                           config.get("country"))  # fmt: skip
    main = sel.served[sel.served["level"] != "customer"]
    value = float((main["mae"] / main["naive_mae"]).mean())
    return Scored(None, "relmae_vs_naive", value, False, _windows_id(found.data_hash), mine.as_of)


def _decide(registry, training, data, version: str, bundle: ForecastBundle, *, force: bool) -> Decision:
    """The one promotion rule: the challenger against the champion re-scored on the challenger's windows."""
    challenger = _scored(bundle, version)
    champion: Scored | None = None
    current = registry.champion_version(KIND)
    if current is not None and not force:
        old, _ = registry.load_version(KIND, current)
        champion = Scored(**{**rescore(old, data, training).__dict__, "version": current})
    baseline = Scored("seasonal_naive", challenger.metric, 1.0, False, challenger.data_id)
    decision = judge(challenger, champion, training=training, has_champion=current is not None, baseline=baseline,
                     force=force)  # fmt: skip
    apply_decision(registry, KIND, decision, training=training, bundle=bundle, meta=bundle.meta_)
    logger.info("forecast v%s: %s", version, decision.reason)
    return decision


def promote_version(data: DataSettings, training: TrainingSettings, version: str, *, force: bool = False) -> Decision:
    """Promote a registered forecast version if it beats the champion re-scored on the same windows."""
    from training.registry import open_registry

    registry = open_registry(training, data.tenant)
    bundle, version = registry.load_version(KIND, str(version))
    challenger_now = rescore(bundle, data, training)
    bundle.meta_ = {**bundle.meta_, "score": challenger_now.value, "data_hash": challenger_now.data_id.split("|")[0]}
    return _decide(registry, training, data, version, bundle, force=force)


def load_bundle(training: TrainingSettings, tenant: str = "demo") -> tuple[ForecastBundle, str]:
    """The tenant's champion from the registry, else its exported ``models/<tenant>/forecast/model.joblib``."""
    from training.registry import open_registry

    return open_registry(training, tenant).load_or_exported(KIND)


def forecast(
    level: str,
    key: str,
    horizon: int,
    freq: str,
    *,
    out_dir: Path,
    training: TrainingSettings,
    input_csv: Path | None = None,
    fmt: str = "both",
    tenant: str = "demo",
    country: str | None = None,
    data: DataSettings | None = None,
) -> dict[str, Path]:
    """Write one forecast as CSV and/or Parquet plus a PNG chart; returns the written paths."""
    from training.plots.forecast import plot_forecast

    if input_csv is not None:
        bundle, version = csv_bundle(read_load_csv(Path(input_csv), freq), freq, horizon, training.seed, country), "csv"
        level, key = "input", "series"
    else:
        data = data or DataSettings(tenant=tenant)
        bundle, version = load_bundle(training, data.tenant)
        try:
            bundle = refresh_bundle(bundle, data)
        except (OSError, ValueError, KeyError) as err:  # no readable tenant data: the forecasts stored at training
            logger.warning("forecasts not re-issued from current data (%s): using those issued at training", err)
    fc = bundle.forecast(level, key, horizon, freq)
    name = f"forecast_{level}_{key}_{freq}{horizon}".replace("/", "_").replace(":", "_")
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    if fmt in {"csv", "both"}:
        paths["csv"] = write_table(fc, out_dir / f"{name}.csv")
    if fmt in {"parquet", "both"}:
        paths["parquet"] = write_table(fc, out_dir / f"{name}.parquet")
    info = {
        "level": level,
        "key": key,
        "freq": freq,
        "model_version": version,
        **bundle.issue_info(freq),
        "method": bundle.meta_.get("methods", {}).get(freq, {}).get("picks", {}).get(level),
        "customers": bundle.customers(level, key, freq),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths["json"] = out_dir / f"{name}.json"
    paths["json"].write_text(json.dumps(info, indent=2))
    hist = bundle.history(level, key, freq, periods=max(3 * horizon, 14))
    paths["png"] = plot_forecast(
        hist, fc, out_dir / f"{name}.png", title=f"{level} {key}: {horizon} {freq} ahead (v{version})"
    )
    logger.info("forecast %s/%s %s x%d written to %s", level, key, freq, horizon, out_dir)
    return paths
