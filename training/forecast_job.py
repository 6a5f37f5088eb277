"""Forecast jobs (all I/O here): ``meterwise train forecast`` and ``meterwise forecast``.

``train_forecast`` loads the tenant, aggregates readings to total / region / category / socio_group /
customer series (daily and monthly from ``readings``, hourly from ``interval_readings``), runs a
rolling-origin backtest of LoadForecaster against seasonal naive (and ETS on the daily total), fits on all
data, issues forecasts at the end of the data, reconciles them (MinT-shrink; see
:mod:`training.reconcile`), logs everything to MLflow, registers ``meterwise-forecast`` and moves the
``champion`` alias when the new version's daily MASE beats the champion's on the same data.

``forecast`` answers a planner's question from the champion bundle, or trains on a CSV it has never
seen. Generic CSV format (``--input my.csv``)::

    timestamp,load[,temperature]
    2024-01-01 00:00,123.4,5.1

``timestamp`` is parsed by pandas (a UTC offset is converted to UTC and dropped); ``load`` is any
additive quantity (kWh, MWh; values are summed to the requested freq, temperature averaged);
``temperature`` (°C) is optional and continued into the future by its day-of-year climatology.
Outputs: ``<out>/<name>.csv``, ``.parquet`` and ``.png`` with ``timestamp, p10, p50, p90``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from features.cli import DataDir, Tenant, tenant_settings
from features.io import load_tenant, write_table
from features.series import Panel, aggregate_series, panel_from_long
from features.settings import DataSettings
from training.backtest import horizon_bucket, naive_scale, rolling_origin, score
from training.baselines import ETSBaseline, SeasonalNaive
from training.forecast_bundle import ForecastBundle
from training.forecasting import LoadForecaster
from training.reconcile import reconcile, summing_matrix
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
KIND = "forecast"
HORIZONS = {"H": 48, "D": 90, "M": 12}
SEASONS = {"H": 24, "D": 7, "M": 12}
BACKTEST = {  # freq -> (backtest horizon, number of origins, spacing in periods)
    "H": (48, 6, 24),
    "D": (28, 6, 14),
    "M": (3, 3, 1),
}
FEATURE_VERSION = "series-v1"


def tenant_panel(tables: dict[str, pd.DataFrame], freq: str) -> Panel | None:
    """Panel of kWh-per-meter series for one freq; None when the tenant has no data for it."""
    source = tables.get("interval_readings") if freq == "H" else tables.get("readings")
    if source is None or source.empty:
        return None
    agg = aggregate_series(source, tables.get("customers"), freq=freq, weather=tables.get("weather"))
    last = agg.groupby("series_id")["timestamp"].transform("max")
    meters = agg[agg["timestamp"] == last].set_index("series_id")["n_meters"]
    exog = ("temperature_c",) if "temperature_c" in agg else ()
    panel = panel_from_long(agg, freq=freq, exog=exog, attrs=("level", "key"))
    # keep series still reporting at the end (customers who left have no future)
    end = agg["timestamp"].max()
    active = panel.series["series_id"].map(agg.groupby("series_id")["timestamp"].max()).eq(end).to_numpy()
    panel = panel.subset(np.flatnonzero(active))
    panel.series["n_meters"] = panel.series["series_id"].map(meters).to_numpy()
    return panel


def _kwh(frame: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """Per-meter forecasts -> kWh with the meter count at the end of the data."""
    meters = frame["series_id"].map(panel.series.set_index("series_id")["n_meters"])
    return frame.assign(
        **{c: frame[c] * meters for c in ("p10", "p50", "p90") if c in frame},
        **({"y": frame["y"] * meters} if "y" in frame else {}),
    )


def _forecaster(freq: str, horizon: int, seed: int, params: dict | None = None, **fixed) -> LoadForecaster:
    """LoadForecaster with meterwise defaults; `params` (e.g. ``n_estimators``) override them."""
    kw = {
        "horizon": horizon,
        "min_history": min(28, SEASONS[freq] + 1),
        "random_state": seed,
        "n_estimators": 200,
        "max_rows": 100_000,
    }
    return LoadForecaster(**{**kw, **fixed, **(params or {})})


def backtest_panel(panel: Panel, freq: str, seed: int, params: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rolling-origin backtest; returns (forecasts with actuals, scores per model/level/horizon bucket)."""
    horizon, n_origins, spacing = BACKTEST[freq]
    last = panel.last_observed()
    origins = np.arange(last - horizon - spacing * (n_origins - 1), last - horizon + 1, spacing)
    origins = origins[origins >= min(28, SEASONS[freq] + 1) + 2]
    if len(origins) == 0:
        raise ValueError(f"{last + 1} {freq} periods are too few for a {horizon}-step backtest")
    models = {
        "lightgbm": lambda: _forecaster(freq, horizon, seed, params),
        "seasonal_naive": lambda: SeasonalNaive(SEASONS[freq], error_window=max(8 * SEASONS[freq], 60)),
    }
    if freq == "D":  # ETS on the total only (one statsmodels fit per series and origin)
        total = np.flatnonzero(panel.series["level"].to_numpy() == "total")
        models["ets"] = lambda: ETSBaseline(7, max_history=365, rows=total)
    fc = rolling_origin(panel, origins, horizon=horizon, models=models, refit_every=len(origins))
    fc = fc.merge(panel.series[["series_id", "level"]], on="series_id")
    edges = tuple(sorted({1, min(7, horizon), horizon}))
    fc["horizon_bucket"] = horizon_bucket(fc["horizon"], edges)
    scale = naive_scale(panel, int(origins[0]), SEASONS[freq])
    scores = score(fc, by=["model", "level", "horizon_bucket"], scale=scale).assign(freq=freq)
    return fc, scores


