"""Segmentation jobs (all I/O here): train -> log -> register -> promote, and batch scoring.

- :func:`train_segments`: load the tenant, build load shapes as of a day, fit
  :class:`~training.segmentation.LoadShapeSegmenter` (names matched to the champion's centroids),
  measure silhouette, Davies-Bouldin and bootstrap stability, log metrics, report and plots to MLflow,
  register the version and promote it when its silhouette on this data beats the champion's.
- :func:`score_segments`: segment, value band, arrears grade and strategy per customer, written to
  ``<var>/scores/<tenant>/segments/<as_of>.parquet`` and ``latest.parquet``.
- :func:`train_segments_cmd`, :func:`score_segments_cmd`: typer commands for ``meterwise train segments``
  and ``meterwise score segments`` (mounted by the CLI owners).

The fit is pure (:mod:`training.segmentation`); MLflow is reached only through :mod:`training.registry`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from features.cli import AsOf, DataDir, Tenant, tenant_settings
from features.errors import ModelNotReady
from features.io import load_tenant, write_table
from features.settings import DataSettings
from features.shapes import build_shapes, temperature_response
from features.snapshots import default_as_of
from training import registry
from training.segment_names import segment_profiles
from training.segmentation import LoadShapeSegmenter, bootstrap_stability, evaluate_segments
from training.settings import TrainingSettings
from training.value_matrix import ValueCreditMatrix, dump_rules, load_rules

logger = logging.getLogger(__name__)
KIND = "segments"
FEATURE_VERSION = "shapes-v1"
PROMOTE_METRIC = "silhouette"  # champion and new version scored on the same customers
TABLES = ("customers", "readings", "interval_readings", "weather")
SCORE_COLUMNS = (
    "customer_id", "segment_id", "segment_name", "distance", "value_band", "grade", "strategy",
    "is_key_account", "is_high_risk", "kwh_mean_day", "days_observed", "model_version", "as_of",
)  # fmt: skip


@dataclass(frozen=True)
class SegmentsConfig:
    """What a segmentation run is configured with (logged as MLflow params)."""

    k_min: int = 3
    k_max: int = 8
    method: str = "kmeans"
    window_days: int = 365
    min_days: int = 300
    n_boot: int = 5
    strategies: Path | None = None  # JSON strategy rules; default rules when None

    def segmenter(self, seed: int) -> LoadShapeSegmenter:
        rules = load_rules(self.strategies) if self.strategies else None
        return LoadShapeSegmenter(
            k_range=(self.k_min, self.k_max),
            method=self.method,
            min_days=self.min_days,
            window_days=self.window_days,
            matrix=ValueCreditMatrix(rules=rules),
            random_state=seed,
        )


@dataclass
class SegmentsTrainResult:
    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    champion_version: str | None
    segment_names: list[str]


def _latest_day(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    return default_as_of(tables)  # the one default as_of rule of every command


def _shapes(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, window_days: int) -> pd.DataFrame:
    return build_shapes(
        tables["readings"],
        as_of=as_of,
        window_days=window_days,
        interval_readings=tables.get("interval_readings"),
        weather=tables.get("weather"),
        customers=tables.get("customers"),
    )


def _champion(reg: registry.Registry, shapes: pd.DataFrame) -> tuple[Any, str | None, float | None]:
    """(champion bundle, version, its silhouette on `shapes`), Nones when there is none or it cannot score."""
    try:
        bundle, version = reg.load_version(KIND, registry.CHAMPION)
    except ModelNotReady:
        return None, None, None
    try:
        return bundle, version, float(bundle.score(shapes))
    except (ValueError, KeyError) as err:  # e.g. needs features the current shapes lack
        logger.warning("champion v%s cannot score the current shapes (%s): not comparable", version, err)
        return bundle, version, None


def flat_metrics(quality: dict, aris: list[float]) -> dict[str, float]:
    """MLflow-ready metrics: quality, stability and one ``size_<segment_id>`` per segment."""
    out = {k: float(v) for k, v in quality.items() if k != "sizes"}
    out |= {"stability_ari_mean": float(np.mean(aris)), "stability_ari_min": float(np.min(aris))} if aris else {}
    out |= {f"size_{i}": float(n) for i, n in enumerate(quality["sizes"].values())}
    return out


def train_segments(
    data: DataSettings,
    training: TrainingSettings,
    *,
    as_of: pd.Timestamp | None = None,
    config: SegmentsConfig | None = None,
    promote: bool = True,
    force: bool = False,
) -> SegmentsTrainResult:
    """Fit, evaluate, log, register and (optionally) promote one segmentation version.

    Parameters
    ----------
    as_of : pandas.Timestamp, optional
        Cutoff of the shapes (default: latest reading day).
    config : SegmentsConfig, optional
        k range, method, window, bootstrap refits, strategy rules.
    promote, force : bool
        Move ``champion`` when the new silhouette beats the champion's on the same customers (by
        ``training.promote_margin``), or regardless with `force`.
    """
    config = config or SegmentsConfig()
    tables, report = load_tenant(data.data_dir, tables=TABLES)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    shapes = _shapes(tables, as_of, config.window_days)
    reg = registry.open_registry(training, data.tenant)
    previous, champion_version, champion_score = _champion(reg, shapes)
    model = config.segmenter(training.seed).fit(shapes, previous=previous)
    quality = evaluate_segments(model, shapes, random_state=training.seed)
    aris = bootstrap_stability(model, shapes, n_boot=config.n_boot, random_state=training.seed) if config.n_boot else []
    metrics = flat_metrics(quality, aris)
    if champion_score is not None:
        metrics["champion_silhouette"] = champion_score
    params = {
        **{k: str(v) for k, v in asdict(config).items()},
        "as_of": str(as_of.date()),
        "k_chosen": model.n_clusters_,
        "features": len(model.feature_names_in_),
        "k_scores": json.dumps({k: round(v, 4) for k, v in model.selection_scores_.items()}),
        "name_matches": json.dumps(model.name_matches_),
        **{f"data_hash_{t}": h for t, h in report.hashes.items()},
    }
    tags = {"tenant": data.tenant, "as_of": str(as_of.date()), "feature_version": FEATURE_VERSION}
    with reg.training_run(KIND, tags=tags, params=params) as run_id:
        reg.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        reg.log_table(model.centroids_.reset_index(), "centroids.csv")
        assigned = model.assign_strategies(shapes, _read_grades(data, None))
        reg.log_table(model.matrix_.cells(assigned), "value_credit_matrix.csv")
        _log_report(reg, model, tables, shapes, quality, metrics, assigned, as_of, config)
        example = shapes.reset_index()[["customer_id", "days_observed", "kwh_mean_day", *model.feature_names_in_]]
        example = example.astype({"days_observed": float})  # may be missing in a request
        model_uri = reg.log_model(KIND, model, example.head(20))
    version = reg.register(KIND, model_uri, tags={"as_of": tags["as_of"], "k": str(model.n_clusters_)})
    promoted = False
    if promote or force:
        promoted = reg.promote_if_better(
            KIND, version, metrics[PROMOTE_METRIC], champion_score, margin=training.promote_margin, force=force
        )
        if promoted:
            reg.export_bundle(KIND, model, version, training.models_dir, {PROMOTE_METRIC: metrics[PROMOTE_METRIC]})
    logger.info(
        "segments v%s: k=%d silhouette %.3f stability %.3f (champion v%s %s)%s",
        version, model.n_clusters_, metrics["silhouette"], metrics.get("stability_ari_mean", float("nan")),
        champion_version, champion_score, " -> champion" if promoted else "",
    )  # fmt: skip
    return SegmentsTrainResult(run_id, version, promoted, metrics, champion_version, list(model.segment_names_))


def _log_report(reg, model, tables, shapes, quality, metrics, assigned, as_of, config) -> None:
    from training.plots.segments import write_report

    labels = model.predict_frame(shapes)["segment_name"]
    profiles = segment_profiles(model.centroids_, quality["sizes"], members=shapes.assign(segment_name=labels))
    reg.log_table(profiles, "segment_profiles.csv")
    weather = tables.get("weather")
    curve = None
    if weather is not None and len(weather):
        curve = temperature_response(
            tables["readings"], weather, tables["customers"], labels[labels != "insufficient data"],
            as_of=as_of, window_days=config.window_days,
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shown = {k: v for k, v in metrics.items() if not k.startswith("size_")}
        cells = model.matrix_.cells(assigned)
        write_report(folder, model.centroids_, shown, quality["sizes"], cells, curve, profiles)
        (folder / "strategies.json").write_text(dump_rules(model.matrix_.rules_))
        reg.log_artifacts(folder, "report")


def score_frame(
    model: LoadShapeSegmenter, shapes: pd.DataFrame, grades: pd.DataFrame | None, *, version: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Pure: segment, distance, value band, grade, flags and strategy per customer of `shapes`."""
    out = model.assign_strategies(shapes, grades)
    out["days_observed"] = shapes["days_observed"].reindex(out["customer_id"]).to_numpy()
    out = out.assign(model_version=str(version), as_of=pd.Timestamp(as_of).normalize())
    return out[list(SCORE_COLUMNS)]


