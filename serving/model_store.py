"""Loaded models per kind: load the champion at start, reload = load, admit, swap one reference.

Admission (MLServer's ``_reload_model`` habit): the candidate must unpickle, offer the interface and
feature names its kind needs and score canary rows with finite outputs (probabilities in [0, 1])
before it replaces anything. A refused candidate raises :class:`ModelRejected` and the old runtime
keeps serving; in-flight requests finish on whichever runtime they already hold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from features.errors import MeterwiseError, ModelNotReady, ModelRejected, SnapshotNotFound
from features.settings import bundle_dir, scores_dir
from features.settings import snapshot_root as tenant_snapshot_root
from serving.gil import yielding_gil
from serving.live import LiveScores
from serving.runtimes import RUNTIMES, Runtime, ScoreIndex
from serving.settings import ServingSettings
from serving.snapshots import Snapshot, SnapshotWatcher, current_folder
from serving.validation import declared_units, unit_bounds

logger = logging.getLogger(__name__)
CHAMPION = "champion"
#: ``loader(kind, version_or_alias) -> (bundle, version, source)``
Loader = Callable[[str, str], tuple[Any, str, str]]
SEGMENT_COLUMNS = ("segment_id", "segment_name", "strategy", "distance", "model_version", "as_of")
CANARY_ROWS = 8
LIVE_KINDS = ("arrears", "segments")  # kinds answering by id from the feature snapshot


def scores_path(settings: ServingSettings, kind: str) -> Path:
    """Batch scores written by ``meterwise score <kind> --tenant <tenant>``."""
    return scores_dir(settings.var_dir, settings.tenant, kind) / "latest.parquet"


def snapshot_root(settings: ServingSettings) -> Path:
    """The tenant's feature snapshots (``<root>/<as_of>/profiles.parquet`` + ``latest`` pointer)."""
    return tenant_snapshot_root(settings.var_dir, settings.tenant)


def snapshot_path(settings: ServingSettings) -> Path | None:
    """Latest feature snapshot's ``profiles.parquet`` (the ``latest`` pointer, else the newest folder)."""
    folder = current_folder(snapshot_root(settings))
    return None if folder is None else folder / "profiles.parquet"


def registry_loader(settings: ServingSettings) -> Loader:
    """The tenant's champion (``meterwise-<tenant>-<kind>``) from the MLflow registry; its
    ``models/<tenant>/<kind>/model.joblib`` when no registry is reachable. Reads only: it never changes
    run or registry state."""

    def load(kind: str, ref: str) -> tuple[Any, str, str]:
        reason = "registry disabled (METERWISE_USE_REGISTRY=false)"
        if settings.use_registry:
            from training.settings import TrainingSettings

            training = TrainingSettings(
                var_dir=settings.var_dir, models_dir=settings.models_dir, tracking_uri=settings.tracking_uri
            )
            uri = training.resolved_tracking_uri()
            if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
                reason = "no registry database (sqlite file missing)"
            else:
                try:
                    from training.registry import open_registry  # the only MLflow door; lazily (slow import)

                    bundle, version = open_registry(training, settings.tenant).load_version(kind, ref)
                    return bundle, version, "registry"
                except ModelRejected:  # the registry answered with a bad model: refuse, never fall back
                    raise
                except ModelNotReady:
                    if ref != CHAMPION:  # a named version or alias the registry lacks: say so
                        raise
                    reason = "no champion in the registry"
                except Exception as err:  # any registry failure falls back below, loudly
                    logger.warning("%s: registry at %s failed: %s: %s", kind, uri, type(err).__name__, err)
                    reason = f"registry failed ({type(err).__name__})"
        folder = bundle_dir(settings.models_dir, settings.tenant, kind)
        logger.warning("%s: registry unavailable (%s); falling back to %s", kind, reason, folder / "model.joblib")
        if not (folder / "model.joblib").exists():  # the reason reaches clients: no paths, no URIs
            raise ModelNotReady(kind, f"{reason}; and no fallback bundle models/{settings.tenant}/{kind}/model.joblib")
        meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
        version = str(meta.get("version", "unknown"))
        if ref not in (CHAMPION, version):
            raise ModelNotReady(kind, f"version {ref!r} needs the registry ({reason}); models/ holds v{version}")
        return joblib.load(folder / "model.joblib"), version, "models_dir"

    return load