def fit_and_issue(
    panel: Panel,
    freq: str,
    horizon: int,
    seed: int,
    method: str = "mint_shrink",
    customer_attrs: pd.DataFrame | None = None,
    params: dict | None = None,
) -> tuple[pd.DataFrame, str]:
    """Fit on all data, forecast `horizon` periods from the last one, reconcile in kWh.

    `customer_attrs` (index customer id, one column per grouping level) defines the hierarchy; MinT
    uses the calibration residuals at horizon 1 (falls back to ``wls_struct`` with fewer than 10).
    """
    model = _forecaster(freq, horizon, seed, params).fit(panel)
    last = panel.last_observed()
    future = panel.extend(last + horizon + 1 - len(panel.index))
    base = _kwh(model.predict(future, last), panel).merge(panel.series[["series_id", "level", "key"]], on="series_id")
    bottom = panel.series[panel.series["level"] == "customer"]
    if bottom.empty or customer_attrs is None or method == "none":
        return base, "none"
    attrs = customer_attrs.reindex(bottom["key"].to_numpy())
    S, ids = summing_matrix(attrs.rename_axis("key").reset_index(), levels=tuple(attrs.columns), key_col="key")
    keep = [i for i in ids if i in set(base["series_id"])]
    if len(keep) < len(ids):  # a group with no series of its own (never happens with aggregate_series)
        S = S[[ids.index(i) for i in keep]]
        ids = keep
    cal = model.calibration_
    h1 = cal[cal["horizon"] == 1]
    meters = panel.series["n_meters"].to_numpy()[h1["row"]]
    resid = pd.DataFrame(
        {
            "sid": panel.series["series_id"].to_numpy()[h1["row"]],
            "o": h1["origin"],
            "r": h1["resid"] * h1["scale"] * meters,
        }
    )
    R = resid.pivot_table(index="o", columns="sid", values="r").reindex(columns=ids).to_numpy()
    used = "wls_struct" if method == "mint_shrink" and len(R) < 10 else method
    rec = reconcile(base, S, ids, method=used, residuals=R)
    others = base[~base["series_id"].isin(ids)]
    return pd.concat([rec, others], ignore_index=True), used


