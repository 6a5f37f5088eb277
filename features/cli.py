"""`meterwise data ...`: validate a tenant's exports, rebuild the demo tenant."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.errors import ContractViolation
from features.io import load_tenant
from features.settings import DEMO_DIR, get_data_settings

logger = logging.getLogger(__name__)
data_app = typer.Typer(help="Check a tenant's exported tables against the data contracts.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="tenant folder with customers/readings/bills/payments files")]


@data_app.command("validate")
def validate_cmd(
    data_dir: DataDir = None,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="write bad rows to files and go on")] = False,
    now: Annotated[str | None, typer.Option(help="dates after this are 'in the future' (default: now)")] = None,
) -> None:
    """Validate every table of a tenant; print row counts (read / accepted / quarantined) per table."""
    settings = get_data_settings()
    folder = data_dir or settings.data_dir
    try:
        _, report = load_tenant(
            folder,
            now=pd.Timestamp(now) if now else None,
            quarantine_dir=settings.quarantine_dir if quarantine else None,
        )
    except ContractViolation as err:
        logger.error("%s", err)
        typer.echo(err.failures.head(50).to_string(index=False), err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps({"counts": report.counts, "quarantine_files": report.quarantine_files}, indent=2))


@data_app.command("rebuild-demo")
def rebuild_demo_cmd(
    shared_data: Annotated[Path, typer.Option(help="the shared public data folder")] = Path("../shared/data"),
    out_dir: Annotated[Path, typer.Option(help="where to write the tenant")] = DEMO_DIR,
    households: Annotated[int, typer.Option(help="households to sample across ACORN groups")] = 300,
) -> None:
    """Rebuild the embedded demo tenant from ../shared/data (deterministic; prints table hashes)."""
    from features.demo import build_demo

    typer.echo(json.dumps(build_demo(shared_data, out_dir, n_households=households), indent=2))


features_app = typer.Typer(help="Build point-in-time feature snapshots and training sets.", no_args_is_help=True)


def _day(value: str | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"{name}={value!r}; expected a date like 2014-02-28") from None


@features_app.command("build")
def build_cmd(
    as_of: Annotated[str | None, typer.Option(help="cutoff day (default: latest reading or issue date)")] = None,
    data_dir: DataDir = None,
    tenant: Annotated[str | None, typer.Option(help="tenant name (default: settings)")] = None,
    late_days: Annotated[int | None, typer.Option(help="days after due that make a bill late")] = None,
    engine: Annotated[str, typer.Option(help="pandas, or dask (local cluster, partitioned by customer)")] = "pandas",
    workers: Annotated[int, typer.Option(help="Dask workers")] = 2,
) -> None:
    """Build profiles as of a day and write var/features/<tenant>/<as_of>/{profiles.parquet,manifest.json}."""
    from features.snapshots import build_snapshot

    settings = get_data_settings()
    tenant = tenant or settings.tenant
    root = settings.var_dir / "features" / tenant
    try:
        folder = build_snapshot(
            data_dir or settings.data_dir,
            root,
            as_of=_day(as_of, "as_of"),
            tenant=tenant,
            late_days=settings.late_days if late_days is None else late_days,
            engine=engine,
            n_workers=workers,
        )
    except ContractViolation as err:
        logger.error("%s", err)
        typer.echo(err.failures.head(50).to_string(index=False), err=True)
        raise typer.Exit(code=2) from None
    manifest = json.loads((folder / "manifest.json").read_text())
    typer.echo(
        json.dumps(
            {k: manifest[k] for k in ("as_of", "rows", "profile_hash", "source_hashes")} | {"path": str(folder)},
            indent=2,
        )
    )


@features_app.command("training-set")
def training_set_cmd(
    data_dir: DataDir = None,
    label_as_of: Annotated[str | None, typer.Option(help="when outcomes are read (default: latest data)")] = None,
    late_days: Annotated[int | None, typer.Option(help="days after due that make a bill late")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Parquet file (default: var/features/<tenant>/arrears_training.parquet)")
    ] = None,
) -> None:
    """Write the arrears training set: one row per bill, features as of its issue date, label after."""
    from features.io import write_table
    from features.training_sets import build_arrears_training_set

    settings = get_data_settings()
    tables, _ = load_tenant(data_dir or settings.data_dir)
    frame = build_arrears_training_set(
        tables,
        late_days=settings.late_days if late_days is None else late_days,
        label_as_of=_day(label_as_of, "label_as_of"),
    )
    path = write_table(frame, out or settings.snapshot_dir / "arrears_training.parquet")
    typer.echo(json.dumps({"path": str(path), "rows": len(frame), "label_known": int(frame["label_known"].sum())}))
