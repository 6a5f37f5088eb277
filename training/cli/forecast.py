"""Typer commands of the forecasting side: ``meterwise train forecast``, ``meterwise forecast`` and
``meterwise backtest`` (argument parsing and user output only; the work is in the jobs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.cli import DataDir, Scheduler, Tenant, tenant_settings
from training import forecast_job
from training.backtest_job import run_backtest, write_backtest
from training.csv_series import csv_panel, read_load_csv
from training.settings import TrainingSettings


def train_forecast_cmd(
    freqs: Annotated[str, typer.Option(help="comma-separated: H (interval data), D, M")] = "D,M,H",
    force: Annotated[bool, typer.Option(help="promote to champion even if not better")] = False,
    country: Annotated[str | None, typer.Option(help="holiday country code, e.g. GB (none unless asked)")] = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    scheduler: Scheduler = None,
) -> None:
    """Backtest, train, reconcile and register load forecasts (meterwise-<tenant>-forecast).

    A partitioned tenant (``meterwise data partition``) is aggregated on the Dask cluster, one partition per
    task, down to region x category x socio_group cells (no series per customer)."""
    summary = forecast_job.train_forecast(
        tenant_settings(tenant, data_dir, dask_scheduler=scheduler),
        TrainingSettings(),
        freqs=tuple(f.strip() for f in freqs.split(",") if f.strip()),
        force=force,
        country=country,
    )
    typer.echo(
        f"version {summary['version']} promoted={summary['promoted']} ({summary['reason']}); "
        f"served MAE / seasonal naive = {summary['score']:.3f}"
    )


def forecast_cmd(
    level: Annotated[
        str, typer.Option(help="total, region, category, socio_group, customer (cell if partitioned)")
    ] = "total",
    key: Annotated[str, typer.Option(help="key within the level, e.g. north; 'all' for total")] = "all",
    horizon: Annotated[int, typer.Option(help="periods ahead")] = 28,
    freq: Annotated[str, typer.Option(help="H, D or M")] = "D",
    input: Annotated[Path | None, typer.Option(help="CSV timestamp,load[,temperature]: train on it instead")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: var/forecasts/<tenant>)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or both")] = "both",
    country: Annotated[str | None, typer.Option(help="holiday country code for --input (none unless asked)")] = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    scheduler: Scheduler = None,
) -> None:
    """Write a P10/P50/P90 forecast (CSV/Parquet) and a PNG chart for planners, issued from the latest data.

    The champion is re-issued from the tenant's current data (a partitioned tenant: on the Dask cluster)."""
    data = tenant_settings(tenant, data_dir, writes=False, reads=False, dask_scheduler=scheduler)
    out = out or data.var_dir / "forecasts" / data.tenant
    paths = forecast_job.forecast(
        level, key, horizon, freq, out_dir=out, training=TrainingSettings(), input_csv=input, fmt=fmt,
        tenant=data.tenant, country=country, data=data,
    )  # fmt: skip
    info = json.loads(paths["json"].read_text())
    typer.echo(
        f"issued at {info['issued_at']} from data up to {info['data_cutoff']} (exclusive), "
        f"model {info['model_version']}, method {info['method']}"
    )
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")


def backtest_cmd(
    input: Annotated[Path, typer.Option(help="CSV timestamp,load[,temperature]")],
    freq: Annotated[str, typer.Option(help="H, Q (15 min) or D")] = "H",
    horizon: Annotated[int, typer.Option(help="periods ahead of each daily 00:00 issue")] = 24,
    days: Annotated[int, typer.Option(help="days of daily issues at the end of the data")] = 365,
    country: Annotated[str | None, typer.Option(help="holiday country code, e.g. US (none unless asked)")] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("var/backtest"),
) -> None:
    """Rolling-origin backtest on your own series: issued daily at 00:00, data strictly before the issue."""
    panel = csv_panel(read_load_csv(input, freq), freq)
    fc, summary = run_backtest(panel, freq, horizon=horizon, days=days, country=country)
    paths = write_backtest(fc, summary, out)
    base = summary["baselines"]
    typer.echo(
        f"{summary['windows']} windows: MAPE {summary['mape']:.2f} % (naive 1d {base['naive_1d']['mape']:.2f}, "
        f"7d {base['naive_7d']['mape']:.2f}); P10-P90 coverage {summary['coverage_p10_p90']:.2f}"
    )
    typer.echo(f"json: {paths['json']}")
