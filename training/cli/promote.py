"""`meterwise train promote <kind> --version V`: one command for every kind, dispatched to the kind's job."""

from __future__ import annotations

import importlib
import json
import logging
from enum import StrEnum
from typing import Annotated

import typer

from features.cli import DataDir, Tenant, tenant_settings

logger = logging.getLogger(__name__)


class Kind(StrEnum):
    arrears = "arrears"
    segments = "segments"
    forecast = "forecast"


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
    from training.settings import TrainingSettings

    promote_version = getattr(importlib.import_module(f"training.{kind.value}_job"), "promote_version", None)
    if promote_version is None:
        logger.error("train promote %s: not available yet (training.%s_job has no promote_version)", kind, kind)
        raise typer.Exit(code=2)
    decision = promote_version(tenant_settings(tenant, data_dir), TrainingSettings(), version, force=force)
    out = {"kind": kind.value, "version": version, "promoted": decision.promote, "reason": decision.reason}
    typer.echo(json.dumps(out | {"tags": decision.tags()}))
