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
            folder, now=pd.Timestamp(now) if now else None, quarantine_dir=settings.quarantine_dir if quarantine else None
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
