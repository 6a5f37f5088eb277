"""Model runtimes, one tiny class per kind (MLServer style): wrap a bundle, self-check, score.

A runtime is immutable once built: the store swaps whole runtimes, so a request that picked one up
finishes on it even while a reload installs the next. By-id scoring reads a :class:`ScoreIndex`
built once at load time from the batch-scoring file: ``pandas.Index.get_indexer`` + ``numpy.take``,
no per-row Python.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ModelRejected

logger = logging.getLogger(__name__)
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
PARALLEL_ROWS = 1_000  # below this, one thread: spinning up OpenMP costs more than it saves
OK, UNKNOWN, STALE = "ok", "unknown_customer", "stale"


@dataclass(frozen=True)
class ScoreIndex:
    """Precomputed per-customer outputs as numpy columns, indexed by customer id."""

    index: pd.Index
    columns: dict[str, np.ndarray]
    stale: np.ndarray
    as_of: str | None
    model_version: str | None

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        columns: tuple[str, ...],
        *,
        stale_after_days: int,
        snapshot_as_of: pd.Timestamp | None = None,
    ) -> ScoreIndex:
        """Index `df` (one row per ``customer_id``; the last row wins on duplicates).

        A row is stale when its ``as_of`` is more than `stale_after_days` older than the newest of its
        own ``as_of`` values and the latest feature snapshot (`snapshot_as_of`), or when a ``stale``
        column flags it.
        """
        df = df.drop_duplicates("customer_id", keep="last")
        index = pd.Index(df["customer_id"].astype(str).to_numpy(dtype=object), dtype=object)
        cols: dict[str, np.ndarray] = {}
        for name in columns:
            if name not in df.columns:
                cols[name] = np.full(len(df), None, dtype=object)
            elif pd.api.types.is_float_dtype(df[name]) or name in ("probability", "distance"):
                cols[name] = df[name].to_numpy(dtype=np.float64, na_value=np.nan)
            elif name == "as_of":  # ISO date strings, ready to serialize
                day = pd.to_datetime(df[name], errors="coerce").dt.strftime("%Y-%m-%d").astype(object)
                cols[name] = day.where(day.notna(), None).to_numpy(dtype=object)
            else:
                s = df[name].astype(object)
                cols[name] = s.where(s.notna(), None).to_numpy(dtype=object)
        as_of = pd.to_datetime(df["as_of"], errors="coerce") if "as_of" in df else None
        stale = np.zeros(len(df), dtype=bool)
        newest = None
        if as_of is not None and as_of.notna().any():
            newest = as_of.max()
            if snapshot_as_of is not None and snapshot_as_of > newest:
                newest = snapshot_as_of
            stale |= (as_of < newest - pd.Timedelta(days=stale_after_days)).to_numpy(dtype=bool, na_value=True)
        if "stale" in df:
            stale |= df["stale"].fillna(False).to_numpy(dtype=bool)
        versions = df["model_version"].dropna().astype(str) if "model_version" in df else pd.Series([], dtype=str)
        version = versions.mode().iloc[0] if len(versions) else None
        return cls(index, cols, stale, None if newest is None else newest.date().isoformat(), version)

    def lookup(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions (clipped to 0 for unknown ids) and the known mask, in request order."""
        if len(self.index) == 0:
            return np.zeros(len(ids), dtype=np.intp), np.zeros(len(ids), dtype=bool)
        pos = self.index.get_indexer(np.asarray(ids, dtype=object))
        known = pos >= 0
        return np.where(known, pos, 0), known

    def take(self, name: str, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        out = self.columns[name].take(pos)
        if not known.all():
            out[~known] = np.nan if out.dtype.kind == "f" else None
        return out

    def status(self, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        return np.where(known, np.where(self.stale.take(pos), STALE, OK), UNKNOWN).astype(object)

    def position(self, customer_id: str) -> int | None:
        try:
            loc = self.index.get_loc(customer_id)
        except KeyError:
            return None
        return loc if isinstance(loc, int | np.integer) else None


def frame_of(X: np.ndarray, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(X, columns=names, copy=False)


@dataclass(frozen=True)
class Runtime:
    """Common metadata of a loaded model."""

    kind: str
    bundle: Any
    version: str
    source: str
    loaded_at: float = field(default_factory=time.time)
    scores: ScoreIndex | None = None
    canary: np.ndarray | None = None
    strategies: dict[Any, Any] = field(default_factory=dict)
    threads: int = 1  # LightGBM threads for batches of at least PARALLEL_ROWS rows

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in getattr(self.bundle, "feature_names_in_", [])]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "source": self.source,
            "loaded_at": pd.Timestamp(self.loaded_at, unit="s", tz="UTC").isoformat(),
            "bundle": type(self.bundle).__name__,
            "feature_names": self.feature_names,
            "scores_as_of": self.scores.as_of if self.scores else None,
            "scores_model_version": self.scores.model_version if self.scores else None,
            "scored_customers": len(self.scores.index) if self.scores else 0,
        }

    def canary_rows(self) -> np.ndarray:
        if self.canary is not None and len(self.canary):
            return self.canary
        return np.zeros((1, len(self.feature_names)))

    def require(self, *attrs: str) -> None:
        missing = [a for a in attrs if not hasattr(self.bundle, a)]
        if missing:
            raise ModelRejected(self.kind, f"{type(self.bundle).__name__} lacks {', '.join(missing)}")


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
        if getattr(self, "_fast", False):
            return self._fast_probability(X, self.threads if len(X) >= PARALLEL_ROWS else 1)
        return self._public_probability(X)

    def score_features(self, X: np.ndarray, *, include_reasons: bool) -> dict[str, Any]:
        """Score a feature matrix (rows in request order): one predict call, one grade call."""
        p = self.probability(X)
        grades, actions = self.bundle.grade(p)
        out: dict[str, Any] = {
            "probability": p,
            "grade": np.asarray(grades, dtype=object),
            "action": np.asarray(actions, dtype=object),
            "reasons": None,
        }
        if include_reasons:
            reasons = self.bundle.reasons_frame(frame_of(X, self.feature_names), top=len(REASON_COLUMNS))
            out["reasons"] = reasons[list(REASON_COLUMNS)].astype(object).to_numpy()
        return out


class SegmentsRuntime(Runtime):
    """Load-shape segment per customer."""

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

    def score_features(self, X: np.ndarray) -> dict[str, Any]:
        out = self.bundle.predict_frame(frame_of(X, self.feature_names))
        strategy = out["segment_id"].map(self.strategies) if self.strategies else pd.Series([None] * len(out))
        return {
            "segment_id": out["segment_id"].to_numpy(),
            "segment_name": out["segment_name"].astype(object).to_numpy(),
            "strategy": strategy.astype(object).where(strategy.notna(), None).to_numpy(),
            "distance": out["distance"].to_numpy(dtype=np.float64),
        }


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
