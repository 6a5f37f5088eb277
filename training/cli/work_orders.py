"""`meterwise work-orders …`: evaluate on any labelled export, train/promote, trends report, demo orders.

Mounted by :mod:`training.cli`; plots are drawn with the non-interactive backend the root CLI chooses.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from features.progress import step

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Complaint work orders: classify, evaluate on any labelled export, find emerging topics.",
    no_args_is_help=True,
)


@app.command("evaluate")
def evaluate_cmd(
    input: Annotated[Path, typer.Option("--input", help="labelled CSV, TSV, Parquet or XLSX export")],
    out: Annotated[Path, typer.Option("--out", help="folder for evaluation.json")],
    text_col: Annotated[str, typer.Option("--text-col", help="column holding the text")] = "text",
    label_col: Annotated[str, typer.Option("--label-col", help="column holding the category")] = "category",
    date_col: Annotated[str | None, typer.Option("--date-col", help="creation time: adds a time split")] = None,
    folds: Annotated[int, typer.Option(min=2, help="outer stratified folds")] = 5,
    seed: Annotated[int, typer.Option(help="random_state of the folds and the inner CV")] = 0,
) -> None:
    """Cross-validated (and, with --date-col, time-split) macro-F1, accuracy and confusion matrix, with the
    TF-IDF + LinearSVC baseline's scores on the same folds, written to OUT/evaluation.json."""
    from features.work_orders import read_labelled
    from training.work_orders_eval import evaluate_corpus

    frame = read_labelled(input, text_col=text_col, label_col=label_col, date_col=date_col)
    with step(f"evaluate {len(frame)} work orders"):
        result = evaluate_corpus(frame["text"], frame["label"], frame.get("created_at"), folds=folds, random_state=seed)
    result = {"input": str(input), "text_col": text_col, "label_col": label_col, "date_col": date_col, **result}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evaluation.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    logger.info(
        "macro-F1 %.4f (baseline %.4f), accuracy %.4f over %d folds -> %s",
        result["macro_f1"], result["baseline"]["macro_f1"], result["accuracy"], len(result["folds"]), path,
    )  # fmt: skip


@app.command("train")
def train_cmd(
    promote: Annotated[bool, typer.Option(help="move `champion` when the rule says so")] = True,
    force: Annotated[bool, typer.Option(help="promote regardless of the scores")] = False,
    test_share: Annotated[float, typer.Option(min=0.05, max=0.5, help="newest share held out")] = 0.2,
) -> None:
    """Train the tenant's classifier on its labelled work orders; register; promote if it beats the champion."""
    from features.settings import DataSettings
    from training.settings import TrainingSettings
    from training.work_orders_job import train_work_orders

    with step("train work orders"):
        result = train_work_orders(
            DataSettings(), TrainingSettings(), promote=promote, force=force, test_share=test_share
        )
    typer.echo(json.dumps(result.__dict__, default=str))


@app.command("trends")
def trends_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder for trends.html and CSVs")] = Path("var/reports/trends"),
    freq: Annotated[str, typer.Option(help="week or month")] = "week",
    input: Annotated[Path | None, typer.Option("--input", help="a work_orders file instead of the tenant's")] = None,
    alpha: Annotated[float, typer.Option(help="false discovery rate per period")] = 0.01,
) -> None:
    """HTML report: orders per period and category, emerging terms, keywords, link to weather."""
    from features.contracts import validate
    from features.io import load_tenant, read_table
    from features.settings import DataSettings
    from training.work_orders_job import tenant_text_config
    from training.work_orders_report import build_trends, write_trends_report

    data = DataSettings()
    weather = None
    if input is not None:
        orders = validate("work_orders", read_table(input), quarantine=True, source=str(input)).accepted
    else:
        tables, _ = load_tenant(data.data_dir, tables=("customers", "work_orders", "weather"))
        orders, weather = tables["work_orders"], tables.get("weather")
    with step("work-order trends"):
        trends = build_trends(
            orders, freq=freq, weather=weather, text_config=tenant_text_config(data.data_dir), alpha=alpha
        )
    typer.echo(str(write_trends_report(trends, out)))


@app.command("demo-data")
def demo_data_cmd(
    out: Annotated[Path | None, typer.Option(help="file to write (default: the demo tenant's)")] = None,
) -> None:
    """Regenerate data/demo/work_orders.parquet from the demo customers, bills and weather (seeded)."""
    from features.io import load_tenant, write_table
    from features.settings import DEMO_DIR
    from features.work_orders_demo import generate_work_orders

    tables, _ = load_tenant(DEMO_DIR, tables=("customers", "bills", "weather"))
    orders = generate_work_orders(tables["customers"], tables["bills"], tables.get("weather"))
    typer.echo(str(write_table(orders, out or DEMO_DIR / "work_orders.parquet")))
