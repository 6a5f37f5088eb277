"""Metrics agree with scikit-learn where it has them, and behave at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training.evaluation import (
    brier_score,
    calibration_error,
    calibration_table,
    classification_metrics,
    ks_statistic,
    lift_at,
    lift_table,
    pr_auc,
    roc_auc,
)


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 2000).round(2)  # rounded: many ties
    y = (rng.uniform(0, 1, 2000) < p).astype(int)
    return y, p


def test_auc_and_average_precision_match_sklearn(scores):
    y, p = scores
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_ks_is_max_gap_between_class_cdfs(scores):
    y, p = scores
    grid = np.unique(p)
    cdf_pos = np.searchsorted(np.sort(p[y == 1]), grid, side="right") / (y == 1).sum()
    cdf_neg = np.searchsorted(np.sort(p[y == 0]), grid, side="right") / (y == 0).sum()
    assert ks_statistic(y, p) == pytest.approx(np.max(cdf_neg - cdf_pos), abs=1e-12)


def test_perfect_and_useless_rankings():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y, np.full(4, 0.5)) == 0.5
    assert np.isnan(roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_calibration_error_small_when_calibrated_large_when_not(scores):
    y, p = scores
    assert calibration_error(y, p) < 0.03
    assert calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15
    table = calibration_table(y, p, n_bins=10)
    assert table["n"].sum() == len(y)
    assert calibration_table(y, p, strategy="quantile")["n"].sum() == len(y)


def test_lift_top_decile():
    y = np.array([1] * 10 + [0] * 90)
    p = np.linspace(1, 0, 100)
    assert lift_at(y, p, 0.1) == pytest.approx(10.0)
    table = lift_table(y, p)
    assert table["lift"].iloc[0] == pytest.approx(10.0)
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)


def test_classification_metrics_keys_and_prefix(scores):
    y, p = scores
    m = classification_metrics(y, p, prefix="baseline_")
    assert set(m) == {
        f"baseline_{k}"
        for k in ("roc_auc", "pr_auc", "ks", "brier", "calibration_error", "lift_top_decile", "base_rate", "n")
    }
    assert all(isinstance(v, float) for v in m.values())


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        pytest.param([0, 1], [0.5], "same length", id="length"),
        pytest.param([0, 2], [0.5, 0.5], "other than 0 and 1", id="labels"),
        pytest.param([0, 1], [0.5, np.nan], "non-finite", id="nan"),
    ],
)
def test_bad_inputs_are_named(y, p, match):
    with pytest.raises(ValueError, match=match):
        roc_auc(np.array(y), np.array(p))
