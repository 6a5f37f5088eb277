"""ArrearsRuntime around a real (tiny) ArrearsRiskModel: fast paths admitted only when they agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.runtimes import ArrearsRuntime
from training.arrears import ArrearsRiskModel


@pytest.fixture(scope="module")
def model() -> ArrearsRiskModel:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"late_bills_12m": rng.integers(0, 5, 600).astype(float), "kwh_mean_30d": rng.gamma(2, 5, 600)})
    X.loc[rng.random(600) < 0.1, "kwh_mean_30d"] = np.nan
    y = (X["late_bills_12m"] + rng.normal(0, 1, 600) > 2).astype(int)
    return ArrearsRiskModel(n_estimators=30, early_stopping_rounds=0, random_state=0).fit(X, y)


def test_single_row_and_batch_paths_equal_predict_risk(model):
    canary = np.array([[0.0, 10.0], [4.0, np.nan], [2.0, 3.0]])
    runtime = ArrearsRuntime(kind="arrears", bundle=model, version="1", source="test", canary=canary, threads=2)
    runtime.check()
    assert runtime.fast and runtime._single is not None
    rows = np.array([[1.0, 12.0], [np.nan, np.nan], [3.0, np.nan]] * 700)
    expected = model.predict_risk(rows)
    one = np.array([runtime.probability(rows[i : i + 1])[0] for i in range(3)])
    np.testing.assert_allclose(one, expected[:3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(runtime.probability(rows), expected, rtol=0, atol=1e-12)  # 2,100 rows, 2 threads
    out = runtime.score_features(rows[:3], include_reasons=True)
    assert out["status"].tolist() == ["ok", "insufficient_features", "ok"]
    assert out["probability"][1] != out["probability"][1] and out["reasons"][1].tolist() == [None, None, None]
    assert isinstance(out["reasons"][0][0], str)


def test_compiled_trees_are_used_for_batches_only_when_they_agree(model, monkeypatch):
    canary = np.array([[0.0, 10.0], [4.0, np.nan], [2.0, 3.0]])
    runtime = ArrearsRuntime(kind="arrears", bundle=model, version="1", source="test", canary=canary)
    runtime.check()
    assert runtime._compiled is not None
    rows = np.array([[1.0, 12.0], [np.nan, np.nan], [3.0, np.nan]] * 50)
    np.testing.assert_allclose(runtime.probability(rows), model.predict_risk(rows), rtol=0, atol=1e-12)

    from serving.lgbm import CompiledForest

    original = CompiledForest.predict
    monkeypatch.setattr(CompiledForest, "predict", lambda self, X, threads=1: original(self, X, threads) + 1e-9)
    wrong = ArrearsRuntime(kind="arrears", bundle=model, version="2", source="test", canary=canary)
    wrong.check()
    assert wrong._compiled is None and wrong.fast  # refused: batches go through LightGBM's predict
    np.testing.assert_allclose(wrong.probability(rows), model.predict_risk(rows), rtol=0, atol=1e-12)
