"""The main job, end to end: validate → feature snapshot → train every kind → registry → predictions.

Used by ``meterwise demo`` on the embedded tenant, and by any tenant through settings
(``METERWISE_DATA_DIR``, ``METERWISE_TENANT``). Each step is the same public function the
per-kind commands call, so the demo exercises exactly what data scientists run.
:func:`render_summary` turns the returned summary into the few lines ``meterwise demo`` prints on stdout
(what was validated, trained, promoted and scored, where the outputs are, what to try next).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from features.io import load_tenant
from features.progress import progress, step
from features.settings import DataSettings
from features.snapshots import build_snapshot, resolve_as_of
from training.arrears_job import score_arrears, train_arrears
from training.forecast_job import train_forecast
from training.reports import write_run_report
from training.segments_job import score_segments, train_segments
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
DEMO_CUSTOMER = "MAC000252"  # a demo customer in arrears: the curl shown at the end


def run_pipeline(
    data: DataSettings | None = None,
    training: TrainingSettings | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    freqs: tuple[str, ...] = ("D", "M", "H"),
) -> dict[str, Any]:
    """Run every step; returns a summary: counts, each step's result (versions, metrics, output files).

    The keys are ``tenant``, ``as_of``, ``rows`` (per table: in / accepted / quarantined), ``tracking_uri``
    and one per step name (``features`` ... ``report arrears``) holding that step's return value.
    """
    data = data or DataSettings()
    training = training or TrainingSettings()
    summary: dict[str, Any] = {"tenant": data.tenant, "tracking_uri": training.resolved_tracking_uri()}
    tables, report = load_tenant(data.data_dir)
    as_of = resolve_as_of(tables, as_of)  # the one default rule of every command
    summary["as_of"] = str(as_of.date())
    summary["rows"] = report.counts
    logger.info(
        "validated %s: %s", data.data_dir, ", ".join(f"{t} {c['accepted']:,}" for t, c in report.counts.items())
    )
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
        (
            "report arrears",
            lambda: write_run_report(
                summary["train arrears"].run_id, training, tenant=data.tenant, var_dir=data.var_dir
            ),
        ),
    ]
    for name, run in progress(steps, "meterwise demo", unit="step"):
        started = time.perf_counter()
        with step(name):  # a ticking clock under the steps bar: training a kind takes minutes
            summary[name] = run()
        logger.info("%s done in %.1f s", name, time.perf_counter() - started)
    return summary


def _where(path: Any) -> str:
    """A path relative to the working directory when it is below it (shorter to copy), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _promotion(promoted: bool, reason: str) -> str:
    return f"promoted to champion ({reason})" if promoted else f"kept as challenger ({reason})"


def render_summary(summary: dict[str, Any], arrears: pd.DataFrame, segments: pd.DataFrame) -> str:
    """What ``meterwise demo`` prints: the run in a few plain lines and the next commands to try.

    Parameters
    ----------
    summary : dict
        :func:`run_pipeline`'s return value.
    arrears, segments : pandas.DataFrame
        The arrears and segment scores it wrote (one row per customer).
    """
    rows = summary["rows"]
    quarantined = sum(c["quarantined"] for c in rows.values())
    tables = ", ".join(f"{t} {c['accepted']:,}" for t, c in rows.items())
    arr, seg, fc = summary["train arrears"], summary["train segments"], summary["train forecast"]
    auc = arr.metrics.get("heldout_roc_auc", arr.metrics.get("roc_auc"))
    arr_reason = arr.decision.reason if arr.decision is not None else "no decision recorded"
    order = arrears.groupby("grade")["probability"].mean().sort_values().index  # safest grade first
    counts = arrears["grade"].value_counts()
    grades = ", ".join(f"{g} {counts[g]}" for g in order)
    sil = seg.metrics.get("silhouette_heldout", seg.metrics.get("silhouette"))
    tenant = summary["tenant"]
    uri = summary["tracking_uri"]
    ui = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite:") else f"open {uri}"
    customer = DEMO_CUSTOMER if DEMO_CUSTOMER in set(arrears["customer_id"]) else str(arrears["customer_id"].iloc[0])
    serve = "meterwise serve" + ("" if tenant == "demo" else f" --tenant {tenant}")
    lines = [
        f"meterwise demo: tenant {tenant}, data as of {summary['as_of']}",
        f"  validated   {tables} rows" + (f" ({quarantined:,} rows quarantined)" if quarantined else " (no bad rows)"),
        f"  features    snapshot in {_where(summary['features'])}",
        f"  arrears     model v{arr.version}: AUC {auc:.3f} on held-out bills; {_promotion(arr.promoted, arr_reason)}",
        f"  segments    model v{seg.version}: {len(seg.segment_names)} segments"
        + (f", held-out silhouette {sil:.2f}" if sil is not None else "")
        + f"; {_promotion(seg.promoted, seg.reason or 'see the run')}",
        f"  forecast    model v{fc['version']}: mean absolute error {fc['score']:.2f} x the seasonal naive's "
        f"(lower is better); {_promotion(fc['promoted'], fc['reason'])}",
        f"  scored      {len(arrears):,} customers for arrears risk (grades {grades})",
        f"              -> {_where(summary['score arrears'])}",
        f"              {int(segments['segment_id'].notna().sum()):,} customers into segments"
        f" -> {_where(summary['score segments'])}",
        f"  report      {_where(summary['report arrears'])} (the arrears run: figures, metrics)",
        f"  registry    {uri} (models meterwise-{tenant}-arrears, -segments, -forecast)",
        "",
        "Next:",
        f"  {serve}                        # the API on http://127.0.0.1:8000, docs at /docs",
        f"  curl -H 'X-API-Key: billing-key' localhost:8000/v1/arrears/{customer}",
        f"  {ui}",
        f"  meterwise report segments@champion{'' if tenant == 'demo' else f' --tenant {tenant}'}",
    ]
    return "\n".join(lines)
