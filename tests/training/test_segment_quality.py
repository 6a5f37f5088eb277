"""Held-out customers, fixed-space scores, k penalty and the out-of-bag bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from tests.training.test_segmentation import make_shapes
from training.segment_quality import bootstrap_stability, evaluate_segments, heldout_customers, spread
from training.segmentation import LoadShapeSegmenter


@pytest.fixture(scope="module")
def shapes() -> pd.DataFrame:
    return make_shapes(n_per_group=40)


@pytest.fixture(scope="module")
def fitted(shapes) -> LoadShapeSegmenter:
    return LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7).fit(shapes)


def test_heldout_customers_are_stable_and_about_the_share():
    ids = pd.Index([f"C{i:05d}" for i in range(4000)])
    held = heldout_customers(ids, 0.2)
    assert 0.17 < held.mean() < 0.23
    assert (heldout_customers(ids[::-1], 0.2) == held[::-1]).all()  # depends on each id only
    with pytest.raises(ValueError, match="frac"):
        heldout_customers(ids, 1.0)


def test_k_penalty_prefers_fewer_segments(shapes):
    free = LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7, k_penalty=0.0).fit(shapes)
    assert free.n_clusters_ == 3  # the three true groups
    harsh = LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7, k_penalty=1.0).fit(shapes)
    assert harsh.n_clusters_ == 2
    assert harsh.selection_scores_[3] == pytest.approx(free.selection_scores_[3] - 1.0)


def test_candidates_are_scored_on_customers_they_were_not_fitted_on(shapes, fitted):
    held = heldout_customers(shapes.index, fitted.selection_frac)
    assert 10 <= held.sum() < len(shapes)  # enough to hold out: the scores are held-out silhouettes
    assert fitted.selection_scores_[3] <= 1.0


def test_scores_are_measured_in_the_given_fixed_space(shapes, fitted):
    other = LoadShapeSegmenter(k_range=(3, 3), n_init=4, random_state=1).fit(shapes.iloc[::2])
    got = evaluate_segments(other, shapes, space=fitted)["silhouette"]
    Z = fitted._transform(shapes[list(fitted.feature_names_in_)].to_numpy(dtype=float))
    assert got == pytest.approx(silhouette_score(Z, other.predict(shapes)))


def test_oob_bootstrap_is_high_on_clear_groups_and_low_on_noise(shapes, fitted):
    aris = bootstrap_stability(fitted, shapes, n_boot=4, random_state=0)
    assert len(aris) == 4 and min(aris) > 0.9
    rng = np.random.default_rng(0)
    noise = shapes.copy()
    cols = [c for c in noise.columns if c.startswith(("shape_", "level_"))]
    noise[cols] = noise[cols].to_numpy() * rng.permutation(noise[cols].to_numpy().ravel()).reshape(len(noise), -1)
    model = LoadShapeSegmenter(k_range=(5, 5), n_init=2, random_state=0).fit(noise)
    assert spread(bootstrap_stability(model, noise, n_boot=4, random_state=0))["mean"] < 0.8


def test_spread_reports_mean_and_percentiles():
    out = spread([0.5, 0.6, 0.7, 0.8, 0.9])
    assert out["mean"] == pytest.approx(0.7) and out["p10"] < out["mean"] < out["p90"]
    assert np.isnan(spread([])["mean"])


def test_a_small_population_still_holds_out_enough_customers():
    ids = pd.Index([f"C{i:03d}" for i in range(24)])
    held = heldout_customers(ids, 0.2, min_count=10)
    assert held.sum() == 10
    assert (heldout_customers(ids[::-1], 0.2, min_count=10) == held[::-1]).all()
