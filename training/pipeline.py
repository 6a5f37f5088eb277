"""The main job, end to end: validate → feature snapshot → train every kind → registry → predictions.

Used by ``meterwise demo`` on the embedded tenant, and by any tenant through settings
(``METERWISE_DATA_DIR``, ``METERWISE_TENANT``). Each step is the same public function the
per-kind commands call, so the demo exercises exactly what data scientists run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from features.io import load_tenant
from features.settings import DataSettings
from features.snapshots import build_snapshot, resolve_as_of
from training.arrears_job import score_arrears, train_arrears
from training.forecast_job import train_forecast
from training.segments_job import score_segments, train_segments
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)


def run_pipeline(
    data: DataSettings | None = None,
    training: TrainingSettings | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    freqs: tuple[str, ...] = ("D", "M", "H"),
) -> dict[str, Any]:
    """Run every step; returns a summary (counts, versions, metrics, output files) and logs a digest."""
    data = data or DataSettings()
    training = training or TrainingSettings()
    summary: dict[str, Any] = {"tenant": data.tenant}
    tables, report = load_tenant(data.data_dir)
    as_of = resolve_as_of(tables, as_of)  # the one default rule of every command
    summary["as_of"] = str(as_of.date())
    summary["rows"] = report.counts

    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            "features",
            lambda: build_snapshot(
                data.data_dir, data.snapshot_dir, as_of=as_of, tenant=data.tenant, late_days=data.late_days
            ),
        ),
        ("train arrears", lambda: train_arrears(data, training, as_of=as_of)),
        ("score arrears", lambda: score_arrears(data, training, as_of=as_of)),
        ("train segments", lambda: train_segments(data, training, as_of=as_of)),
        ("score segments", lambda: score_segments(data, training, as_of=as_of)),
        ("train forecast", lambda: train_forecast(data, training, freqs=freqs)),
    ]
    with tqdm(steps, desc="meterwise", unit="step") as bar:
        for name, step in bar:
            bar.set_postfix_str(name)
            started = time.perf_counter()
            summary[name] = step()
            logger.info("%s done in %.1f s", name, time.perf_counter() - started)
    _log_digest(summary)
    return summary


def _log_digest(summary: dict[str, Any]) -> None:
    """A few real predictions, so the demo ends with something a person can read."""
    arrears = pd.read_parquet(summary["score arrears"])
    top = arrears.sort_values("probability", ascending=False).head(5)
    logger.info(
        "arrears: %d customers scored as of %s; grades %s",
        len(arrears),
        summary["as_of"],
        arrears["grade"].value_counts().sort_index().to_dict(),
    )
    for row in top.itertuples(index=False):
        logger.info("  %s p=%.2f %s → %s; %s", row.customer_id, row.probability, row.grade, row.action, row.reason_1)
    segments = pd.read_parquet(summary["score segments"])
    logger.info("segments: %s", segments["segment_name"].value_counts().to_dict())
    fc = summary["train forecast"]
    logger.info("forecast: registered version %s (promoted=%s)", fc.get("version"), fc.get("promoted"))
