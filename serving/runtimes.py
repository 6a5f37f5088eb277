"""Model runtimes, one tiny class per kind (MLServer style): wrap a bundle, self-check, score.

A runtime is immutable once built: the store swaps whole runtimes, so a request that picked one up
finishes on it even while a reload installs the next. Answers by id are computed live from the current
feature snapshot (``serving/live.py``) and cached on the runtime, so a reload starts from an empty cache.
Segments fall back to the batch-scoring file (:class:`ScoreIndex`) only while the snapshot lacks the
model's load-shape features.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ModelNotReady, ModelRejected
from serving.lgbm import CompiledForest, SingleRowPredictor, compile_forest
from serving.live import LiveCache, LiveScores, row_status
from serving.snapshots import IdIndexed, Snapshot

logger = logging.getLogger(__name__)
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
PARALLEL_ROWS = 1_000  # below this, one thread: spinning up OpenMP costs more than it saves
COMPILED_PARALLEL_ROWS = 50_000  # compiled trees: ~0.4 us a row, so a thread pool pays only on big batches
HAS_BILLS = "has_bills"  # arrears: a customer with no bill yet has no payment history to score
SEGMENT_CONTEXT = ("customer_id", "days_observed", "kwh_mean_day")  # used by segmenters beside their features


@dataclass(frozen=True)
class ScoreIndex(IdIndexed):
    """Batch-scoring outputs as numpy columns, indexed by customer id (segments fallback only)."""

    index: pd.Index
    columns: dict[str, np.ndarray]
    as_of: str | None
    model_version: str | None

    @classmethod
    def from_frame(cls, df: pd.DataFrame, columns: tuple[str, ...]) -> ScoreIndex:
        """Index `df` (one row per ``customer_id``; the last row wins on duplicates)."""
        df = df.drop_duplicates("customer_id", keep="last")
        index = pd.Index(df["customer_id"].astype(str).to_numpy(dtype=object), dtype=object)
        cols: dict[str, np.ndarray] = {}
        for name in columns:
            if name not in df.columns:
                cols[name] = np.full(len(df), None, dtype=object)
            elif pd.api.types.is_float_dtype(df[name]) or name in ("probability", "distance"):
                cols[name] = df[name].to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                s = df[name].astype(object)
                cols[name] = s.where(s.notna(), None).to_numpy(dtype=object)
        as_of = pd.to_datetime(df["as_of"], errors="coerce") if "as_of" in df else None
        newest = as_of.max() if as_of is not None and as_of.notna().any() else None
        versions = df["model_version"].dropna().astype(str) if "model_version" in df else pd.Series([], dtype=str)
        version = versions.mode().iloc[0] if len(versions) else None
        return cls(index, cols, None if newest is None else newest.date().isoformat(), version)

    def take(self, name: str, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        out = self.columns[name].take(pos)
        if not known.all():
            out[~known] = np.nan if out.dtype.kind == "f" else None
        return out


def frame_of(X: np.ndarray, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(X, columns=names, copy=False)


def usable_rows(X: np.ndarray) -> np.ndarray:
    """Rows with at least one feature present (an all-null row gives the model nothing to score)."""
    return ~np.isnan(X).all(axis=1) if X.shape[1] else np.zeros(len(X), dtype=bool)


@dataclass(frozen=True)
class Runtime:
    """Common metadata of a loaded model, its feature contract and its live-answer cache."""

    kind: str
    bundle: Any
    version: str
    source: str
    loaded_at: float = field(default_factory=time.time)
    scores: ScoreIndex | None = None  # batch-scoring fallback (segments without snapshot features)
    canary: np.ndarray | None = None
    strategies: dict[Any, Any] = field(default_factory=dict)
    threads: int = 1  # LightGBM threads for batches of at least PARALLEL_ROWS rows
    units: dict[str, str] = field(default_factory=dict)  # feature -> declared unit
    lower: np.ndarray | None = None  # per-feature bounds from the units (serving/validation.py)
    upper: np.ndarray | None = None
    live: LiveCache = field(default_factory=LiveCache)

    @property
    def feature_names(self) -> list[str]:
        names = self.__dict__.get("_names")
        if names is None:  # computed once: the bundle never changes under a runtime
            names = [str(c) for c in getattr(self.bundle, "feature_names_in_", [])]
            object.__setattr__(self, "_names", names)
        return names

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "source": self.source,
            "loaded_at": pd.Timestamp(self.loaded_at, unit="s", tz="UTC").isoformat(),
            "bundle": type(self.bundle).__name__,
            "feature_names": self.feature_names,
            "feature_units": {n: self.units[n] for n in self.feature_names if n in self.units},
            "live": self.live.describe(),
        }

    def canary_rows(self) -> np.ndarray:
        if self.canary is not None and len(self.canary):
            return self.canary
        return np.zeros((1, len(self.feature_names)))

    def require(self, *attrs: str) -> None:
        missing = [a for a in attrs if not hasattr(self.bundle, a)]
        if missing:
            raise ModelRejected(self.kind, f"{type(self.bundle).__name__} lacks {', '.join(missing)}")

    def live_scores(self, snapshot: Snapshot, key: str | None = None, **context: Any) -> LiveScores:
        """This runtime's answers on `snapshot`, computed once per snapshot (and `key`) and cached.

        Raises ModelNotReady (503) when the snapshot lacks a feature the model needs.
        """
        missing = snapshot.missing(self.feature_names)
        if missing:
            reason = f"feature snapshot {snapshot.id} lacks {missing[:5]}; rebuild it (`meterwise features build`)"
            raise ModelNotReady(self.kind, reason)
        return self.live.get(key or snapshot.id, lambda: self.score_snapshot(snapshot, **context))

    def score_snapshot(self, snapshot: Snapshot, **context: Any) -> LiveScores:
        raise NotImplementedError(f"{self.kind} answers no requests by id")


class ArrearsRuntime(Runtime):
    """Arrears risk: probability, grade, action and top reasons.

    With an ``ArrearsRiskModel`` the features path calls ``booster_.predict`` once (``threads`` threads for
    big batches) and the bundle's calibration once; admission checks that this equals the public
    ``predict_risk`` on the canary rows, else the public path is used.
    """

    def check(self) -> None:
        self.require("feature_names_in_", "predict_proba", "grade", "reasons_frame")
        if not self.feature_names:
            raise ModelRejected(self.kind, "feature_names_in_ is empty")
        X = self.canary_rows()
        p = self._public_probability(X)
        if p.shape != (len(X),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
            raise ModelRejected(self.kind, f"canary probabilities {p[:3]!r} are not finite values in [0, 1]")
        grades, actions = self.bundle.grade(p)
        if len(grades) != len(X) or len(actions) != len(X):
            raise ModelRejected(self.kind, "grade() returned the wrong number of rows")
        fast = hasattr(self.bundle, "booster_") and hasattr(self.bundle, "_calibrate")
        if fast:
            try:
                fast = bool(np.allclose(self._fast_probability(X, 1), p, rtol=0, atol=1e-12))
            except Exception:  # the bundle's internals changed: keep the public path
                fast = False
        object.__setattr__(self, "_fast", fast)  # frozen dataclass: set once, before the runtime goes live
        object.__setattr__(self, "_single", self._single_row_predictor(X, p) if fast else None)
        object.__setattr__(self, "_compiled", self._compiled_forest(X, p) if fast else None)

    def _compiled_forest(self, X: np.ndarray, p: np.ndarray) -> CompiledForest | None:
        """The trees compiled to machine code, kept only if they give the public path's answer on the canary
        rows (and on the same rows with every feature missing, which walks the default branches)."""
        compiled = compile_forest(self.bundle.booster_)
        if compiled is None:
            return None
        empty = np.full_like(X, np.nan)
        try:
            same = np.allclose(self.bundle._calibrate(compiled.predict(X)), p, rtol=0, atol=1e-12) and np.allclose(
                compiled.predict(empty), self.bundle.booster_.predict(empty, num_threads=1), rtol=0, atol=1e-12
            )
        except Exception as err:  # wrong shape or dtype from an unexpected model
            logger.warning("%s v%s: compiled trees failed on the canary rows (%s)", self.kind, self.version, err)
            return None
        if not same:
            logger.warning("%s v%s: compiled trees disagree with predict(); not used", self.kind, self.version)
            return None
        return compiled

    def _single_row_predictor(self, X: np.ndarray, p: np.ndarray) -> SingleRowPredictor | None:
        """LightGBM's fast one-row path, kept only if it gives the public path's answer on every canary row."""
        try:
            single = SingleRowPredictor(self.bundle.booster_, len(self.feature_names))
            rows = [np.ascontiguousarray(X[i], dtype=np.float64) for i in range(len(X))]
            raw = np.array([single.predict(r) for r in rows])  # the few canary rows, at admission only
            if np.allclose(self.bundle._calibrate(raw), p, rtol=0, atol=1e-12):
                return single
            logger.warning("%s v%s: fast one-row path disagrees with predict(); not used", self.kind, self.version)
        except Exception as err:  # an older LightGBM without the API, a bundle without a booster
            logger.warning("%s v%s: no fast one-row path (%s)", self.kind, self.version, err)
        return None

    @property
    def fast(self) -> bool:
        """The booster path was admitted: a small batch costs a known, small time (fine on the event loop)."""
        return bool(getattr(self, "_fast", False))

    def _public_probability(self, X: np.ndarray) -> np.ndarray:
        if hasattr(self.bundle, "predict_risk"):  # ArrearsRiskModel: takes the ndarray as is
            return np.ascontiguousarray(self.bundle.predict_risk(X), dtype=np.float64)
        proba = np.asarray(self.bundle.predict_proba(frame_of(X, self.feature_names)), dtype=np.float64)
        return np.ascontiguousarray(proba[:, 1] if proba.ndim == 2 else proba)

    def _fast_probability(self, X: np.ndarray, threads: int) -> np.ndarray:
        raw = self.bundle.booster_.predict(X, num_threads=threads)
        return np.ascontiguousarray(self.bundle._calibrate(raw), dtype=np.float64)

    def probability(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: one booster predict + one calibration over the whole matrix."""
        single = getattr(self, "_single", None)
        if single is not None and len(X) == 1:
            raw = np.array([single.predict(np.ascontiguousarray(X[0], dtype=np.float64))])
            return np.ascontiguousarray(self.bundle._calibrate(raw), dtype=np.float64)
        compiled = getattr(self, "_compiled", None)
        if compiled is not None:
            raw = compiled.predict(X, self.threads if len(X) >= COMPILED_PARALLEL_ROWS else 1)
            return np.ascontiguousarray(self.bundle._calibrate(raw), dtype=np.float64)
        if getattr(self, "_fast", False):
            return self._fast_probability(X, self.threads if len(X) >= PARALLEL_ROWS else 1)
        return self._public_probability(X)

    def score_features(self, X: np.ndarray, *, include_reasons: bool, usable: np.ndarray | None = None) -> dict:
        """Score a feature matrix (rows in request order): one predict call, one grade call.

        Rows not `usable` (default: all-null rows) get status ``insufficient_features`` and nulls.
        """
        usable = usable_rows(X) if usable is None else usable
        p = self.probability(X)
        grades, actions = self.bundle.grade(p)
        grades, actions = np.asarray(grades, dtype=object), np.asarray(actions, dtype=object)
        out: dict[str, Any] = {"probability": p, "grade": grades, "action": actions, "reasons": None}
        if not usable.all():
            p, grades, actions = p.copy(), grades.copy(), actions.copy()
            p[~usable] = np.nan
            grades[~usable] = actions[~usable] = None
            out.update(probability=p, grade=grades, action=actions)
        out["status"], out["usable"] = row_status(usable), usable
        if include_reasons:
            reasons = np.full((len(X), len(REASON_COLUMNS)), None, dtype=object)
            if usable.any():
                reasons[usable] = self.reasons(X[usable])
            out["reasons"] = reasons
        return out

    def reasons(self, X: np.ndarray) -> np.ndarray:
        """Top reasons in words, shape (n, 3), object."""
        frame = self.bundle.reasons_frame(frame_of(X, self.feature_names), top=len(REASON_COLUMNS))
        return frame[list(REASON_COLUMNS)].astype(object).to_numpy()

    def score_snapshot(self, snapshot: Snapshot, **context: Any) -> LiveScores:
        """Every customer of `snapshot` in one call; a customer whose ``has_bills`` is False (nothing to
        predict a next bill from) or whose features are all null is ``insufficient_features``."""
        X = snapshot.matrix(self.feature_names)
        usable = usable_rows(X)
        if HAS_BILLS in snapshot.frame.columns:
            usable &= snapshot.frame[HAS_BILLS].fillna(False).to_numpy(dtype=bool)
        out = self.score_features(X, include_reasons=False, usable=usable)
        columns = {k: out[k] for k in ("probability", "grade", "action")}
        return LiveScores(self.version, snapshot, columns, usable, explain=lambda rows: self.reasons(X[rows]))


