"""Grouped TreeSHAP (training/tree_contrib.py) equals LightGBM's own contributions, row for row."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training import tree_contrib


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 2] = rng.integers(0, 5, n)  # a few distinct values: many rows sit exactly on a threshold
    X[rng.random(n) < 0.1, 3] = np.nan
    X[rng.random(n) < 0.2, 4] = 0.0
    y = (X[:, 0] + 0.5 * np.nan_to_num(X[:, 3]) + 0.3 * X[:, 2] + rng.normal(size=n) > 0.5).astype(int)
    return X, y


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    X, y = _data(4000)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 0, "zero_as_missing": False}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=40)


def _hard_rows(booster: lgb.Booster, n: int) -> np.ndarray:
    """Rows drawn from the data, then cells set to exact thresholds, their neighbours, zeros and NaN."""
    X, _ = _data(n, seed=1)
    p = tree_contrib.plan(booster)
    rng = np.random.default_rng(2)
    for f, edges in enumerate(p.edges):
        pick = rng.random(n) < 0.4
        pool = np.concatenate([edges, [0.0, -0.0, np.nan, 1e-36, -1e-36]])
        X[pick, f] = rng.choice(pool, pick.sum())
    return X


def test_grouped_contributions_equal_lightgbm_on_threshold_zero_and_nan_cells(booster):
    X = _hard_rows(booster, 6000)
    want = booster.predict(X, pred_contrib=True)
    got = tree_contrib.contributions(booster, X)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_grouped_contributions_sum_to_the_raw_score(booster):
    X = _hard_rows(booster, 5000)
    got = tree_contrib.contributions(booster, X)
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)


def test_small_batches_take_lightgbm_direct_path(booster, monkeypatch):
    calls = []
    real = booster.predict
    monkeypatch.setattr(booster, "predict", lambda *a, **k: calls.append(k) or real(*a, **k))
    X, _ = _data(tree_contrib.MIN_ROWS - 1)
    tree_contrib.contributions(booster, X)
    assert len(calls) == 1 and "start_iteration" not in calls[0]


def test_large_batches_ask_lightgbm_once_per_tree_for_few_rows(booster, monkeypatch):
    rows = []
    real = booster.predict
    monkeypatch.setattr(booster, "predict", lambda M, **k: rows.append(len(M)) or real(M, **k))
    X, _ = _data(20_000, seed=3)
    tree_contrib.contributions(booster, X)
    assert len(rows) == booster.num_trees()
    assert sum(rows) < 0.2 * len(X) * booster.num_trees()  # the point: far fewer row-trees than the direct path


def test_categorical_splits_fall_back_to_lightgbm():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"c": pd.Categorical(rng.integers(0, 6, 5000)), "x": rng.normal(size=5000)})
    y = ((frame["c"].cat.codes % 2 == 0) ^ (frame["x"] > 0)).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "min_data_per_group": 5}, lgb.Dataset(frame, y), 20)
    assert tree_contrib.plan(b) is None
    M = np.column_stack([frame["c"].cat.codes.to_numpy(float), frame["x"].to_numpy()])
    np.testing.assert_allclose(tree_contrib.contributions(b, M), b.predict(M, pred_contrib=True), atol=1e-12)


def test_arrears_model_reasons_use_the_grouped_path(booster, monkeypatch):
    seen = []
    real = tree_contrib.contributions
    monkeypatch.setattr(tree_contrib, "contributions", lambda b, M, p=None: seen.append(len(M)) or real(b, M, p))
    from training.arrears import ArrearsRiskModel

    X, y = _data(5000, seed=4)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = ArrearsRiskModel(n_estimators=30, random_state=0).fit(frame, y)
    got = model.contributions(frame)
    want = model.booster_.predict(frame.to_numpy(), pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert seen == [len(frame)]
