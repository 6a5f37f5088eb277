"""The root `meterwise` command: mounts the data, features and training sub-apps and adds `serve`."""

from __future__ import annotations

import logging
import os

import typer

from features.cli import data_app, features_app
from serving.server import serve_cmd
from training.backtest_job import backtest_cmd
from training.cli import demo_cmd, forecast_cmd, score_app, train_app
from training.monitoring_cli import monitor_cmd
from training.reports import report_cmd
from training.segment_migration import report_migration_cmd
from training.theft_cli import score_theft_cmd, train_theft_cmd
from training.work_orders_cli import app as work_orders_app

app = typer.Typer(
    help=(
        "meterwise: usage profiles, arrears risk, customer segments and load forecasts for an electricity "
        "supplier.\n\nStart with `meterwise demo` (validate → features → train → registry → predictions on the "
        "embedded demo tenant), then `meterwise serve`.\n\nEvery tenant command takes --tenant NAME (or "
        "METERWISE_TENANT; default demo): its folders, registered models and API are that tenant's only. "
        "Commands with --as-of default to the last day with a meter reading or an issued bill in the tenant's data."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
score_app.command("theft")(score_theft_cmd)
train_app.command("theft")(train_theft_cmd)
app.command("forecast")(forecast_cmd)
app.command("backtest")(backtest_cmd)
app.command("serve")(serve_cmd)
app.command("demo")(demo_cmd)
app.command("report")(report_cmd)
app.command("report-migration")(report_migration_cmd)
app.command("monitor")(monitor_cmd)
app.add_typer(work_orders_app, name="work-orders")


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging"),
) -> None:
    """Configure logging once, at the edge."""
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("METERWISE_LOG_LEVEL", "INFO").upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow", "urllib3", "distributed", "numexpr"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
