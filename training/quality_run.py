"""Log a meter-data quality report to MLflow (through the one door, :mod:`training.registry`).

One run per report in the experiment ``meterwise-<tenant>-data-quality``: the summary counts as metrics
(``meters``, ``meters_with_issue``, ``completeness_median``, ``completeness_p10``, ``meters_<issue>``), ``as_of``
and the load's run id as tags, and the report folder (table, HTML page, summary) as artifacts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.registry import open_registry
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)

KIND = "data-quality"


def quality_metrics(summary: dict) -> dict[str, float]:
    """The numeric figures of a quality summary, flat (pure)."""
    flat = {k: summary[k] for k in ("meters", "meters_with_issue", "completeness_median", "completeness_p10")}
    flat |= {f"meters_{k}": v for k, v in summary.get("meters_per_issue", {}).items()}
    return {k: float(v) for k, v in flat.items() if v is not None}


def log_quality(tenant: str, summary: dict, folder: Path, training: TrainingSettings | None = None) -> str:
    """Log `summary` and the report `folder` as one MLflow run; returns its run id."""
    registry = open_registry(training or TrainingSettings(), tenant)
    tags = {"as_of": str(summary.get("as_of", "")), "load_run_id": str(summary.get("run_id", ""))}
    with registry.training_run(KIND, tags=tags, params={"as_of": summary.get("as_of", "")}) as run_id:
        registry.log_metrics(quality_metrics(summary))
        registry.log_artifacts(Path(folder), "quality")
    logger.info("data quality logged to MLflow run %s (%s)", run_id, registry.experiment_name(KIND))
    return run_id