def _read_grades(data: DataSettings, path: Path | None) -> pd.DataFrame | None:
    path = path or data.scores_dir("arrears") / "latest.parquet"
    if not Path(path).exists():
        logger.warning("no arrears scores at %s: every customer's grade is 'unscored'", path)
        return None
    return pd.read_parquet(path, columns=["customer_id", "grade"])


def score_segments(
    data: DataSettings,
    training: TrainingSettings,
    *,
    as_of: pd.Timestamp | None = None,
    model: str = registry.CHAMPION,
    grades_path: Path | None = None,
) -> Path:
    """Score every customer with readings in the window; returns the written file.

    Writes ``<var_dir>/scores/<tenant>/segments/<YYYY-MM-DD>.parquet`` and replaces ``latest.parquet``
    atomically. Grades come from `grades_path` (default: the arrears batch scores' ``latest.parquet``).
    """
    bundle, version = registry.open_registry(training, data.tenant).load_or_exported(KIND, model)
    tables, _ = load_tenant(data.data_dir, tables=TABLES)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    window = int(getattr(bundle, "window_days", 365))
    scores = score_frame(
        bundle, _shapes(tables, as_of, window), _read_grades(data, grades_path), version=version, as_of=as_of
    )
    folder = data.scores_dir(KIND)
    path = write_table(scores, folder / f"{as_of.date()}.parquet")
    tmp = folder / f".latest.{os.getpid()}.parquet"
    shutil.copyfile(path, tmp)
    tmp.replace(folder / "latest.parquet")
    counts = scores["segment_name"].value_counts().to_dict()
    logger.info(
        "segment scores: %d customers as of %s (model v%s) %s -> %s", len(scores), as_of.date(), version, counts, path
    )
    return path


