"""TheftRiskModel: scikit-learn contract, inspected-only training (PU), calibration, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from training.theft import TheftRiskModel, labelled, make_baseline
from training.theft_metrics import precision_at, ranking_metrics, recovered_at_capacity

GRID = {"num_leaves": (7,), "min_child_samples": (20,)}


def _data(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"kwh_drop_365d": rng.normal(0, 0.3, n), "zero_share": rng.uniform(0, 1, n), "noise": rng.normal(size=n)}
    )
    logit = -3 + 4 * X["kwh_drop_365d"] + 2 * X["zero_share"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(float)
    return X, y


def test_uninspected_customers_are_dropped_not_used_as_negatives():
    X, y = _data()
    y_pu = y.copy()
    y_pu[::3] = np.nan  # a third never inspected
    model = TheftRiskModel(grid=GRID).fit(X, y_pu)
    assert model.n_labelled_ == int(labelled(y_pu).sum())
    as_negatives = TheftRiskModel(grid=GRID).fit(X, np.nan_to_num(y_pu, nan=0.0))
    assert as_negatives.n_labelled_ == len(y) and as_negatives.base_rate_ < model.base_rate_


def test_scores_rank_and_are_calibrated_on_held_out_rows():
    X, y = _data(3000)
    model = TheftRiskModel(grid=GRID).fit(X.iloc[:2000], y[:2000])
    p = model.predict_proba(X.iloc[2000:])[:, 1]
    m = ranking_metrics(y[2000:], p)
    assert m["auc"] > 0.75 and m["calibration_error"] < 0.06
    assert ((p >= 0) & (p <= 1)).all()
    base = make_baseline().fit(X.iloc[:2000], y[:2000]).predict_proba(X.iloc[2000:])[:, 1]
    assert ranking_metrics(y[2000:], base)["auc"] > 0.7


def test_reasons_name_the_features_that_push_risk_up():
    X, y = _data()
    model = TheftRiskModel(grid=GRID).fit(X, y)
    risky = pd.DataFrame({"kwh_drop_365d": [0.9], "zero_share": [0.95], "noise": [0.0]})
    r = model.reasons(risky, k=2)
    assert set(r["feature"]) == {"kwh_drop_365d", "zero_share"} and (r["contribution"] > 0).all()


def test_missing_column_is_scored_as_missing_and_unfitted_model_refuses():
    X, y = _data()
    with pytest.raises(NotFittedError):
        TheftRiskModel().predict_proba(X)
    model = TheftRiskModel(grid=GRID).fit(X, y)
    p = model.predict_proba(X.drop(columns="noise"))[:, 1]
    assert np.isfinite(p).all()


def test_one_outcome_only_is_refused():
    X, _ = _data(100)
    with pytest.raises(ValueError, match="both outcomes"):
        TheftRiskModel(grid=GRID).fit(X, np.zeros(100))


def test_capacity_metrics_count_hits_and_revenue():
    y = np.array([1, 0, 1, 0, 0])
    assert precision_at(y, np.array([5, 4, 3, 2, 1]), 0.4) == 0.5
    out = recovered_at_capacity(y, np.array([np.nan, 1, 3, 2, 0]), np.array([100, 1, 10, 1, 1.0]), 2)
    assert out == {"inspections": 2, "hits": 1, "hit_rate": 0.5, "recovered": 10.0}
