"""Stubs that misbehave on purpose: slow, raising, NaN, out-of-range (importable by a uvicorn subprocess)."""

from __future__ import annotations

import time

import numpy as np

from tests.serving.stubs import StubArrears


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
