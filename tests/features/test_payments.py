"""Payment profile: hand-checked values, point-in-time correctness, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ContractViolation
from features.payments import FEATURE_DESCRIPTIONS, FEATURES, build_payment_profile
from tests.conftest import make_tenant

AS_OF = pd.Timestamp("2024-01-15")


def _bills(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bill_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "issue_date": pd.to_datetime([r[2] for r in rows]),
            "due_date": pd.to_datetime([r[3] for r in rows]),
            "kwh": 100.0,
            "amount": [r[4] for r in rows],
        }
    )


def _payments(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payment_id": [f"P{i}" for i in range(len(rows))],
            "bill_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "paid_at": pd.to_datetime([r[2] for r in rows]).tz_localize("UTC"),
            "amount": [r[3] for r in rows],
            "channel": "card",
        }
    )


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    bills = _bills(
        [
            ("B1", "A", "2023-09-05", "2023-09-26", 50.0),  # paid 40 days late -> late
            ("B2", "A", "2023-10-05", "2023-10-26", 60.0),  # two payments, in full 5 days late
            ("B3", "A", "2023-11-05", "2023-11-26", 70.0),  # unpaid: 50 days past due at AS_OF -> late
            ("B4", "A", "2023-12-05", "2023-12-26", 80.0),  # unpaid, 20 days past due: arrears, not late
            ("B5", "A", "2024-01-05", "2024-01-26", 90.0),  # not due yet
            ("B6", "A", "2024-02-05", "2024-02-26", 99.0),  # issued after AS_OF: invisible
        ]
    )
    payments = _payments(
        [
            ("B1", "A", "2023-11-05 10:00", 50.0),
            ("B2", "A", "2023-10-20 10:00", 20.0),
            ("B2", "A", "2023-10-31 10:00", 40.0),
            ("B3", "A", "2024-02-01 10:00", 70.0),  # after AS_OF: unknown at AS_OF
        ]
    )
    return bills, payments


def test_hand_checked_values(small):
    bills, payments = small
    row = build_payment_profile(bills, payments, as_of=AS_OF, late_days=30).iloc[0]
    assert row["customer_id"] == "A"
    assert row["bills_total"] == 5 and row["bills_3m"] == 3 and row["bills_12m"] == 5
    assert row["late_bills_12m"] == 2  # B1 paid 40 days late, B3 unpaid 50 days past due
    assert row["unpaid_past_due_bills"] == 2  # B3, B4
    assert row["arrears_amount"] == pytest.approx(150.0)
    assert row["outstanding_amount"] == pytest.approx(240.0)
    assert row["arrears_age_days"] == (AS_OF - pd.Timestamp("2023-11-26")).days
    assert row["on_time_ratio_12m"] == 0.0  # none of B1..B4 paid by due date
    assert row["days_late_max_12m"] == 50.0
    assert row["days_late_mean_12m"] == pytest.approx((40 + 5 + 50 + 20) / 4)
    assert row["late_streak_max"] == 1  # B1 late, B2 not, B3 late
    assert row["payments_12m"] == 3 and row["partial_payments_12m"] == 1
    assert row["channel_share_card_12m"] == 1.0
    assert row["bill_amount_last"] == 90.0
    assert row["bill_amount_change_prev3"] == pytest.approx(90.0 / 70.0 - 1)
    assert row["months_since_last_late"] == pytest.approx((AS_OF - pd.Timestamp("2023-12-27")).days / 30.4375)


def test_later_payments_and_bills_never_change_the_profile():
    tenant = make_tenant()
    bills, payments = tenant["bills"], tenant["payments"]
    base = build_payment_profile(bills, payments, as_of=AS_OF)
    late_cut = AS_OF + pd.Timedelta(days=1)  # payments from the next UTC day on are unknown at AS_OF
    future = payments["paid_at"] >= late_cut.tz_localize("UTC")
    assert future.any() and (bills["issue_date"] > AS_OF).any()
    # drop every later payment, move the rest of later payments, add a later bill: nothing may move
    dropped = build_payment_profile(bills, payments[~future], as_of=AS_OF)
    pd.testing.assert_frame_equal(base, dropped)
    shifted = payments.copy()
    shifted.loc[future, "paid_at"] += pd.Timedelta(days=40)
    shifted.loc[future, "amount"] *= 0.5
    pd.testing.assert_frame_equal(base, build_payment_profile(bills, shifted, as_of=AS_OF))
    # control: the same edit on payments known at AS_OF does change the profile
    known = ~future & (payments["paid_at"] > (AS_OF - pd.Timedelta(days=60)).tz_localize("UTC"))
    edited = payments.copy()
    edited.loc[known, "paid_at"] = late_cut.tz_localize("UTC") + pd.Timedelta(days=3)
    assert not base.equals(build_payment_profile(bills, edited, as_of=AS_OF))


def test_payment_late_on_as_of_day_counts_but_next_day_does_not(small):
    bills, payments = small
    on_day = payments.copy()
    on_day.loc[3, "paid_at"] = pd.Timestamp("2024-01-15 23:59", tz="UTC")
    next_day = payments.copy()
    next_day.loc[3, "paid_at"] = pd.Timestamp("2024-01-16 00:00", tz="UTC")
    assert build_payment_profile(bills, on_day, as_of=AS_OF).loc[0, "unpaid_past_due_bills"] == 1
    assert build_payment_profile(bills, next_day, as_of=AS_OF).loc[0, "unpaid_past_due_bills"] == 2


def test_customer_without_payments_is_all_arrears():
    bills = _bills([("B1", "Z", "2023-10-05", "2023-10-26", 10.0)])
    row = build_payment_profile(bills, _payments([]), as_of=AS_OF).iloc[0]
    assert row["unpaid_past_due_bills"] == 1 and row["late_bills_total"] == 1
    assert np.isnan(row["channel_share_card_12m"]) and row["payments_12m"] == 0


@pytest.mark.parametrize("as_of", ["2024-01-15", 20240115, None, pd.NaT])
def test_as_of_must_be_a_timestamp(small, as_of):
    with pytest.raises(ValueError, match="as_of"):
        build_payment_profile(*small, as_of=as_of)


@pytest.mark.parametrize(("table", "column"), [("bills", "due_date"), ("payments", "paid_at"), ("bills", "amount")])
def test_missing_column_is_named(small, table, column):
    bills, payments = small
    frames = {"bills": bills, "payments": payments}
    frames[table] = frames[table].drop(columns=column)
    with pytest.raises(ContractViolation, match=column):
        build_payment_profile(frames["bills"], frames["payments"], as_of=AS_OF)


def test_every_feature_is_described():
    assert set(FEATURES) == set(FEATURE_DESCRIPTIONS)
    assert all(len(unit) and len(text) > 10 for unit, text in FEATURE_DESCRIPTIONS.values())


@pytest.mark.filterwarnings("ignore:Constructing a Categorical")  # the old coding, for comparison
@pytest.mark.parametrize("dtype", ["str", "object", "category"])
def test_channel_codes_match_categorical_codes(dtype):
    """Channels are coded by a hash lookup; unknown, missing and differently-cased values get -1 like Categorical."""
    from features.asof import lookup
    from features.contracts import CHANNELS

    values = pd.Series(["card", None, "CARD", "cash", "other", "", "direct_debit", np.nan, "agent"], dtype=dtype)
    want = pd.Categorical(values, categories=CHANNELS).codes.astype(np.int64)
    np.testing.assert_array_equal(lookup(values, pd.Index(CHANNELS)), want, strict=True)
