"""The fast one-row LightGBM path returns exactly what Booster.predict returns."""

from __future__ import annotations

import sys

import lightgbm as lgb
import numpy as np
import pytest

from serving import lgbm
from serving.lgbm import SingleRowPredictor, compile_forest


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values take the learned default branch
    y = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbosity": -1, "seed": 0, "deterministic": True}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=20)


def test_single_row_path_equals_booster_predict(booster):
    single = SingleRowPredictor(booster, 5)
    rows = np.random.default_rng(1).normal(size=(50, 5))
    rows[::7, 2] = np.nan
    rows[3] = np.nan  # an all-missing row
    got = np.array([single.predict(np.ascontiguousarray(r)) for r in rows])
    np.testing.assert_allclose(got, booster.predict(rows, num_threads=1), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(np.zeros(4), id="too_short"),
        pytest.param(np.zeros(5, dtype=np.float32), id="float32"),
        pytest.param(np.zeros((5, 2))[:, 0], id="not_contiguous"),
    ],
)
def test_single_row_path_refuses_a_row_it_cannot_read(booster, row):
    with pytest.raises(ValueError, match="contiguous float64"):
        SingleRowPredictor(booster, 5).predict(row)


def test_compiled_trees_equal_booster_predict(booster):
    compiled = compile_forest(booster)
    assert compiled is not None
    rows = np.random.default_rng(2).normal(size=(3_000, 5))
    rows[::5, 1] = np.nan
    rows[7] = np.nan
    expected = booster.predict(rows, num_threads=1)
    np.testing.assert_allclose(compiled.predict(rows), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(compiled.predict(rows, threads=2), expected, rtol=0, atol=1e-12)


def test_without_lleaves_batches_stay_on_lightgbm(booster, monkeypatch):
    monkeypatch.setitem(sys.modules, "lleaves", None)  # import lleaves -> ImportError
    lgbm._compiled.cache_clear()  # compiled by the test above in this process
    assert compile_forest(booster) is None


def test_a_model_is_compiled_once_per_process(booster):
    assert compile_forest(booster) is compile_forest(booster)  # a reload back to it costs nothing
