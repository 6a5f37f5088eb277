"""`meterwise train arrears` and `meterwise score arrears` (mounted by :mod:`training.cli`).

Errors are not caught here: the root CLI turns them into one line (``-v`` for the traceback).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.cli import AsOf, DataDir, Scheduler, Tenant
from features.progress import step

logger = logging.getLogger(__name__)

Grades = Annotated[
    Path | None,
    typer.Option(
        help="grade bands JSON/YAML: {bands: [{grade, upper, action}, ...]}",
        envvar="METERWISE_ARREARS_GRADES",
        exists=True,
        dir_okay=False,
    ),
]


def _settings(data_dir: Path | None, tenant: str | None = None, scheduler: str | None = None):
    from features.cli import tenant_settings
    from training.settings import TrainingSettings

    return tenant_settings(tenant, data_dir, dask_scheduler=scheduler), TrainingSettings()


def _policy(grades: Path | None):
    from training.arrears import GradePolicy

    return GradePolicy.from_file(grades) if grades else None


def train_arrears_cmd(
    as_of: AsOf = None,
    promote: Annotated[bool, typer.Option(help="promote after registering if it beats the champion")] = True,
    force: Annotated[bool, typer.Option("--force", help="promote even if it does not beat the champion")] = False,
    calibration: Annotated[str, typer.Option(help="sigmoid (Platt), isotonic or none")] = "sigmoid",
    grades: Grades = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    scheduler: Scheduler = None,
) -> None:
    """Train the arrears model (LightGBM + calibration + logistic baseline), log, register, promote.

    On a partitioned tenant the training frame is built on the Dask cluster; the fit runs in this process."""
    from training.arrears_job import train_arrears

    data, training = _settings(data_dir, tenant, scheduler)
    with step("train arrears"):
        result = train_arrears(
            data,
            training,
            as_of=pd.Timestamp(as_of) if as_of else None,
            promote=promote,
            force=force,
            calibration=calibration,
            grade_policy=_policy(grades),
        )
    keys = ("roc_auc", "pr_auc", "ks", "brier", "calibration_error", "lift_top_decile", "baseline_roc_auc")
    keys += ("heldout_roc_auc", "champion_roc_auc", "validation_positive_rate")
    summary = {k: round(result.metrics[k], 4) for k in keys if k in result.metrics}
    reason = result.decision.reason if result.decision else None
    out = {"version": result.version, "promoted": result.promoted, "reason": reason, "run_id": result.run_id}
    typer.echo(json.dumps(out | summary))


def score_arrears_cmd(
    as_of: AsOf = None,
    model: Annotated[str, typer.Option(help="alias or version to score with")] = "champion",
    grades: Grades = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    scheduler: Scheduler = None,
) -> None:
    """Score every customer: probability, grade, action and 3 reasons -> var/scores/<tenant>/arrears/.

    A partitioned tenant (``meterwise data partition``) is scored on the Dask cluster, partition by partition."""
    from training.arrears_job import score_arrears

    data, training = _settings(data_dir, tenant, scheduler)
    with step("score arrears"):
        path = score_arrears(
            data, training, as_of=pd.Timestamp(as_of) if as_of else None, model=model, grade_policy=_policy(grades)
        )
    typer.echo(str(path))
