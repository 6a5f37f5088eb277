"""Stub bundles with the real bundles' interfaces (MLServer ``SumModel`` style), and stubs that misbehave
on purpose (slow, raising, NaN, out of range, renamed feature).

Used by the API tests (no training in an API test), the reliability tests and ``benchmarks/reliability.py``;
importable by a uvicorn subprocess that unpickles them (``PYTHONPATH`` holds ``benchmarks/``, see
:func:`harness.load.launch`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

FEATURES = ["kwh_mean_28d", "late_bills_12m"]
GRADES = np.array(list("ABCDE"), dtype=object)
ACTIONS = np.array(["none", "none", "reminder", "call", "payment plan"], dtype=object)


class StubArrears:
    """p = sigmoid(0.1 * kwh + 0.8 * late - 2 + bias); `broken` returns NaN (fails admission)."""

    def __init__(self, bias: float = 0.0, broken: bool = False):
        self.feature_names_in_ = list(FEATURES)
        self.bias, self.broken = bias, broken
        self.feature_descriptions = {  # declared units, as ArrearsRiskModel carries them
            "kwh_mean_28d": ("kWh/day", "mean daily kWh over 28 days"),
            "late_bills_12m": ("count", "bills paid more than 30 days late in 12 months"),
        }

    def predict_proba(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=float)
        p = 1 / (1 + np.exp(-(0.1 * x[:, 0] + 0.8 * x[:, 1] - 2 + self.bias)))
        if self.broken:
            p = p * np.nan
        return np.column_stack([1 - p, p])

    def grade(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
        return GRADES[idx], ACTIONS[idx]

    def reasons_frame(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        n = len(X)
        return pd.DataFrame(
            {"reason_1": ["late_bills_12m"] * n, "reason_2": ["kwh_mean_28d"] * n, "reason_3": [None] * n}
        )

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        p = self.predict_proba(X[self.feature_names_in_])[:, 1]
        g, a = self.grade(p)
        return pd.DataFrame({"probability": p, "grade": g, "action": a})


class StubSegmenter:
    def __init__(self):
        self.feature_names_in_ = ["share_night", "share_evening"]
        self.segment_names_ = ["night owls", "evening peak"]

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        x = X[self.feature_names_in_].to_numpy(dtype=float)
        seg = (x[:, 1] > x[:, 0]).astype(int)
        return pd.DataFrame(
            {
                "segment_id": seg,
                "segment_name": np.array(self.segment_names_, dtype=object)[seg],
                "distance": np.abs(x[:, 1] - x[:, 0]),
            }
        )

    def assign_strategies(self, X: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
        """Strategy per customer: by segment, 'collect first' for grade E (shows the arrears grades flow in)."""
        seg = self.predict_frame(X.drop(columns="customer_id"))["segment_id"].to_numpy()
        strategy = np.array(["night tariff", "peak alerts"], dtype=object)[np.clip(seg, 0, 1)]
        if grades is not None:
            grade = X["customer_id"].map(grades.set_index("customer_id")["grade"]).to_numpy()
            strategy = np.where(grade == "E", "collect first", strategy)
        return pd.DataFrame({"customer_id": X["customer_id"].to_numpy(), "strategy": strategy})


class StubForecaster:
    def __init__(self):
        self.levels_ = {"total": ["all"], "region": ["north", "south"]}
        self.max_horizon_ = {"D": 30, "H": 48}

    def forecast(self, level: str, key: str, horizon: int, freq: str = "D") -> pd.DataFrame:
        if key not in self.levels_.get(level, []):
            raise KeyError(f"{level}/{key}")
        if horizon > self.max_horizon_[freq]:
            raise ValueError("horizon too long")
        p50 = 100.0 + np.arange(horizon)
        stamps = pd.date_range("2014-03-01", periods=horizon, freq="h" if freq == "H" else "D")
        return pd.DataFrame({"timestamp": stamps, "p10": p50 - 10, "p50": p50, "p90": p50 + 10})


class StubLoader:
    """``loader(kind, ref)`` for ModelStore; tests swap ``bundles`` to simulate new champions."""

    def __init__(self):
        self.bundles = {
            "arrears": (StubArrears(), "1"),
            "segments": (StubSegmenter(), "1"),
            "forecast": (StubForecaster(), "1"),
        }
        self.fail: dict[str, Exception] = {}

    def __call__(self, kind: str, ref: str):
        if kind in self.fail:
            raise self.fail[kind]
        bundle, version = self.bundles[kind]
        return bundle, version, "stub"


class SlowArrears(StubArrears):
    """Scores the canary (<= 8 rows) at once and real batches after `delay_s`."""

    def __init__(self, delay_s: float = 1.0):
        super().__init__()
        self.delay_s = delay_s

    def predict_proba(self, X) -> np.ndarray:
        if len(X) > 8:
            time.sleep(self.delay_s)
        return super().predict_proba(X)


class RaisingArrears(StubArrears):
    def predict_proba(self, X) -> np.ndarray:
        raise RuntimeError("model exploded on the canary")


class OutOfRangeArrears(StubArrears):
    def predict_proba(self, X) -> np.ndarray:
        p = super().predict_proba(X)
        return p * 3.0  # probabilities up to 3


class RenamedArrears(StubArrears):
    """A model trained on a renamed feature the snapshot does not have."""

    def __init__(self):
        super().__init__()
        self.feature_names_in_ = ["kwh_avg_28d", "late_bills_12m"]
