"""Arrears training set: features as of each issue date, labels afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.payments import FEATURES as PAYMENT_FEATURES
from features.payments import build_payment_profile
from features.training_sets import FEATURE_DESCRIPTIONS, FEATURES, build_arrears_training_set
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return make_tenant(n_customers=6)


@pytest.fixture(scope="module")
def training(tables) -> pd.DataFrame:
    return build_arrears_training_set(tables, label_as_of=pd.Timestamp("2024-07-01"))


def test_one_row_per_bill_with_described_features(tables, training):
    assert len(training) == len(tables["bills"]) and training["bill_id"].is_unique
    assert list(training.columns[:4]) == ["customer_id", "bill_id", "issue_date", "due_date"]
    assert list(training.columns[-2:]) == ["label", "label_known"]
    assert set(training.columns[4:-2]) == set(FEATURES) == set(FEATURE_DESCRIPTIONS)


def test_rows_equal_the_profile_as_of_the_issue_date(tables, training):
    """The training row of a bill is the customer's payment profile as of that bill's issue date."""
    for bill in training.sample(12, random_state=0).itertuples():
        profile = build_payment_profile(tables["bills"], tables["payments"], as_of=bill.issue_date)
        expected = profile.set_index("customer_id").loc[bill.customer_id, list(PAYMENT_FEATURES)]
        got = training.set_index("bill_id").loc[bill.bill_id, list(PAYMENT_FEATURES)]
        pd.testing.assert_series_equal(got.astype(float), expected.astype(float), check_names=False)


def test_payments_after_issue_date_do_not_leak(tables, training):
    """Dropping every payment made after a bill's issue date leaves that bill's features unchanged."""
    bill = training.iloc[len(training) // 2]
    cut = (bill["issue_date"] + pd.Timedelta(days=1)).tz_localize("UTC")
    pays = tables["payments"]
    assert (pays["paid_at"] >= cut).any()
    trimmed = {
        **tables,
        "payments": pays[pays["paid_at"] < cut],
        "readings": tables["readings"][tables["readings"]["reading_date"] <= bill["issue_date"]],
    }
    again = build_arrears_training_set(trimmed, label_as_of=pd.Timestamp("2024-07-01"))
    a = training.set_index("bill_id").loc[bill["bill_id"], list(FEATURES)]
    b = again.set_index("bill_id").loc[bill["bill_id"], list(FEATURES)]
    pd.testing.assert_series_equal(a, b)
    # the label, however, does depend on later payments (it is only known afterwards)
    assert training["label"].sum() != again["label"].sum()


def _one_bill_case(paid_days_after_due: float | None, label_as_of: str) -> pd.Series:
    due = pd.Timestamp("2024-01-31")
    bills = pd.DataFrame(
        {
            "bill_id": ["B"],
            "customer_id": ["A"],
            "issue_date": [due - pd.Timedelta(days=21)],
            "due_date": [due],
            "kwh": [10.0],
            "amount": [5.0],
        }
    )
    paid = [] if paid_days_after_due is None else [(due + pd.Timedelta(days=paid_days_after_due)).tz_localize("UTC")]
    payments = pd.DataFrame(
        {
            "payment_id": [f"P{i}" for i in range(len(paid))],
            "bill_id": "B",
            "customer_id": "A",
            "paid_at": pd.DatetimeIndex(paid, tz="UTC"),
            "amount": 5.0,
            "channel": "card",
        }
    )
    out = build_arrears_training_set({"bills": bills, "payments": payments}, label_as_of=pd.Timestamp(label_as_of))
    return out.iloc[0]


@pytest.mark.parametrize(
    ("paid_after", "label_as_of", "label", "known"),
    [
        pytest.param(30, "2024-06-01", 0, True, id="paid_exactly_30_days_late"),
        pytest.param(31, "2024-06-01", 1, True, id="paid_31_days_late"),
        pytest.param(-3, "2024-06-01", 0, True, id="paid_early"),
        pytest.param(None, "2024-06-01", 1, True, id="unpaid_long_after_due"),
        pytest.param(None, "2024-02-20", 0, False, id="unpaid_outcome_open"),
        pytest.param(40, "2024-02-20", 0, False, id="paid_late_after_label_as_of"),
        # censoring: a bill paid on time while its window is open is not yet a known 0
        pytest.param(-3, "2024-02-20", 0, False, id="paid_on_time_window_open_is_not_known"),
        pytest.param(-3, "2024-03-01", 0, True, id="paid_on_time_window_closed"),
        pytest.param(None, "2024-03-01", 1, True, id="unpaid_when_the_window_closes"),
        pytest.param(None, "2024-02-29", 0, False, id="unpaid_a_day_before_the_window_closes"),
    ],
)
def test_label(paid_after, label_as_of, label, known):
    row = _one_bill_case(paid_after, label_as_of)
    assert (row["label"], bool(row["label_known"])) == (label, known)


def test_no_customers_or_readings_gives_nan_usage(tables):
    out = build_arrears_training_set({"bills": tables["bills"], "payments": tables["payments"]})
    assert out["kwh_mean_30d"].isna().all() and not out["has_readings"].any()


def test_missing_table_or_column_is_named(tables):
    with pytest.raises(ValueError, match="bills"):
        build_arrears_training_set({"payments": tables["payments"]})
    with pytest.raises(ValueError, match="issue_date"):
        build_arrears_training_set({**tables, "bills": tables["bills"].drop(columns="issue_date")})
    with pytest.raises(ValueError, match="label_as_of"):
        build_arrears_training_set(tables, label_as_of="2024-01-01")
    assert np.isfinite(build_arrears_training_set(tables)["bill_amount_last"]).all()


def test_training_features_all_exist_in_the_profile():
    from features.profiles import FEATURE_DESCRIPTIONS as PROFILE_DESCRIPTIONS

    for name in FEATURES:
        assert PROFILE_DESCRIPTIONS[name] == FEATURE_DESCRIPTIONS[name], name


def test_usage_levels_equal_the_profile_values_bill_by_bill():
    """Training-set path and profile path share one implementation: every bill's values, exactly."""
    from features.usage import build_usage_profile

    tables = make_tenant(n_customers=6, seed=4)
    readings = tables["readings"]
    gappy = (readings["customer_id"] == "C001") & (readings["reading_date"].dt.month % 3 == 0)
    late_start = (readings["customer_id"] == "C002") & (readings["reading_date"] < "2024-01-10")
    tables = {**tables, "readings": readings[~gappy & ~late_start].reset_index(drop=True)}
    training = build_arrears_training_set(tables)
    usage_cols = ["has_readings", "kwh_mean_30d", "kwh_mean_90d", "kwh_mean_365d"]
    expected = []
    for cutoff, bills in training.groupby("issue_date"):
        profile = build_usage_profile(tables["readings"], as_of=cutoff).set_index("customer_id")
        expected.append(profile.reindex(bills["customer_id"])[usage_cols].set_axis(bills.index))
    expected = pd.concat(expected).loc[training.index]
    expected["has_readings"] = expected["has_readings"].fillna(False).astype(bool)  # no row: no readings
    assert (~expected["has_readings"]).any() and expected["kwh_mean_30d"].notna().any()
    for col in usage_cols:
        np.testing.assert_array_equal(training[col].to_numpy(), expected[col].to_numpy(), err_msg=col)
