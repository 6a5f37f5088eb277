"""`meterwise monitor`: drift, realised performance and retraining triggers (mounted by :mod:`training.cli`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from features.cli import AsOf, DataDir, Tenant


def monitor_cmd(
    as_of: AsOf = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="run the normal training job of each kind whose breaches recommend it")
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="exit with status 1 when an alert is raised (for schedulers)")
    ] = False,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="do not log a monitoring run to MLflow")] = False,
    tenant: Tenant = None,
    data_dir: DataDir = None,
) -> None:
    """Compare the current period with each champion's training reference; write var/monitoring/<tenant>/.

    Arrears: PSI (10 reference-quantile bins) and KS per feature and on the score, grade mix, realised vs
    predicted late rate per grade on matured bills, matured AUC. Segments: share per segment, migration,
    distance to centroid. Forecasts: realised MAPE/MASE, pinball, P10-P90 coverage per level and month against
    the champion's backtest of the same calendar month, else its whole backtest (named per month).
    Inputs: contract rejection rates. Thresholds: METERWISE_MONITOR_* (PSI 0.1 / 0.25, coverage 70-90 %,
    MAPE 25 % above backtest; forecast breaches only beyond the 95 % interval of the realised figure, see
    BREACH_CONFIDENCE). Prints a summary as JSON; the report is var/monitoring/<tenant>/report-<as_of>.html.
    """
    import pandas as pd

    from features.cli import tenant_settings
    from training.monitoring_job import monitor
    from training.settings import TrainingSettings

    result = monitor(  # errors reach the root, which prints them in one line
        tenant_settings(tenant, data_dir),
        TrainingSettings(),
        as_of=pd.Timestamp(as_of) if as_of else None,
        do_retrain=retrain,
        log_mlflow=not no_mlflow,
    )
    status = result.status
    out = {
        "tenant": status["tenant"],
        "as_of": status["as_of"],
        "status": status["status"],
        "models": {k: m["status"] for k, m in status["models"].items()},
        "breaches": [b["message"] for m in status["models"].values() for b in m["breaches"]]
        + [b["message"] for b in status["inputs"]["breaches"]],
        "recommendation": status["recommendation"],
        "forecast_references": {  # which backtest each forecast level and month was compared with
            f"{c['level']}@{c['freq']} {c['period']}": c["reference"]
            for c in status["models"].get("forecast", {}).get("checks", [])
        },
        "retrained": status.get("retrained", {}),
        "status_file": str(result.path),
        "report": str(result.report) if result.report else None,
    }
    typer.echo(json.dumps(out, indent=2))
    if fail_on_alert and status["status"] == "alert":
        raise typer.Exit(code=1)
