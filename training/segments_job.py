"""Segmentation jobs (all I/O here): train -> log -> register -> promote, and batch scoring.

- :func:`train_segments`: load the tenant, build load shapes as of a day, fit
  :class:`~training.segmentation.LoadShapeSegmenter` (names matched to the champion's centroids),
  measure silhouette, Davies-Bouldin and bootstrap stability, log metrics, report and plots to MLflow,
  register the version and promote it when its silhouette on this data beats the champion's.
- :func:`score_segments`: segment, value band, arrears grade and strategy per customer, written to
  ``<var>/scores/<tenant>/segments/<as_of>.parquet`` and ``latest.parquet``.
- ``meterwise train segments`` / ``score segments`` are in :mod:`training.cli.segments`.

The fit is pure (:mod:`training.segmentation`); MLflow is reached only through :mod:`training.registry`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ModelNotReady
from features.io import load_tenant
from features.settings import DataSettings
from features.shapes import temperature_response
from training import registry
from training.lifecycle import apply_decision, data_id, judge
from training.promotion import Decision, Scored
from training.segment_names import segment_profiles
from training.segment_quality import bootstrap_stability, evaluate_segments, heldout_customers, spread
from training.segmentation import LoadShapeSegmenter
from training.segments_scoring import (
    SCORE_COLUMNS,
    TABLES,
    _latest_day,
    _read_grades,
    _shapes,
    score_frame,
    score_segments,
)
from training.settings import TrainingSettings
from training.value_matrix import ValueCreditMatrix, dump_rules, load_rules

logger = logging.getLogger(__name__)
__all__ = ["SCORE_COLUMNS", "SegmentsConfig", "promote_version", "score_frame", "score_segments", "train_segments"]
KIND = "segments"
FEATURE_VERSION = "shapes-v1"
PROMOTE_METRIC = "silhouette"  # on the same held-out customers, in the challenger's feature space
HELDOUT_FRAC = 0.2  # customers (stable hash of the id) never fitted on: promotion and held-out scores
MIN_HELDOUT = 10  # a small tenant still holds out this many customers (half of them at most)


@dataclass(frozen=True)
class SegmentsConfig:
    """What a segmentation run is configured with (logged as MLflow params)."""

    k_min: int = 3
    k_max: int = 8
    method: str = "kmeans"
    window_days: int = 365
    min_days: int = 300
    n_boot: int = 5
    strategies: Path | None = None
    heldout_frac: float = HELDOUT_FRAC  # JSON strategy rules; default rules when None

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
    reason: str = ""


@dataclass(frozen=True)
class _Champion:
    bundle: Any
    version: str
    as_of: pd.Timestamp


def _load_champion(reg: registry.Registry) -> _Champion | None:
    """The registered champion and its training cutoff; None when there is none."""
    version = reg.champion_version(KIND)
    if version is None:
        return None
    bundle, version = reg.load_version(KIND, version)
    return _Champion(bundle, version, pd.Timestamp(reg.version_run(KIND, version)["params"]["as_of"]))


def split_customers(shapes: pd.DataFrame, frac: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, held-out) customers of `shapes`; the same customers are held out by every retrain."""
    held = heldout_customers(shapes.index, frac, min_count=min(MIN_HELDOUT, len(shapes) // 2))
    return shapes[~held], shapes[held]


def heldout_score(
    model: Any, heldout: pd.DataFrame, *, space: Any, version: str | None, as_of: pd.Timestamp
) -> Scored | None:
    """Held-out silhouette of `model`'s segments, measured in `space` (the challenger's scaling); None when
    the model cannot segment these shapes (e.g. needs features they lack)."""
    try:
        value = evaluate_segments(model, heldout, space=space)["silhouette"]
    except (ValueError, KeyError) as err:
        logger.warning("segments v%s cannot be scored on the held-out customers: %s", version, err)
        return None
    rows_id = data_id(pd.Index(heldout.index.astype(str)), pd.Series([str(heldout.attrs.get("as_of"))]))
    return Scored(version, PROMOTE_METRIC, float(value), True, rows_id, pd.Timestamp(as_of))


def compare(
    tables: dict[str, pd.DataFrame],
    model: Any,
    *,
    version: str | None,
    as_of: pd.Timestamp,
    champion: _Champion | None,
    heldout_frac: float,
    shapes: pd.DataFrame | None = None,
) -> tuple[Scored, Scored | None]:
    """Challenger and champion scored on the same held-out customers, as of the later of their cutoffs,
    in the challenger's feature space."""
    newest = max(as_of, champion.as_of) if champion is not None else as_of
    if shapes is None or newest != as_of:
        shapes = _shapes(tables, newest, int(getattr(model, "window_days", 365)))
    heldout = split_customers(shapes, heldout_frac)[1]
    heldout.attrs["as_of"] = str(newest.date())
    challenger = heldout_score(model, heldout, space=model, version=version, as_of=as_of)
    if challenger is None:
        raise ModelNotReady(KIND, "the candidate cannot segment its own held-out customers")
    champ = None
    if champion is not None:
        champ = heldout_score(champion.bundle, heldout, space=model, version=champion.version, as_of=champion.as_of)
    return challenger, champ


def flat_metrics(quality: dict, heldout: dict, aris: list[float]) -> dict[str, float]:
    """MLflow-ready metrics: in-sample and held-out quality, OOB stability spread, one ``size_<i>`` per segment."""
    out = {k: float(v) for k, v in quality.items() if k != "sizes"}
    out |= {f"{k}_heldout": float(v) for k, v in heldout.items() if k in {"silhouette", "davies_bouldin", "customers"}}
    out |= {f"bootstrap_ari_oob_{k}": v for k, v in spread(aris).items()}
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

    The model is fitted on the customers outside the held-out share (``config.heldout_frac``, a stable
    hash of the id); it and the champion are scored on the held-out customers, as of the later of their
    cutoffs, in this model's feature space, and judged by :func:`training.promotion.decide`. The run logs
    the per-customer migration from the champion (file, transition table, plot).

    Parameters
    ----------
    as_of : pandas.Timestamp, optional
        Cutoff of the shapes (default: latest reading day).
    config : SegmentsConfig, optional
        k range, method, window, bootstrap refits, held-out share, strategy rules.
    promote, force : bool
        Move ``champion`` when the rule says so, or regardless with `force`.
    """
    config = config or SegmentsConfig()
    tables, report = load_tenant(data.data_dir, tables=TABLES)
    as_of = _latest_day(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    shapes = _shapes(tables, as_of, config.window_days)
    reg = registry.open_registry(training, data.tenant)
    champion = _load_champion(reg)
    fit_shapes, heldout = split_customers(shapes, config.heldout_frac)
    model = config.segmenter(training.seed).fit(fit_shapes, previous=champion.bundle if champion else None)
    quality = evaluate_segments(model, fit_shapes, random_state=training.seed)
    held_quality = evaluate_segments(model, heldout, random_state=training.seed)
    aris = bootstrap_stability(model, fit_shapes, n_boot=config.n_boot, random_state=training.seed)
    metrics = flat_metrics(quality, held_quality, aris)
    challenger, champ = compare(
        tables, model, version=None, as_of=as_of, champion=champion, heldout_frac=config.heldout_frac, shapes=shapes
    )
    decision = judge(challenger, champ, training=training, has_champion=champion is not None, force=force)
    metrics[f"heldout_{PROMOTE_METRIC}"] = challenger.value
    if champ is not None:
        metrics[f"champion_{PROMOTE_METRIC}"] = champ.value
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
        reg.log_table(pd.DataFrame([decision.tags()]), "promotion/decision.csv")
        assigned = model.assign_strategies(shapes, _read_grades(data, None))
        reg.log_table(model.matrix_.cells(assigned), "value_credit_matrix.csv")
        migration = None
        if champion is not None:
            old = shapes if champion.as_of == as_of else _shapes(tables, champion.as_of, config.window_days)
            migration = _migration(champion.bundle, old, model, shapes, champion.version, "new")
        _log_report(reg, model, tables, shapes, quality, metrics, assigned, as_of, config, migration)
        example = shapes.reset_index()[["customer_id", "days_observed", "kwh_mean_day", *model.feature_names_in_]]
        example = example.astype({"days_observed": float})  # may be missing in a request
        model_uri = reg.log_model(KIND, model, example.head(20))
    version = reg.register(KIND, model_uri, tags={"as_of": tags["as_of"], "k": str(model.n_clusters_)})
    decision = dataclasses.replace(decision, challenger=dataclasses.replace(challenger, version=version))
    promoted = False
    if promote or force:
        promoted = apply_decision(reg, KIND, decision, training=training, bundle=model, meta={"metric": PROMOTE_METRIC})
    logger.info(
        "segments v%s: k=%d held-out silhouette %.3f (champion %s), OOB ARI %.3f [p10 %.3f]: %s",
        version, model.n_clusters_, challenger.value, None if champ is None else round(champ.value, 3),
        metrics["bootstrap_ari_oob_mean"], metrics["bootstrap_ari_oob_p10"], decision.reason,
    )  # fmt: skip
    return SegmentsTrainResult(
        run_id, version, promoted, metrics, champion.version if champion else None, list(model.segment_names_),
        decision.reason,
    )  # fmt: skip


def promote_version(data: DataSettings, training: TrainingSettings, version: str, *, force: bool = False) -> Decision:
    """Promote registered `version` if it beats the champion on the same held-out customers.

    Both are re-scored on the held-out customers as of the later of their cutoffs, in `version`'s
    feature space, and judged by :func:`training.promotion.decide`; a champion that cannot be re-scored
    is a refusal (unless forced).

    Raises
    ------
    ModelNotReady
        No such version.
    """
    reg = registry.open_registry(training, data.tenant)
    params = reg.version_run(KIND, version)["params"]
    candidate, version = reg.load_version(KIND, version)
    champion = _load_champion(reg)
    tables, _ = load_tenant(data.data_dir, tables=TABLES)
    same = champion is not None and champion.version == version
    challenger, champ = compare(
        tables,
        candidate,
        version=version,
        as_of=pd.Timestamp(params["as_of"]),
        champion=None if same else champion,
        heldout_frac=float(params.get("heldout_frac", HELDOUT_FRAC)),
    )
    if same:
        return Decision(True, "already champion", None, challenger, None)
    decision = judge(challenger, champ, training=training, has_champion=champion is not None, force=force)
    apply_decision(reg, KIND, decision, training=training, bundle=candidate, meta={"metric": PROMOTE_METRIC})
    return decision


def _migration(old_model, old_shapes, new_model, new_shapes, old_version: str, new_version: str) -> pd.DataFrame:
    from training.segment_migration import migration_frame

    return migration_frame(
        old_model, old_shapes, new_model, new_shapes, from_version=old_version, to_version=new_version
    )


def _log_report(reg, model, tables, shapes, quality, metrics, assigned, as_of, config, migration=None) -> None:
    from training.plots.segments import write_migration_files, write_report

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
        if migration is not None:
            write_migration_files(folder / "migration", migration)
        reg.log_artifacts(folder, "report")