def _read(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.exists():
        return None
    return pd.read_parquet(path)


def feature_units(names: list[str], bundle: Any, snapshot: Snapshot | None) -> dict[str, str]:
    """Declared unit of each feature: the snapshot manifest, else the bundle's ``feature_descriptions``,
    else the feature modules' ``FEATURE_DESCRIPTIONS``; undeclared features get no bounds."""
    from features.profiles import FEATURE_DESCRIPTIONS as PROFILE_UNITS
    from features.training_sets import FEATURE_DESCRIPTIONS as TRAINING_UNITS

    manifest = snapshot.units if snapshot is not None else None
    return declared_units(names, manifest, getattr(bundle, "feature_descriptions", None), PROFILE_UNITS, TRAINING_UNITS)


def build_runtime(
    kind: str, bundle: Any, version: str, source: str, settings: ServingSettings, snapshot: Snapshot | None = None
) -> Runtime:
    """Wrap `bundle` with its feature contract (units, bounds) and canary rows from the current snapshot.

    Arrears features must all be in the snapshot (answers by id are computed from it). Segments read the
    batch-scoring file as a fallback only when the snapshot lacks their load-shape features.
    """
    cls = RUNTIMES.get(kind)
    if cls is None:
        raise ModelRejected(kind, f"unknown kind; expected one of {sorted(RUNTIMES)}")
    names = [str(c) for c in getattr(bundle, "feature_names_in_", [])]
    missing = snapshot.missing(names) if snapshot is not None and names else names
    if kind == "arrears" and snapshot is not None and missing:  # a renamed or new feature
        raise ModelRejected(kind, f"features {missing[:5]} are not in the feature snapshot (contract)")
    canary = None
    if snapshot is not None and names and not missing:
        canary = snapshot.matrix(names)[:CANARY_ROWS]
    scores = strategies = None
    if kind == "segments" and names and missing:
        frame = _read(scores_path(settings, kind))
        if frame is not None:
            logger.warning(
                "segments: the feature snapshot lacks %s; by-id answers come from the batch scores", missing[:3]
            )
            scores = ScoreIndex.from_frame(frame, SEGMENT_COLUMNS)
            if "strategy" in frame:  # only when a segment implies one strategy
                per_segment = frame.groupby("segment_id")["strategy"].agg(["nunique", "first"])
                if (per_segment["nunique"] <= 1).all():
                    strategies = per_segment["first"].to_dict()
    units = feature_units(names, bundle, snapshot)
    lower, upper = unit_bounds(names, units)
    return cls(
        kind=kind,
        bundle=bundle,
        version=version,
        source=source,
        scores=scores,
        canary=canary,
        strategies=strategies or {},
        units=units,
        lower=lower,
        upper=upper,
        threads=settings.predict_threads or os.cpu_count() or 1,  # for batches of PARALLEL_ROWS rows or more
    )


class ModelStore:
    """The live runtime per kind, swapped as one reference."""

    def __init__(self, settings: ServingSettings, loader: Loader | None = None, *, warm_reasons: bool = True):
        self.settings, self.warm_reasons = settings, warm_reasons  # warm: reasons filled in the background
        self._loader = loader or registry_loader(settings)
        self._models: dict[str, Runtime] = {}
        self._errors: dict[str, str] = {kind: "loading" for kind in settings.kinds}
        self._locks = {kind: threading.Lock() for kind in settings.kinds}
        self.snapshots = SnapshotWatcher(snapshot_root(settings))

    def load_all(self) -> None:
        """Load every configured kind; a failure leaves that kind not ready (logged), others go on."""
        for kind in self.settings.kinds:
            with contextlib.suppress(MeterwiseError):  # logged by reload(); the kind stays not ready
                self.reload(kind)

    def get(self, kind: str) -> Runtime:
        runtime = self._models.get(kind)
        if runtime is None:
            raise ModelNotReady(kind, self._errors.get(kind, "not configured"))
        return runtime

    def reload(self, kind: str, ref: str = CHAMPION) -> Runtime:
        """Load `ref`, admit it, swap it in. Raises ModelRejected (old runtime untouched)."""
        if kind not in self._locks:
            raise ModelNotReady(kind, f"not configured; kinds are {list(self.settings.kinds)}")
        with self._locks[kind], yielding_gil():  # one reload per kind at a time; readers never wait on it
            try:
                bundle, version, source = self._loader(kind, ref)
                candidate = build_runtime(kind, bundle, version, source, self.settings, self.snapshots.current())
                candidate.live.warm_reasons = self.warm_reasons
                candidate.check()
                self._warm(candidate)  # scores the whole current snapshot before it goes live
            except (ModelRejected, ModelNotReady) as err:
                self._note_failure(kind, err)
                raise ModelRejected(kind, getattr(err, "reason", str(err))) from err
            except Exception as err:  # corrupt pickle, wrong class, bad canary output...
                self._note_failure(kind, err)
                raise ModelRejected(kind, f"{type(err).__name__}: {str(err)[:200]}") from err
            self._models = {**self._models, kind: candidate}
            self._errors.pop(kind, None)
        logger.info("%s v%s live (from %s)", kind, version, source)
        return candidate

    def _warm(self, runtime: Runtime) -> None:
        """Admission, last step: the candidate scores every customer of the current snapshot (its answers
        by id, cached), so a model that fails on real rows is refused and the first request finds them
        ready. Its reasons too, for up to ``warm_wait_s``: until the swap the old runtime answers from its
        cache; a request after the swap for a customer whose reasons are still missing computes them on
        the event loop (about 2 ms each, which during swaps had raised the p99 of everything else).
        Without a snapshot there is nothing to score (by-id requests answer 503 until one exists)."""
        if runtime.kind in LIVE_KINDS and runtime.scores is None and self.snapshots.current() is not None:
            live = self.live(runtime)
            bad = live.usable & ~np.isfinite(live.columns.get("probability", np.zeros(len(live.usable))))
            if bad.any():
                raise ModelRejected(runtime.kind, f"{int(bad.sum())} snapshot rows scored to a non-finite value")
            wait = self.settings.warm_wait_s
            if not runtime.live.wait_warm(wait):
                logger.info(
                    "%s v%s: reasons not all computed in %.1fs; the rest follow live",
                    runtime.kind,
                    runtime.version,
                    wait,
                )

    def _note_failure(self, kind: str, err: Exception) -> None:
        if kind not in self._models:
            self._errors[kind] = getattr(err, "reason", str(err))
        logger.error("%s: candidate %s refused: %s", kind, "reload" if kind in self._models else "load", err)

    def snapshot(self) -> Snapshot:
        """The current feature snapshot; SnapshotNotFound (503) when the tenant has none."""
        snapshot = self.snapshots.current()
        if snapshot is None:
            raise SnapshotNotFound("latest", f"no feature snapshot under features/{self.settings.tenant}/")
        return snapshot

    def live(self, runtime: Runtime) -> LiveScores:
        """`runtime`'s answers on the current snapshot, cached per (model version, snapshot); computed
        here on a miss (CPU work: call it off the event loop unless :meth:`cached_live` answered)."""
        snapshot = self.snapshot()
        key, grades = self._live_key(runtime, snapshot)
        return runtime.live_scores(snapshot, key, grades=grades)

    def cached_live(self, runtime: Runtime) -> LiveScores | None:
        """The cached answers when they match the snapshot in memory and it is still current on disk, else
        None (four ``stat`` calls; nothing is read or computed)."""
        snapshot = self.snapshots.peek()
        return None if snapshot is None else runtime.live.cached(self._live_key(runtime, snapshot)[0])

    def _live_key(self, runtime: Runtime, snapshot: Snapshot) -> tuple[str, Any]:
        """Cache key and context. Segments feed the live arrears grades into their strategies, so their
        key names the arrears runtime too."""
        arrears = self._models.get("arrears")
        if runtime.kind != "segments" or arrears is None:
            return snapshot.id, None
        key = f"{snapshot.id}|arrears-v{arrears.version}@{arrears.loaded_at}"
        return key, lambda: self._grades(arrears, snapshot)

    def _grades(self, arrears: Runtime, snapshot: Snapshot) -> pd.DataFrame:
        scores = arrears.live_scores(snapshot)
        return pd.DataFrame({"customer_id": snapshot.index, "grade": scores.columns["grade"]})

    def install(self, runtime: Runtime) -> None:
        """Admit and install an already-built runtime (tests, notebooks)."""
        runtime.check()
        self._warm(runtime)
        self._models = {**self._models, runtime.kind: runtime}
        self._errors.pop(runtime.kind, None)

    def not_ready(self) -> dict[str, str]:
        """Required kinds that are not loaded, with the reason."""
        return {k: self._errors.get(k, "not loaded") for k in self.settings.required_kinds if k not in self._models}

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for kind in self.settings.kinds:
            runtime = self._models.get(kind)
            if runtime is None:
                out.append({"kind": kind, "ready": False, "reason": self._errors.get(kind, "not loaded")})
            else:
                out.append({"ready": True, "reason": None, **runtime.describe()})
        return out
