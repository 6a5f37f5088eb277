"""Request checks: bounds from each feature's declared unit (never its name), ids, columnar matrices."""

from __future__ import annotations

import numpy as np
import pytest

from features.profiles import FEATURE_DESCRIPTIONS
from serving.errors import DuplicateIds, InvalidRequest
from serving.validation import check_bounds, check_ids, declared_units, feature_matrix, unit_bounds
from tests.serving.conftest import BILLING

NAMES = ["kwh_trend_yoy", "late_bills_12m", "load_shape_h00", "bill_amount_change_prev3", "mystery"]


def bounds(names=NAMES, *sources):
    units = declared_units(names, *sources, FEATURE_DESCRIPTIONS)
    return units, *unit_bounds(names, units)


def test_units_come_from_the_first_source_that_declares_them():
    units = declared_units(["a", "b", "c"], {"a": "share"}, {"a": ("count", "x"), "b": ("kWh", "y")}, None)
    assert units == {"a": "share", "b": "kWh"}  # c undeclared


def test_a_relative_change_may_be_negative_while_a_count_may_not():
    units, lower, upper = bounds()
    assert units["kwh_trend_yoy"] == "ratio" and units["late_bills_12m"] == "count"
    ok = np.array([[-0.4, 2.0, 0.5, -0.9, -1e6], [np.nan, np.nan, np.nan, np.nan, np.nan]])
    check_bounds(ok, NAMES, lower, upper, units)  # negative trend, negative change, missing values: fine


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param(1, -1.0, id="negative_count"),
        pytest.param(2, 1.5, id="share_above_one"),
        pytest.param(2, -0.1, id="negative_share"),
    ],
)
def test_out_of_range_value_names_row_field_value_and_unit(column, value):
    units, lower, upper = bounds()
    X = np.zeros((3, len(NAMES)))
    X[2, column] = value
    with pytest.raises(InvalidRequest, match=rf"features\.{NAMES[column]}\[2\] = {value:g}") as err:
        check_bounds(X, NAMES, lower, upper, units)
    assert err.value.field == f"features.{NAMES[column]}" and err.value.code == "feature_out_of_range"
    assert units[NAMES[column]] in str(err.value)


def test_the_manifest_unit_wins_over_the_modules():
    units, lower, upper = bounds(NAMES, {"kwh_trend_yoy": "share"})  # a snapshot declaring it a share
    with pytest.raises(InvalidRequest, match="kwh_trend_yoy"):
        check_bounds(np.array([[-0.4, 0, 0, 0, 0]]), NAMES, lower, upper, units)


def test_check_ids_refuses_duplicates_and_oversized_batches():
    check_ids(["a", "b"], 2)
    with pytest.raises(DuplicateIds, match="a"):
        check_ids(["a", "b", "a"], 5)
    with pytest.raises(InvalidRequest, match="at most 2"):
        check_ids(["a", "b", "c"], 2)


def test_feature_matrix_orders_columns_and_turns_null_into_nan():
    X = feature_matrix({"b": [1, None], "a": [3.5, 4]}, ["a", "b"], 10, None)
    np.testing.assert_array_equal(X, np.array([[3.5, 1.0], [4.0, np.nan]]))
    one = feature_matrix({"b": [None], "a": [2]}, ["a", "b"], 10, ["x"])
    np.testing.assert_array_equal(one, np.array([[2.0, np.nan]]))


def test_api_refuses_a_negative_kwh_and_accepts_any_sign_where_the_unit_allows(client):
    bad = {"features": {"kwh_mean_28d": [5.0, -2.0], "late_bills_12m": [0, 1]}}
    r = client.post("/v1/arrears/score", json=bad, headers=BILLING)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "feature_out_of_range" and err["field"] == "features.kwh_mean_28d"
    assert "features.kwh_mean_28d[1] = -2" in err["message"] and "kWh/day" in err["message"]
    models = client.get("/v1/models/arrears", headers=BILLING).json()
    assert models["feature_units"] == {"kwh_mean_28d": "kWh/day", "late_bills_12m": "count"}
