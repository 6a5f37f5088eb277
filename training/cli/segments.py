"""`meterwise train segments`, `meterwise score segments` and `meterwise report-migration` (mounted by
:mod:`training.cli`); the work is in :mod:`training.segments_job` and :mod:`training.segment_migration`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.cli import AsOf, DataDir, Scheduler, Tenant, tenant_settings
from features.progress import step


def train_segments_cmd(
    as_of: AsOf = None,
    k_min: Annotated[int, typer.Option(help="fewest segments tried")] = 3,
    k_max: Annotated[int, typer.Option(help="most segments tried")] = 8,
    method: Annotated[str, typer.Option(help="kmeans (k by silhouette) or gmm (k by BIC)")] = "kmeans",
    window_days: Annotated[int, typer.Option(help="days of readings per shape")] = 365,
    min_days: Annotated[int, typer.Option(help="days a customer needs to get a segment")] = 300,
    n_boot: Annotated[int, typer.Option(help="bootstrap refits for the stability ARI (0: skip)")] = 5,
    strategies: Annotated[Path | None, typer.Option(help="JSON strategy rules (default: built-in rules)")] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="register without moving champion")] = False,
    force: Annotated[bool, typer.Option("--force", help="promote even if not better")] = False,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """Cluster customers by load shape, name the segments, log to MLflow, register and promote."""
    from training import segments_job
    from training.settings import TrainingSettings

    config = segments_job.SegmentsConfig(k_min, k_max, method, window_days, min_days, n_boot, strategies)
    data = tenant_settings(tenant, data_dir)
    with step("train segments"):
        result = segments_job.train_segments(
            data, TrainingSettings(), as_of=pd.Timestamp(as_of) if as_of else None,
            config=config, promote=not no_promote, force=force,
        )  # fmt: skip
    typer.echo(json.dumps(asdict(result), indent=2, default=str))


def score_segments_cmd(
    as_of: AsOf = None,
    model: Annotated[str, typer.Option(help="registry version or alias")] = "champion",
    grades: Annotated[Path | None, typer.Option(help="arrears scores with customer_id, grade")] = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    scheduler: Scheduler = None,
) -> None:
    """Write each customer's segment, distance, value band, grade and strategy to var/scores/<tenant>/segments/.

    A partitioned tenant (``meterwise data partition``) is scored on the Dask cluster, partition by partition."""
    from training import segments_job
    from training.settings import TrainingSettings

    data = tenant_settings(tenant, data_dir, dask_scheduler=scheduler)
    with step("score segments"):
        path = segments_job.score_segments(
            data, TrainingSettings(), as_of=pd.Timestamp(as_of) if as_of else None, model=model, grades_path=grades
        )
    typer.echo(str(path))


def report_migration_cmd(
    from_version: Annotated[str, typer.Option("--from", help="registered segments version (before)")],
    to_version: Annotated[str, typer.Option("--to", help="registered segments version (after)")],
    out: Annotated[Path | None, typer.Option(help="output folder (default: var/reports/<tenant>/...)")] = None,
) -> None:
    """Per-customer segment migration between two versions: who moved where and why (CSV, Parquet, HTML)."""
    from features.settings import get_data_settings
    from training.segment_migration import write_migration_report
    from training.settings import TrainingSettings

    with step(f"segments migration v{from_version} -> v{to_version}"):
        folder = write_migration_report(get_data_settings(), TrainingSettings(), from_version, to_version, out=out)
    typer.echo(str(folder))