def train_forecast(
    data: DataSettings,
    training: TrainingSettings,
    *,
    freqs: tuple[str, ...] = ("D", "M", "H"),
    method: str = "mint_shrink",
    force: bool = False,
    params: dict | None = None,
) -> dict[str, Any]:
    """Backtest, fit, reconcile, log to MLflow, register and maybe promote; returns a summary.

    `params` override LoadForecaster settings (e.g. ``{"n_estimators": 50}`` for a quick run).
    """
    from training.plots.forecast import plot_backtest, plot_error_by_horizon
    from training.registry import open_registry

    wanted = ("customers", "readings", "interval_readings", "weather")
    tables, report = load_tenant(data.data_dir, tables=wanted)
    customers = tables["customers"].set_index("customer_id")
    attrs = customers[[c for c in ("region", "category", "socio_group") if c in customers]]
    attrs = attrs.astype(str)
    plots = Path(tempfile.mkdtemp(prefix="forecast_plots_"))
    issued, histories, all_scores, meta = [], [], [], {"as_of": {}, "reconciliation": {}}
    for freq in freqs:
        panel = tenant_panel(tables, freq)
        if panel is None:
            logger.warning("no data for freq %s; skipped", freq)
            continue
        try:
            fc, scores = backtest_panel(panel, freq, training.seed, params)
        except ValueError as err:  # too little history for this freq: skip it, keep the others
            logger.warning("freq %s skipped: %s", freq, err)
            continue
        all_scores.append(scores)
        plot_backtest(_kwh(fc, panel), "total:all", plots / f"backtest_total_{freq}.png")
        plot_error_by_horizon(score(fc, by=["model", "horizon"]), plots / f"error_by_horizon_{freq}.png", metric="mape")
        out, used = fit_and_issue(panel, freq, HORIZONS[freq], training.seed, method, attrs, params)
        issued.append(out.assign(freq=freq))
        meta["as_of"][freq] = str(panel.index[panel.last_observed()])
        meta["reconciliation"][freq] = used
        tail = panel.y[:, max(0, panel.last_observed() - 3 * HORIZONS[freq]) : panel.last_observed() + 1]
        stamps = panel.index[max(0, panel.last_observed() - 3 * HORIZONS[freq]) : panel.last_observed() + 1]
        hist = pd.DataFrame(tail * panel.series["n_meters"].to_numpy()[:, None], columns=stamps)
        hist = (
            hist.assign(level=panel.series["level"], key=panel.series["key"])
            .melt(id_vars=["level", "key"], var_name="timestamp", value_name="y")
            .assign(freq=freq)
        )
        histories.append(hist)
    if not issued:
        raise ValueError(f"{data.data_dir}: no readings for any of freqs {freqs}")
    scores = pd.concat(all_scores, ignore_index=True)
    main_freq = "D" if "D" in set(scores["freq"]) else str(scores["freq"].iloc[0])
    daily = scores[(scores["model"] == "lightgbm") & (scores["level"] != "customer") & (scores["freq"] == main_freq)]
    mase = float(daily["mase"].mean())
    meta.update(
        {
            "data_hash": "-".join(report.hashes.get(t, "") for t in wanted),
            "backtest_mase": mase,
            "score_freq": main_freq,
            "feature_version": FEATURE_VERSION,
        }
    )
    bundle = ForecastBundle(pd.concat(issued, ignore_index=True), pd.concat(histories, ignore_index=True), meta)
    example = pd.DataFrame({"level": ["total"], "key": ["all"], "horizon": [3], "freq": [main_freq]})
    registry = open_registry(training, data.tenant)
    with registry.training_run(
        KIND,
        tags={"tenant": data.tenant, "as_of": str(meta["as_of"]), "feature_version": FEATURE_VERSION},
        params={"freqs": ",".join(freqs), "reconciliation": method, "horizons": str({f: HORIZONS[f] for f in freqs})},
    ) as run_id:
        flat = {
            f"{r.freq}.{r.model}.{r.level}.h{r.horizon_bucket}.{m}": getattr(r, m)
            for r in scores.itertuples()
            for m in ("mape", "smape", "mase", "pinball", "coverage_p10_p90")
            if pd.notna(getattr(r, m))
        }
        registry.log_metrics({**{k.replace(":", "_"): v for k, v in flat.items()}, "backtest_mase": mase})
        registry.log_table(scores, "backtest_scores.csv")
        registry.log_artifacts(plots, "plots")
        uri = registry.log_model(KIND, bundle, example)
        version = registry.register(KIND, uri)
        champion = _champion_score(registry, meta["data_hash"])
        promoted = registry.promote_if_better(
            KIND, version, -mase, champion, margin=training.promote_margin, force=force
        )
        if promoted:
            registry.export_bundle(KIND, bundle, version, training.models_dir, meta)
    return {
        "run_id": run_id,
        "version": version,
        "promoted": promoted,
        "backtest_mase": mase,
        "levels": bundle.levels_,
        "max_horizon": bundle.max_horizon_,
        "reconciliation": meta["reconciliation"],
    }


def _champion_score(registry, data_hash: str) -> float | None:
    """The champion's score when it was backtested on the same data (same period); else None."""
    if registry.champion_version(KIND) is None:
        return None
    champion, _ = registry.load_version(KIND)
    meta = getattr(champion, "meta_", {})
    return -float(meta["backtest_mase"]) if meta.get("data_hash") == data_hash else None


def load_bundle(training: TrainingSettings, tenant: str = "demo") -> tuple[ForecastBundle, str]:
    """The tenant's champion from the registry, else its exported ``models/<tenant>/forecast/model.joblib``."""
    from training.registry import open_registry

    return open_registry(training, tenant).load_or_exported(KIND)


def read_load_csv(path: Path, freq: str) -> pd.DataFrame:
    """Read the generic CSV (timestamp, load[, temperature]) and aggregate it to `freq` periods."""
    df = pd.read_csv(path)
    missing = {"timestamp", "load"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected timestamp,load[,temperature]")
    ts = pd.to_datetime(df["timestamp"], utc=df["timestamp"].astype(str).str.contains(r"[+-]\d\d:?\d\d$|Z$").any())
    ts = pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None) if pd.DatetimeIndex(ts).tz is not None else ts
    period = pd.DatetimeIndex(ts).to_period({"H": "h", "D": "D", "M": "M"}[freq]).to_timestamp()
    out = pd.DataFrame({"timestamp": period, "load": pd.to_numeric(df["load"], errors="coerce")})
    agg = {"load": ("load", "sum")}
    if "temperature" in df:
        out["temperature_c"] = pd.to_numeric(df["temperature"], errors="coerce")
        agg["temperature_c"] = ("temperature_c", "mean")
    return out.groupby("timestamp", as_index=False).agg(**agg)


