"""Theft features are point in time and flag what an inspector looks for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.theft import THEFT_FEATURES, build_theft_features, estimate_stolen_kwh

AS_OF = pd.Timestamp("2023-01-01")


def _meter(customer: str, monthly: list[float], start: str = "2020-01-31", status: str = "0") -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(monthly), freq="ME")
    new = np.cumsum(monthly) + 1000.0
    return pd.DataFrame(
        {
            "customer_id": customer,
            "meter_id": f"M-{customer}",
            "read_date": dates,
            "old_index": np.r_[1000.0, new[:-1]],
            "new_index": new,
            "status": status,
            "remark": "",
            "multiplier": 1.0,
        }
    )


@pytest.fixture
def reads() -> pd.DataFrame:
    steady = _meter("steady", [300.0] * 48)
    bypass = _meter("bypass", [300.0] * 24 + [90.0] * 24)  # a 70 % step down from 2022-01
    zeroing = _meter("zeroing", [300.0, 0.0, 300.0, 0.0, 0.0, 0.0] * 8)
    rollback = _meter("rollback", [300.0] * 48)
    rollback.loc[30, "new_index"] = rollback.loc[30, "old_index"] - 500.0  # the register was wound back
    return pd.concat([steady, bypass, zeroing, rollback], ignore_index=True)


def test_changing_reads_on_or_after_the_cutoff_moves_nothing(reads):
    before = build_theft_features(reads, as_of=AS_OF)
    later = reads["read_date"] >= AS_OF
    assert later.any() and (~later).any()
    changed = reads.copy()
    changed.loc[later, "new_index"] = changed.loc[later, "old_index"] * 0.5  # rollbacks, drops after the cutoff
    changed.loc[later, "status"] = "5"
    extra = _meter("newcomer", [50.0] * 3, start="2023-02-28")  # a customer who appears after the cutoff
    after = build_theft_features(
        pd.concat([changed, extra], ignore_index=True), as_of=AS_OF, status_codes=["0"], remark_codes=[""]
    )
    pd.testing.assert_frame_equal(before[after.columns], after)
    assert "newcomer" not in after.index


def test_control_a_change_before_the_cutoff_does_move_the_features(reads):
    before = build_theft_features(reads, as_of=AS_OF)
    changed = reads.copy()
    earlier = (changed["customer_id"] == "steady") & (changed["read_date"] < AS_OF)
    changed.loc[earlier[earlier].index[-3:], "new_index"] -= 250.0
    assert not build_theft_features(changed, as_of=AS_OF).equals(before)


def test_each_pattern_lights_its_own_features(reads):
    f = build_theft_features(reads, as_of=AS_OF)
    assert set(THEFT_FEATURES) <= set(f.columns)
    assert f.loc["bypass", "kwh_drop_365d"] == pytest.approx(0.7, abs=0.01)
    assert f.loc["bypass", "step_drop_max"] == pytest.approx(0.7, abs=0.01)
    assert abs(f.loc["steady", "kwh_drop_365d"]) < 0.01 and f.loc["steady", "step_drop_max"] == pytest.approx(
        0, abs=0.05
    )
    assert f.loc["zeroing", "zero_run_max"] == 3 and f.loc["zeroing", "zero_share"] == pytest.approx(4 / 6)
    assert f.loc["steady", "zero_run_max"] == 0
    assert f.loc["rollback", "rollback_count"] == 1 and f.loc["steady", "rollback_count"] == 0
    assert f.loc["rollback", "index_gap_count"] >= 1  # the next read starts from a wound-back index
    assert f.loc["bypass", "peer_ratio_365d"] < f.loc["steady", "peer_ratio_365d"]


def test_estimated_stolen_kwh_is_the_drop_for_a_bypass_and_never_negative(reads):
    f = build_theft_features(reads, as_of=AS_OF)
    stolen = estimate_stolen_kwh(f)
    assert (stolen >= 0).all()
    per_month = stolen["bypass"] / (365.25 / 30)
    assert per_month == pytest.approx(210 * 30 / (365.25 / 12), rel=0.05)  # 210 kWh a month not billed
    assert stolen["bypass"] > stolen["steady"]


def test_missing_column_is_named(reads):
    with pytest.raises(ValueError, match="multiplier"):
        build_theft_features(reads.drop(columns="multiplier"), as_of=AS_OF)
