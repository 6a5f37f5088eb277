"""`meterwise train theft` and `meterwise score theft --capacity 15` (mounted by :mod:`training.cli`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from features.progress import step

logger = logging.getLogger(__name__)

DataDir = Annotated[Path | None, typer.Option(help="tenant folder (default: METERWISE_DATA_DIR or the demo)")]


def _settings(data_dir: Path | None):
    from features.settings import get_data_settings
    from training.settings import TrainingSettings

    data = get_data_settings()
    return (data_dir or data.data_dir), data, TrainingSettings()


def train_theft_cmd(
    data_dir: DataDir = None,
    promote: Annotated[bool, typer.Option(help="move champion if training.promotion.decide says so")] = True,
) -> None:
    """Train the theft model on inspection outcomes (inspected customers only), register, promote."""
    from training.theft_job import train_theft

    folder, data, training = _settings(data_dir)
    with step("train theft"):
        result = train_theft(folder, training, tenant=data.tenant, promote=promote)
    typer.echo(json.dumps({"version": result.version, "promoted": result.promoted, "reason": result.reason,
                           "as_of": str(result.as_of.date()), "labelled": result.labelled}))  # fmt: skip


def score_theft_cmd(
    data_dir: DataDir = None,
    as_of: Annotated[str | None, typer.Option(help="cutoff day YYYY-MM-DD (default: after the last read)")] = None,
    capacity: Annotated[int, typer.Option(min=1, help="inspections per day")] = 10,
    days: Annotated[int, typer.Option(min=1, help="days the list covers")] = 1,
    tariff: Annotated[float, typer.Option(min=0, help="unit price per kWh for expected revenue")] = 0.15,
) -> None:
    """Inspection list + evidence packs -> var/scores/<tenant>/theft/ (list.csv, report.html, summary.json)."""
    import pandas as pd

    from training import registry
    from training.theft_job import TABLES, injected_recall, past_list_hit_rate, score_theft
    from training.theft_report import write_inspection_report

    folder, data, training = _settings(data_dir)
    model, version = registry.open_registry(training, data.tenant).load_or_exported("theft")
    with step("score theft"):
        listing = score_theft(folder, model, as_of=as_of, capacity=capacity * days, tariff_per_kwh=tariff)
    from features.settings import scores_dir

    out = scores_dir(data.var_dir, data.tenant, "theft")
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {
        "model_version": version,
        "as_of": str(listing.as_of.date()),
        "listed": int(listing.frame["in_capacity"].sum()),
    }
    truth = Path(folder) / "theft_injections.parquet"
    if truth.exists():  # the demo's documented ground truth
        summary["injected_recall_top_5pct"] = injected_recall(listing, pd.read_parquet(truth))
    previous = out / "list.csv"
    if previous.exists():
        from features.io import load_tenant

        tables, _ = load_tenant(folder, tables=TABLES)
        since = json.loads((out / "summary.json").read_text()).get("as_of") if (out / "summary.json").exists() else None
        summary["previous_list_hit_rate"] = past_list_hit_rate(pd.read_csv(previous), tables["inspections"], since)
    listing.frame.to_csv(previous, index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    report = write_inspection_report(out / "report.html", model, listing, summary)
    typer.echo(json.dumps({**summary, "report": str(report)}, default=str))