def csv_bundle(df: pd.DataFrame, freq: str, horizon: int, seed: int = 0) -> ForecastBundle:
    """Train a LoadForecaster on one CSV series and issue `horizon` periods (level ``input``, key ``series``)."""
    long = df.assign(series_id="input:series", level="input", key="series")
    exog = ("temperature_c",) if "temperature_c" in df else ()
    panel = panel_from_long(long, freq=freq, value="load", exog=exog, attrs=("level", "key"))
    n = panel.last_observed() + 1
    if n < 3 * SEASONS[freq] + horizon:
        raise ValueError(
            f"{n} {freq} periods of history; need at least {3 * SEASONS[freq] + horizon} for horizon {horizon}"
        )
    model = _forecaster(freq, horizon, seed, {"max_rows": 60_000, "n_estimators": 200, "group_col": None}).fit(panel)
    last = panel.last_observed()
    out = model.predict(panel.extend(last + horizon + 1 - len(panel.index)), last).assign(
        level="input", key="series", freq=freq
    )
    hist = pd.DataFrame({"timestamp": panel.index[: last + 1], "y": panel.y[0, : last + 1]}).tail(4 * horizon)
    return ForecastBundle(
        out,
        hist.assign(level="input", key="series", freq=freq),
        {"source": "csv", "as_of": {freq: str(panel.index[last])}},
    )


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
) -> dict[str, Path]:
    """Write one forecast as CSV and/or Parquet plus a PNG chart; returns the written paths."""
    from training.plots.forecast import plot_forecast

    if input_csv is not None:
        bundle, version = csv_bundle(read_load_csv(Path(input_csv), freq), freq, horizon, training.seed), "csv"
        level, key = "input", "series"
    else:
        bundle, version = load_bundle(training, tenant)
    fc = bundle.forecast(level, key, horizon, freq)
    name = f"forecast_{level}_{key}_{freq}{horizon}".replace("/", "_").replace(":", "_")
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    if fmt in {"csv", "both"}:
        paths["csv"] = write_table(fc, out_dir / f"{name}.csv")
    if fmt in {"parquet", "both"}:
        paths["parquet"] = write_table(fc, out_dir / f"{name}.parquet")
    hist = bundle.history(level, key, freq, periods=max(3 * horizon, 14))
    paths["png"] = plot_forecast(
        hist, fc, out_dir / f"{name}.png", title=f"{level} {key}: {horizon} {freq} ahead (v{version})"
    )
    logger.info("forecast %s/%s %s x%d written to %s", level, key, freq, horizon, out_dir)
    return paths


# ---------------------------------------------------------------- typer commands (mounted by the lead)
def train_forecast_cmd(
    freqs: Annotated[str, typer.Option(help="comma-separated: H (interval data), D, M")] = "D,M,H",
    method: Annotated[
        str, typer.Option(help="reconciliation: mint_shrink, wls_struct, ols, bottom_up")
    ] = "mint_shrink",
    force: Annotated[bool, typer.Option(help="promote to champion even if not better")] = False,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """Backtest, train, reconcile and register load forecasts (meterwise-<tenant>-forecast)."""
    summary = train_forecast(
        tenant_settings(tenant, data_dir),
        TrainingSettings(),
        freqs=tuple(f.strip() for f in freqs.split(",") if f.strip()),
        method=method,
        force=force,
    )
    typer.echo(
        f"version {summary['version']} promoted={summary['promoted']} backtest MASE={summary['backtest_mase']:.3f}"
    )


def forecast_cmd(
    level: Annotated[str, typer.Option(help="total, region, category, socio_group, customer")] = "total",
    key: Annotated[str, typer.Option(help="key within the level, e.g. north; 'all' for total")] = "all",
    horizon: Annotated[int, typer.Option(help="periods ahead")] = 28,
    freq: Annotated[str, typer.Option(help="H, D or M")] = "D",
    input: Annotated[Path | None, typer.Option(help="CSV timestamp,load[,temperature]: train on it instead")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: var/forecasts/<tenant>)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or both")] = "both",
    tenant: Tenant = None,
) -> None:
    """Write a P10/P50/P90 forecast (CSV/Parquet) and a PNG chart for planners."""
    data = tenant_settings(tenant, writes=False, reads=False)
    out = out or data.var_dir / "forecasts" / data.tenant
    training, tenant = TrainingSettings(), data.tenant
    paths = forecast(level, key, horizon, freq, out_dir=out, training=training, input_csv=input, fmt=fmt, tenant=tenant)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