def _ints_or_none(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.asarray(values).astype(object)  # Python ints, ready to serialize
    out[~keep] = None
    return out


class SegmentsRuntime(Runtime):
    """Load-shape segment per customer (``insufficient_features`` where the model assigns none)."""

    def check(self) -> None:
        self.require("feature_names_in_", "predict_frame")
        out = self.bundle.predict_frame(frame_of(self.canary_rows(), self.feature_names))
        missing = {"segment_id", "segment_name", "distance"} - set(out.columns)
        if missing:
            raise ModelRejected(self.kind, f"predict_frame lacks {sorted(missing)}")
        seg = out["segment_id"].to_numpy()
        dist = out["distance"].to_numpy(dtype=float)
        assigned = seg >= 0  # -1 = insufficient data (NaN distance) is a valid answer
        if pd.isna(seg).any() or not assigned.any() or not np.all(np.isfinite(dist[assigned])):
            raise ModelRejected(self.kind, f"canary segments {seg[:3]!r} / distances {dist[:3]!r} are not usable")

    def score_frame(self, frame: pd.DataFrame, grades: pd.DataFrame | None = None) -> dict[str, Any]:
        """Segments of the rows of `frame` (model features, plus ``customer_id`` / ``days_observed`` / level
        when present); strategies from the bundle's value x credit matrix with `grades` (arrears)."""
        if "customer_id" not in frame.columns:  # feature rows: positions stand in for ids
            frame = frame.assign(customer_id=np.arange(len(frame)).astype(str))
        out = self.bundle.predict_frame(frame.drop(columns="customer_id"))
        seg = out["segment_id"].to_numpy()
        usable = seg >= 0
        strategy = np.full(len(out), None, dtype=object)
        if self.strategies:
            mapped = pd.Series(seg).map(self.strategies)
            strategy = np.array(mapped.astype(object).where(mapped.notna(), None), dtype=object)
        elif hasattr(self.bundle, "assign_strategies"):
            try:
                assigned = self.bundle.assign_strategies(frame, grades)
                strategy = np.array(assigned["strategy"], dtype=object)
            except (KeyError, ValueError) as err:  # e.g. no level column to band the value
                logger.warning("segments v%s: no strategies (%s)", self.version, err)
        names = np.array(out["segment_name"], dtype=object)  # copies: pandas hands out read-only views
        distance = np.array(out["distance"], dtype=np.float64)
        strategy[~usable] = names[~usable] = None
        return {
            "segment_id": _ints_or_none(seg, usable),
            "segment_name": names,
            "strategy": strategy,
            "distance": np.where(usable, distance, np.nan),
            "status": row_status(usable),
        }

    def score_features(self, X: np.ndarray) -> dict[str, Any]:
        return self.score_frame(frame_of(X, self.feature_names))

    def score_snapshot(self, snapshot: Snapshot, grades: Any = None, **context: Any) -> LiveScores:
        """Segments of every customer of `snapshot`; `grades` (a frame, or a function returning one) feeds
        the value x credit strategies."""
        extra = [c for c in SEGMENT_CONTEXT if c in snapshot.frame.columns and c not in self.feature_names]
        frame = snapshot.frame[[*self.feature_names, *extra]]
        out = self.score_frame(frame, grades() if callable(grades) else grades)
        usable = out.pop("status") == "ok"
        return LiveScores(self.version, snapshot, out, usable)


class ForecastRuntime(Runtime):
    """Load forecasts with p10/p50/p90 intervals by level, key and horizon."""

    def check(self) -> None:
        self.require("levels_", "max_horizon_", "forecast")
        levels = {k: v for k, v in self.bundle.levels_.items() if len(v)}
        if not levels or not self.bundle.max_horizon_:
            raise ModelRejected(self.kind, "levels_ or max_horizon_ is empty")
        level, keys = next(iter(levels.items()))
        freq = next(iter(self.bundle.max_horizon_))
        out = self.bundle.forecast(level, str(keys[0]), 1, freq=freq)
        values = out[["p10", "p50", "p90"]].to_numpy(dtype=float)
        if len(values) != 1 or not np.all(np.isfinite(values)):
            raise ModelRejected(self.kind, f"canary forecast {values!r} is not one finite row")

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["levels"] = {k: len(v) for k, v in self.bundle.levels_.items()}
        out["max_horizon"] = dict(self.bundle.max_horizon_)
        if hasattr(self.bundle, "summary"):  # served method per level and frequency, and its backtest scores
            out["forecast"] = self.bundle.summary()
        return out


RUNTIMES: dict[str, type[Runtime]] = {
    "arrears": ArrearsRuntime,
    "segments": SegmentsRuntime,
    "forecast": ForecastRuntime,
}
