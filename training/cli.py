"""`meterwise train …`, `meterwise score …`, `meterwise demo`: the training side of the CLI.

Each kind's command functions live next to their job (``arrears_cli``, ``segments_job``,
``forecast_cli``); this module only mounts them.
"""

from __future__ import annotations

import importlib
import json
import logging
from enum import StrEnum
from typing import Annotated

import typer

from features.cli import AsOf, DataDir, Tenant, tenant_settings
from training.arrears_cli import score_arrears_cmd, train_arrears_cmd
from training.forecast_cli import forecast_cmd, train_forecast_cmd
from training.segments_job import score_segments_cmd, train_segments_cmd

train_app = typer.Typer(
    help="Train a model kind, log it to MLflow, register it and promote it if it beats the champion.",
    no_args_is_help=True,
)
score_app = typer.Typer(
    help="Batch-score every customer as of a day; writes var/scores/<tenant>/<kind>/.", no_args_is_help=True
)

train_app.command("arrears")(train_arrears_cmd)
train_app.command("segments")(train_segments_cmd)
train_app.command("forecast")(train_forecast_cmd)
logger = logging.getLogger(__name__)


class Kind(StrEnum):
    arrears = "arrears"
    segments = "segments"
    forecast = "forecast"


@train_app.command("promote")
def promote_cmd(
    kind: Annotated[Kind, typer.Argument(help="model kind")],
    version: Annotated[str, typer.Option(help="registered version to promote")],
    force: Annotated[bool, typer.Option("--force", help="move the champion alias regardless")] = False,
    tenant: Tenant = None,
    data_dir: DataDir = None,
) -> None:
    """Move `champion` to a version only if it beats the champion on the same newest held-out data.

    Both are re-scored on that data and judged by the one rule (training.promotion: relative margin
    METERWISE_PROMOTE_MARGIN, default 1 %; a champion older than METERWISE_PROMOTE_MAX_AGE_DAYS keeps no
    edge). The decision is tagged on the version in MLflow and printed as JSON.
    """
    from features.errors import MeterwiseError
    from training.settings import TrainingSettings

    promote_version = getattr(importlib.import_module(f"training.{kind.value}_job"), "promote_version", None)
    if promote_version is None:
        logger.error("train promote %s: not available yet (training.%s_job has no promote_version)", kind, kind)
        raise typer.Exit(code=2)
    try:
        decision = promote_version(tenant_settings(tenant, data_dir), TrainingSettings(), version, force=force)
    except MeterwiseError as err:
        logger.error("%s", err)
        raise typer.Exit(code=2) from None
    out = {"kind": kind.value, "version": version, "promoted": decision.promote, "reason": decision.reason}
    typer.echo(json.dumps(out | {"tags": decision.tags()}))


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
