"""The training side of the `meterwise` CLI: every command of the `training` package, one module per group.

- :mod:`.arrears`, :mod:`.segments`, :mod:`.theft`: ``train <kind>`` / ``score <kind>`` (and ``report-migration``);
- :mod:`.promote`: ``train promote <kind>``; :mod:`.reports`: ``report``; :mod:`.demo`: ``demo``;
- :mod:`.work_orders`: the ``work-orders`` group;
- forecasts (``train forecast``, ``forecast``, ``backtest``): ``training.cli.forecast`` when present, else the
  module ``training.forecast_cli``, else the commands still inside the forecast jobs.

The root (``serving/cli.py``) calls :func:`mount`; jobs hold no CLI code, and no command here catches errors:
the root turns them into one line (``meterwise -v ...`` shows the traceback).
"""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace

import typer

from training.cli import arrears, demo, promote, reports, segments, theft, work_orders

train_app = typer.Typer(
    help="Train a model kind, log it to MLflow, register it and promote it if it beats the champion.",
    no_args_is_help=True,
)
score_app = typer.Typer(
    help="Batch-score every customer as of a day; writes var/scores/<tenant>/<kind>/.", no_args_is_help=True
)


def _forecast_commands() -> ModuleType | SimpleNamespace:
    """The forecast commands' module: this package's, the one beside it, or (until they move) the jobs'."""
    for name in ("training.cli.forecast", "training.forecast_cli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    from training import backtest_job, forecast_job

    return SimpleNamespace(
        train_forecast_cmd=forecast_job.train_forecast_cmd,
        forecast_cmd=forecast_job.forecast_cmd,
        backtest_cmd=backtest_job.backtest_cmd,
    )


forecast = _forecast_commands()

train_app.command("arrears")(arrears.train_arrears_cmd)
train_app.command("segments")(segments.train_segments_cmd)
train_app.command("forecast")(forecast.train_forecast_cmd)
train_app.command("theft")(theft.train_theft_cmd)
train_app.command("promote")(promote.promote_cmd)
score_app.command("arrears")(arrears.score_arrears_cmd)
score_app.command("segments")(segments.score_segments_cmd)
score_app.command("theft")(theft.score_theft_cmd)


def mount(root: typer.Typer) -> None:
    """Add every training command and group to the root `meterwise` app."""
    root.add_typer(train_app, name="train")
    root.add_typer(score_app, name="score")
    root.command("forecast")(forecast.forecast_cmd)
    root.command("backtest")(forecast.backtest_cmd)
    root.command("demo")(demo.demo_cmd)
    root.command("report")(reports.report_cmd)
    root.command("report-migration")(segments.report_migration_cmd)
    root.add_typer(work_orders.app, name="work-orders")


__all__ = ["mount", "score_app", "train_app"]
