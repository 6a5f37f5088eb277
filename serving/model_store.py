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
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from features.errors import MeterwiseError, ModelNotReady, ModelRejected, SnapshotNotFound
from features.settings import bundle_dir, scores_dir, snapshot_root
from features.snapshots import PROFILES_FILE, latest_as_of
from features.snapshots import snapshot_path as snapshot_folder
from serving.runtimes import REASON_COLUMNS, RUNTIMES, Runtime, ScoreIndex
from serving.settings import ServingSettings

logger = logging.getLogger(__name__)
CHAMPION = "champion"
#: ``loader(kind, version_or_alias) -> (bundle, version, source)``
Loader = Callable[[str, str], tuple[Any, str, str]]
SCORE_COLUMNS = {
    "arrears": ("probability", "grade", "action", *REASON_COLUMNS, "model_version", "as_of"),
    "segments": ("segment_id", "segment_name", "strategy", "distance", "model_version", "as_of"),
}
CANARY_ROWS = 8


def scores_path(settings: ServingSettings, kind: str) -> Path:
    """Batch scores written by ``meterwise score <kind> --tenant <tenant>``."""
    return scores_dir(settings.var_dir, settings.tenant, kind) / "latest.parquet"


def snapshot_path(settings: ServingSettings) -> Path | None:
    """Latest feature snapshot's ``profiles.parquet`` (the ``latest`` pointer of ``features/snapshots.py``),
    else the newest ``<as_of>/profiles.parquet`` folder; None when there is none."""
    root = snapshot_root(settings.var_dir, settings.tenant)
    try:
        folder = snapshot_folder(root, latest_as_of(root))
        if (folder / PROFILES_FILE).exists():
            return folder / PROFILES_FILE
    except SnapshotNotFound:
        pass
    found = sorted(root.glob(f"*/{PROFILES_FILE}")) if root.exists() else []
    return found[-1] if found else None


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


def build_runtime(kind: str, bundle: Any, version: str, source: str, settings: ServingSettings) -> Runtime:
    """Wrap `bundle` with its score index and canary rows (read from the latest scores and snapshot)."""
    cls = RUNTIMES.get(kind)
    if cls is None:
        raise ModelRejected(kind, f"unknown kind; expected one of {sorted(RUNTIMES)}")
    names = [str(c) for c in getattr(bundle, "feature_names_in_", [])]
    profiles = _read(snapshot_path(settings)) if names else None
    canary = None
    if kind == "arrears" and profiles is not None and not set(names) <= set(profiles.columns):
        missing = [n for n in names if n not in profiles.columns]  # a renamed or new feature
        raise ModelRejected(kind, f"features {missing[:5]} are not in the feature snapshot (contract)")
    if profiles is not None and set(names) <= set(profiles.columns):
        canary = profiles[names].head(CANARY_ROWS).to_numpy(dtype=np.float64, na_value=np.nan)
    scores = strategies = None
    if kind in SCORE_COLUMNS:
        frame = _read(scores_path(settings, kind))
        if frame is None and kind == "arrears" and canary is not None:
            frame = _score_snapshot(cls, bundle, version, source, profiles, names, snapshot_path(settings))
        if frame is not None:
            snap = snapshot_path(settings)
            snap_day = pd.to_datetime(snap.parent.name, errors="coerce") if snap is not None else None
            scores = ScoreIndex.from_frame(
                frame,
                SCORE_COLUMNS[kind],
                stale_after_days=settings.stale_after_days,
                snapshot_as_of=None if snap_day is None or pd.isna(snap_day) else snap_day,
            )
            if scores.model_version not in (None, version):
                logger.warning(
                    "%s: batch scores come from v%s but v%s is loaded; by-id answers report v%s until "
                    "`meterwise score %s` runs again",
                    kind,
                    scores.model_version,
                    version,
                    scores.model_version,
                    kind,
                )
            if kind == "segments" and "strategy" in frame:  # only when a segment implies one strategy
                per_segment = frame.groupby("segment_id")["strategy"].agg(["nunique", "first"])
                if (per_segment["nunique"] <= 1).all():
                    strategies = per_segment["first"].to_dict()
        else:
            logger.warning(
                "%s: no batch scores at %s; by-id requests will answer 503", kind, scores_path(settings, kind)
            )
    return cls(
        kind=kind,
        bundle=bundle,
        version=version,
        source=source,
        scores=scores,
        canary=canary,
        strategies=strategies or {},
    )


def _score_snapshot(
    cls: type[Runtime], bundle: Any, version: str, source: str, profiles: pd.DataFrame, names: list[str], path: Path
) -> pd.DataFrame | None:
    """No batch scores yet: score the latest snapshot once at load (vectorised; reasons stay empty)."""
    try:
        X = profiles[names].to_numpy(dtype=np.float64, na_value=np.nan)
        p = cls(kind="arrears", bundle=bundle, version=version, source=source)._public_probability(X)
        grades, actions = bundle.grade(p)
    except Exception as err:  # admission reports the real problem on the canary rows
        logger.warning("arrears: could not score the snapshot at load: %s", err)
        return None
    logger.warning(
        "arrears: no batch scores; scored %d snapshot rows at load without reasons (run `meterwise score arrears`)",
        len(X),
    )
    return pd.DataFrame(
        {
            "customer_id": profiles["customer_id"].astype(str).to_numpy(),
            "probability": p,
            "grade": grades,
            "action": actions,
            "model_version": version,
            "as_of": pd.to_datetime(path.parent.name, errors="coerce"),
        }
    )


class ModelStore:
    """The live runtime per kind, swapped as one reference."""

    def __init__(self, settings: ServingSettings, loader: Loader | None = None):
        self.settings = settings
        self._loader = loader or registry_loader(settings)
        self._models: dict[str, Runtime] = {}
        self._errors: dict[str, str] = {kind: "loading" for kind in settings.kinds}
        self._locks = {kind: threading.Lock() for kind in settings.kinds}

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
        with self._locks[kind]:  # one reload per kind at a time; readers never wait on this lock
            try:
                bundle, version, source = self._loader(kind, ref)
                candidate = build_runtime(kind, bundle, version, source, self.settings)
                candidate.check()
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

    def _note_failure(self, kind: str, err: Exception) -> None:
        if kind not in self._models:
            self._errors[kind] = getattr(err, "reason", str(err))
        logger.error("%s: candidate %s refused: %s", kind, "reload" if kind in self._models else "load", err)

    def install(self, runtime: Runtime) -> None:
        """Admit and install an already-built runtime (tests, notebooks)."""
        runtime.check()
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
