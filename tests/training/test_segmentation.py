"""LoadShapeSegmenter: seeded, explicit about thin data, names kept across retrains; the value x credit matrix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from features.errors import ContractViolation
from features.shapes import ANNUAL_COLUMNS, WEEKLY_COLUMNS
from training.segment_names import INSUFFICIENT, describe_centroids, unique_names
from training.segmentation import LoadShapeSegmenter, bootstrap_stability, evaluate_segments
from training.value_matrix import StrategyRule, ValueCreditMatrix, load_rules

WINTER = np.array([1.5, 1.4, 1.2, 1.0, 0.8, 0.6, 0.6, 0.6, 0.8, 1.0, 1.2, 1.5])
WEEKEND = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 1.25, 1.25])


def make_shapes(n_per_group: int = 40, seed: int = 0, noise: float = 0.04) -> pd.DataFrame:
    """Three known groups: flat low use, high winter heating, medium weekend-heavy."""
    rng = np.random.default_rng(seed)
    groups = [  # (name, kWh/day, annual shape, weekly shape)
        ("flat", 5.0, np.ones(12), np.ones(7)),
        ("winter", 25.0, WINTER, np.ones(7)),
        ("weekend", 11.0, np.ones(12), WEEKEND),
    ]
    frames = []
    for g, (name, kwh, annual, weekly) in enumerate(groups):
        n = n_per_group
        level = kwh * rng.lognormal(0, 0.1, n)
        frame = pd.DataFrame(
            {
                "days_observed": 360,
                "kwh_mean_day": level,
                "level_log1p_kwh": np.log1p(level),
                **dict(zip(WEEKLY_COLUMNS, (weekly * rng.lognormal(0, noise, (n, 7))).T, strict=True)),
                **dict(zip(ANNUAL_COLUMNS, (annual * rng.lognormal(0, noise, (n, 12))).T, strict=True)),
                "group": name,
            },
            index=pd.Index([f"G{g}-{i:03d}-{seed}" for i in range(n)], name="customer_id"),
        )
        frames.append(frame)
    return pd.concat(frames)


@pytest.fixture(scope="module")
def shapes() -> pd.DataFrame:
    return make_shapes()


@pytest.fixture(scope="module")
def fitted(shapes) -> LoadShapeSegmenter:
    return LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7).fit(shapes)


def test_finds_the_three_groups_and_names_them_from_centroids(fitted, shapes):
    assert fitted.n_clusters_ == 3
    labels = fitted.predict(shapes)
    assert adjusted_rand_score(shapes["group"], labels) == 1.0
    by_group = pd.Series(fitted.predict_frame(shapes)["segment_name"].to_numpy(), index=shapes["group"].to_numpy())
    assert by_group["winter"].iloc[0] == "winter heating, high use"
    assert by_group["flat"].iloc[0] == "flat, low use"
    assert "weekend-heavy" in by_group["weekend"].iloc[0]
    assert len(set(fitted.segment_names_)) == 3


def test_same_seed_gives_same_labels_and_names(shapes, fitted):
    again = LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7).fit(shapes)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    assert again.segment_names_ == fitted.segment_names_
    np.testing.assert_allclose(again.cluster_centers_, fitted.cluster_centers_)


def test_predict_frame_is_the_serving_interface(fitted, shapes):
    out = fitted.predict_frame(shapes.reset_index())  # keyed by a customer_id column works too
    assert list(out.columns) == ["segment_id", "segment_name", "distance"]
    assert out.index.name == "customer_id" and list(out.index) == list(shapes.index)
    assert out["segment_name"].tolist() == [fitted.segment_names_[i] for i in out["segment_id"]]
    assert (out["distance"] >= 0).all()
    assert list(fitted.feature_names_in_[:1]) == ["level_log1p_kwh"]
    # the distance is to the assigned (nearest) centre
    centre = fitted.predict_frame(fitted.centroids_.assign(days_observed=365).reset_index(drop=True))
    assert centre["segment_id"].tolist() == list(range(fitted.n_clusters_))
    assert centre["distance"].max() < 0.05


def test_too_little_data_gets_the_explicit_insufficient_segment(fitted, shapes):
    new = shapes.iloc[[0, 50]].copy()
    new.index = pd.Index(["NEW-SHORT", "NEW-NAN"], name="customer_id")
    new.loc["NEW-SHORT", "days_observed"] = 40  # too few days, even with complete shapes
    new.loc["NEW-NAN", list(ANNUAL_COLUMNS)] = np.nan  # no annual shape yet
    out = fitted.predict_frame(pd.concat([shapes.iloc[:3], new]))
    assert out.loc[["NEW-SHORT", "NEW-NAN"], "segment_id"].tolist() == [-1, -1]
    assert out.loc[["NEW-SHORT", "NEW-NAN"], "segment_name"].tolist() == [INSUFFICIENT, INSUFFICIENT]
    assert out.loc[["NEW-SHORT", "NEW-NAN"], "distance"].isna().all()
    assert (out["segment_id"].iloc[:3] >= 0).all()


def test_thin_rows_are_left_out_of_the_fit(shapes):
    thin = shapes.copy()
    thin.iloc[:10, thin.columns.get_loc("days_observed")] = 10
    model = LoadShapeSegmenter(k_range=(3, 3), n_init=2).fit(thin)
    assert (model.labels_[:10] == -1).all() and (model.labels_[10:] >= 0).all()
    assert evaluate_segments(model, thin)["insufficient"] == 10


def test_missing_feature_column_is_named(fitted, shapes):
    with pytest.raises(ContractViolation, match="shape_month_03"):
        fitted.predict_frame(shapes.drop(columns="shape_month_03"))


def test_names_stay_with_matching_clusters_after_a_perturbed_retrain(fitted):
    perturbed = make_shapes(seed=1).sample(frac=0.8, random_state=3)  # new draw, 80 % subsample
    renamed = fitted.centroids_.rename(index=dict(zip(fitted.segment_names_, ["alpha", "beta", "gamma"], strict=True)))
    old_group = dict(zip(["alpha", "beta", "gamma"], _majority_group(fitted), strict=True))
    retrained = LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=99).fit(perturbed, previous=renamed)
    assert sorted(retrained.segment_names_) == ["alpha", "beta", "gamma"]
    names = retrained.predict_frame(perturbed)["segment_name"]
    majority = pd.crosstab(names, perturbed["group"]).idxmax(axis=1)
    assert majority.to_dict() == old_group
    assert retrained.name_matches_ == {"alpha": "alpha", "beta": "beta", "gamma": "gamma"}


def _majority_group(model: LoadShapeSegmenter) -> list[str]:
    shapes = make_shapes()
    names = model.predict_frame(shapes)["segment_name"]
    majority = pd.crosstab(names, shapes["group"]).idxmax(axis=1)
    return [majority[n] for n in model.segment_names_]


def test_unmatched_new_clusters_get_fresh_unique_names(fitted, shapes):
    two = fitted.centroids_.iloc[:2].rename(index=lambda n: f"old {n}")
    model = LoadShapeSegmenter(k_range=(3, 3), n_init=4, random_state=7).fit(shapes, previous=two)
    assert len(set(model.segment_names_)) == 3
    kept = [n for n in model.segment_names_ if n.startswith("old ")]
    assert sorted(kept) == sorted(two.index)
    fresh = [n for n in model.segment_names_ if not n.startswith("old ")]
    assert fresh == [n for n in fitted.segment_names_ if f"old {n}" not in two.index]


def test_far_previous_centroids_are_not_matched(fitted, shapes):
    far = fitted.centroids_.copy()
    far["level_log1p_kwh"] += 5.0  # nothing like the current clusters
    model = LoadShapeSegmenter(k_range=(3, 3), n_init=4, random_state=7).fit(
        shapes, previous=far.rename(index=lambda n: f"x {n}")
    )
    assert model.name_matches_ == {}
    assert model.segment_names_ == fitted.segment_names_


def test_unique_names_suffixes_duplicates_and_reserves_kept_names():
    assert unique_names([None, None, "flat, low use"], ["flat, low use", "flat, low use", "x"]) == [
        "flat, low use #2",
        "flat, low use #3",
        "flat, low use",
    ]
    centroid = pd.DataFrame([dict(zip(ANNUAL_COLUMNS, np.ones(12), strict=True))])
    assert describe_centroids(centroid, None) == ["flat"]


def test_bootstrap_stability_is_high_on_separated_groups(fitted, shapes):
    aris = bootstrap_stability(fitted, shapes, n_boot=3, random_state=0)
    assert len(aris) == 3 and min(aris) > 0.95


def test_gaussian_mixture_with_bic(shapes):
    model = LoadShapeSegmenter(k_range=(2, 4), method="gmm", random_state=0).fit(shapes)
    assert model.n_clusters_ == 3
    assert adjusted_rand_score(shapes["group"], model.predict(shapes)) == 1.0


@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({"groups": ("level", "hourly")}, "groups", id="unknown_group"),
        pytest.param({"k_range": (1, 3)}, "k_range", id="k_below_2"),
        pytest.param({"method": "dbscan"}, "method", id="unknown_method"),
    ],
)
def test_bad_params_are_named(shapes, params, match):
    with pytest.raises(ValueError, match=match):
        LoadShapeSegmenter(**params).fit(shapes)


def test_estimator_contract(fitted):
    copy = clone(fitted)
    assert copy.get_params() == LoadShapeSegmenter(k_range=(2, 5), n_init=4, random_state=7).get_params()
    assert not hasattr(copy, "segment_names_")


# --- value x credit matrix ------------------------------------------------------------------------


def test_repeat_complainers_get_their_named_handling(fitted, shapes):
    from training.value_matrix import REPEAT_COMPLAINER_STRATEGY

    flagged = shapes.assign(is_repeat_complainer=[i % 10 == 0 for i in range(len(shapes))])
    out = fitted.assign_strategies(flagged, None).set_index("customer_id")
    repeat = flagged.index[flagged["is_repeat_complainer"]]
    assert (out.loc[repeat, "strategy"] == REPEAT_COMPLAINER_STRATEGY).all()
    assert not (out.drop(index=repeat)["strategy"] == REPEAT_COMPLAINER_STRATEGY).any()
    assert REPEAT_COMPLAINER_STRATEGY not in set(fitted.assign_strategies(shapes, None)["strategy"])


def test_value_bands_grades_and_strategies(fitted, shapes):
    grades = pd.DataFrame({"customer_id": [shapes.index[0], shapes.index[45]], "grade": ["C", "AAA"]})
    out = fitted.assign_strategies(shapes, grades).set_index("customer_id")
    assert set(out["value_band"]) <= {"low", "medium", "high", "key"}
    assert out["is_key_account"].sum() == pytest.approx(0.05 * len(shapes), abs=2)
    assert out.loc[shapes.index[0], "grade"] == "C" and out.loc[shapes.index[0], "is_high_risk"]
    assert out.loc[shapes.index[1], "grade"] == "unscored"  # no arrears score: explicit
    key = out[out["is_key_account"]]
    assert (key["strategy"] == "key-account manager").all()
    m = fitted.matrix_
    assert m.strategy_for("any", "key", "C") == "key-account manager + payment plan"
    assert m.strategy_for("any", "low", "C") == "prepayment offer"
    assert m.strategy_for("winter heating, high use", "medium", "A") == "energy-efficiency advice (heating)"
    assert m.strategy_for("flat, low use", "medium", "A") == "standard service"
    assert fitted.strategy_for("x", "high", "AA") == "green channel (priority service)"
    cells = m.cells(out.reset_index())
    assert len(cells) == 4 * 6 and cells["customers"].sum() == len(shapes)
    with pytest.raises(ValueError, match="value_band"):
        m.strategy_for("x", "platinum", "A")


def test_strategy_rules_load_from_json(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"strategy": "call them", "grades": ["B", "C"]}]))
    rules = load_rules(path)
    assert rules == (StrategyRule("call them", grades=("B", "C")),)
    matrix = ValueCreditMatrix(rules=rules, default_strategy="nothing").fit(np.arange(100.0))
    assert matrix.strategy_for("", "low", "B") == "call them"
    assert matrix.strategy_for("", "low", "AAA") == "nothing"
    with pytest.raises(ValueError, match="unknown bands"):
        StrategyRule("x", grades=("Z",))


def test_daily_shape_is_used_when_most_customers_have_interval_data(shapes):
    from features.shapes import DAILY_COLUMNS

    hours = np.arange(24)
    evening = np.where((hours >= 17) & (hours < 22), 2.0, 0.7)
    daytime = np.where((hours >= 9) & (hours < 16), 1.6, 0.7)
    profile = {"flat": np.ones(24), "winter": evening, "weekend": daytime}
    rng = np.random.default_rng(0)
    daily = np.stack([profile[g] for g in shapes["group"]]) * rng.lognormal(0, 0.03, (len(shapes), 24))
    daily = daily / daily.mean(axis=1, keepdims=True)
    with_daily = shapes.assign(**dict(zip(DAILY_COLUMNS, daily.T, strict=True)))
    model = LoadShapeSegmenter(k_range=(3, 3), n_init=4).fit(with_daily)
    assert set(DAILY_COLUMNS) <= set(model.feature_names_in_)
    names = pd.Series(model.predict_frame(with_daily)["segment_name"].to_numpy(), index=shapes["group"].to_numpy())
    assert names["winter"].iloc[0].endswith("evening peak")
    assert names["weekend"].iloc[0].endswith("daytime")
    # without enough coverage the 24-hour group is left out, not imputed
    sparse = with_daily.copy()
    sparse.iloc[20:, [sparse.columns.get_loc(c) for c in DAILY_COLUMNS]] = np.nan
    assert not set(DAILY_COLUMNS) & set(LoadShapeSegmenter(k_range=(3, 3)).fit(sparse).feature_names_in_)


def test_segment_profiles_describe_each_centroid(fitted, shapes):
    from training.segment_names import segment_profiles

    sizes = evaluate_segments(fitted, shapes)["sizes"]
    profiles = segment_profiles(fitted.centroids_, sizes).set_index("segment_name")
    winter = profiles.loc["winter heating, high use"]
    assert winter["customers"] == 40
    assert winter["winter_summer_ratio"] == pytest.approx(WINTER[[11, 0, 1]].mean() / WINTER[5:8].mean(), rel=0.05)
    assert winter["kwh_per_day"] == pytest.approx(25.0, rel=0.1)
    assert winter["description"].startswith("40 customers using")


def test_temperature_group_is_optional_and_not_log_transformed(shapes):
    rng = np.random.default_rng(1)
    slope = np.where(shapes["group"].eq("winter"), 0.08, 0.0) + rng.normal(0, 0.01, len(shapes))
    model = LoadShapeSegmenter(groups=("level", "annual", "temperature"), k_range=(3, 3)).fit(
        shapes.assign(temp_slope_hdd=slope)
    )
    assert "temp_slope_hdd" in model.feature_names_in_
    centroid = model.centroids_.loc["winter heating, high use", "temp_slope_hdd"]
    assert centroid == pytest.approx(0.08, abs=0.01)  # in its own units, negative slopes allowed elsewhere
