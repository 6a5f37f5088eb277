"""`meterwise report <run-id>`: one self-contained HTML report of a training run (mounted by :mod:`training.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.cli import Tenant, tenant_settings
from features.errors import ModelNotReady
from features.progress import step


def report_cmd(
    run_id: Annotated[
        str, typer.Argument(help="MLflow run id (printed by `meterwise train ...`), or arrears@champion, segments:3")
    ],
    out: Annotated[Path | None, typer.Option(help="output file (default: var/reports/<tenant>/<run-id>.html)")] = None,
    tenant: Tenant = None,
) -> None:
    """Write one self-contained HTML report (figures, metrics, tables) for a training run of a tenant."""
    from training import reports
    from training.settings import TrainingSettings

    data = tenant_settings(tenant, writes=False, reads=False)
    try:
        with step(f"report {run_id}"):
            path = reports.write_run_report(
                run_id, TrainingSettings(), out=out, tenant=data.tenant, var_dir=data.var_dir
            )
    except ModelNotReady as err:
        if err.kind != "run":
            raise
        raise typer.BadParameter(
            f"{err.reason} (tenant {data.tenant!r}); give a run id printed by `meterwise train ...`, "
            "or arrears@champion, segments:3",
            param_hint="RUN_ID",
        ) from err
    typer.echo(str(path))