# --- typer commands (mounted as `meterwise train segments` / `meterwise score segments`) ----------------


def train_segments_cmd(
    as_of: AsOf = None,
    k_min: Annotated[int, typer.Option(help="fewest segments tried")] = 3,
    k_max: Annotated[int, typer.Option(help="most segments tried")] = 8,
    method: Annotated[str, typer.Option(help="kmeans (k by silhouette) or gmm (k by BIC)")] = "kmeans",
    window_days: Annotated[int, typer.Option(help="days of readings per shape")] = 365,
    min_days: Annotated[int, typer.Option(help="days a customer needs to get a segment")] = 300,
    n_boot: Annotated[int, typer.Option(help="bootstrap refits for the stability ARI (0: skip)")] = 5,
    strategies: Annotated[Path | None, typer.Option(help="JSON strategy rules (default: built-in rules)")] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="register without moving champion")] = False,
    force: Annotated[bool, typer.Option("--force", help="promote even if not better")] = False,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """Cluster customers by load shape, name the segments, log to MLflow, register and promote."""
    config = SegmentsConfig(k_min, k_max, method, window_days, min_days, n_boot, strategies)
    result = train_segments(
        tenant_settings(tenant, data_dir), TrainingSettings(), as_of=pd.Timestamp(as_of) if as_of else None,
        config=config, promote=not no_promote, force=force,
    )  # fmt: skip
    typer.echo(json.dumps(asdict(result), indent=2, default=str))


def score_segments_cmd(
    as_of: AsOf = None,
    model: Annotated[str, typer.Option(help="registry version or alias")] = registry.CHAMPION,
    grades: Annotated[Path | None, typer.Option(help="arrears scores with customer_id, grade")] = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """Write each customer's segment, distance, value band, grade and strategy to var/scores/<tenant>/segments/."""
    path = score_segments(
        tenant_settings(tenant, data_dir),
        TrainingSettings(),
        as_of=pd.Timestamp(as_of) if as_of else None,
        model=model,
        grades_path=grades,
    )
    typer.echo(str(path))
