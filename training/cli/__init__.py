"""The training side of the `meterwise` CLI: every command of the `training` package, one module per group.

- :mod:`.arrears`, :mod:`.segments`, :mod:`.theft`: ``train <kind>`` / ``score <kind>`` (and ``report-migration``);
- :mod:`.promote`: ``train promote <kind>``; :mod:`.reports`: ``report``; :mod:`.demo`: ``demo``;
- :mod:`.work_orders`: the ``work-orders`` group;
- :mod:`.forecast`: ``train forecast``, ``forecast`` and ``backtest``;
- :mod:`.monitoring`: ``monitor``; :mod:`.collections`: the ``collections`` group;

The root (``serving/cli.py``) calls :func:`mount`; jobs hold no CLI code, and no command here catches errors:
the root turns them into one line (``meterwise -v ...`` shows the traceback).
"""

from __future__ import annotations

import typer

from training.cli import (
    arrears,
    collections,
    demo,
    forecast,
    monitoring,
    promote,
    reports,
    segments,
    theft,
    work_orders,
)

train_app = typer.Typer(
    help="Train a model kind, log it to MLflow, register it and promote it if it beats the champion.",
    no_args_is_help=True,
)
score_app = typer.Typer(
    help="Batch-score every customer as of a day; writes var/scores/<tenant>/<kind>/.", no_args_is_help=True
)


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
    root.command("monitor")(monitoring.monitor_cmd)
    root.add_typer(collections.app, name="collections")


__all__ = ["mount", "score_app", "train_app"]
