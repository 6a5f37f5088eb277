"""`meterwise train …`, `meterwise score …`, `meterwise demo`: the training side of the CLI.

Each kind's command functions live next to their job (``arrears_cli``, ``segments_job``,
``forecast_job``); this module only mounts them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from features.cli import AsOf, DataDir, Tenant, tenant_settings
from training.arrears_cli import promote_arrears_cmd, score_arrears_cmd, train_arrears_cmd
from training.forecast_job import forecast_cmd, train_forecast_cmd
from training.segments_job import score_segments_cmd, train_segments_cmd

train_app = typer.Typer(
    help="Train a model kind, log it to MLflow, register it and promote it if it beats the champion.",
    no_args_is_help=True,
)
promote_app = typer.Typer(help="Move the `champion` alias to a registered version (only if better, or --force).")
score_app = typer.Typer(
    help="Batch-score every customer as of a day; writes var/scores/<tenant>/<kind>/.", no_args_is_help=True
)

train_app.command("arrears")(train_arrears_cmd)
train_app.command("segments")(train_segments_cmd)
train_app.command("forecast")(train_forecast_cmd)
promote_app.command("arrears")(promote_arrears_cmd)
train_app.add_typer(promote_app, name="promote")
score_app.command("arrears")(score_arrears_cmd)
score_app.command("segments")(score_segments_cmd)


def demo_cmd(
    as_of: AsOf = None,
    quick: Annotated[bool, typer.Option(help="daily forecasts only (skip monthly and hourly)")] = False,
    tenant: Tenant = None,
    data_dir: DataDir = None,
) -> None:
    """Run the main job (validate → features → train all → registry → predictions); the embedded demo by default."""
    import pandas as pd

    from training.pipeline import run_pipeline

    run_pipeline(
        tenant_settings(tenant, data_dir),
        as_of=pd.Timestamp(as_of) if as_of else None,
        freqs=("D",) if quick else ("D", "M", "H"),
    )


__all__ = ["demo_cmd", "forecast_cmd", "score_app", "train_app"]
