"""The per-kind sections on stub models: which bills count as matured, drift against the reference, and
segment shares, migration and distance drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.monitoring_checks import arrears_section, forecast_section, segments_section
from training.monitoring_rules import MonitoringSettings


class StubArrears:
    feature_names_in_ = ("x",)

    class grade_policy_:
        grades = ("A", "B")

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return X["x"].clip(0, 1).to_numpy(dtype=float)

    def grade(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.where(p > 0.5, "B", "A"), np.where(p > 0.5, "call", "none")


def bills(shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    issue = pd.to_datetime(np.repeat(["2024-01-01", "2024-02-01", "2024-05-20"], 100))
    x = rng.uniform(0, 1, 300) + np.r_[np.zeros(200), np.full(100, shift)]
    known = np.r_[np.ones(200, bool), np.zeros(100, bool)]
    label = (rng.uniform(0, 1, 300) < x.clip(0, 1)).astype(int) * known
    return pd.DataFrame(
        {"issue_date": issue, "due_date": issue + pd.Timedelta(days=20), "x": x, "label": label, "label_known": known}
    )


def section(frame: pd.DataFrame, **kw):
    args = dict(
        version="1", trained_as_of=pd.Timestamp("2024-03-01"), validation_start=pd.Timestamp("2024-01-01"),
        reference_auc=0.75, as_of=pd.Timestamp("2024-06-01"), settings=MonitoringSettings(min_rows=10),
        late_days=30,
    )  # fmt: skip
    return arrears_section(frame, StubArrears(), **(args | kw))


def test_matured_bills_are_those_whose_window_closed_after_the_cutoff():
    sec = section(bills())
    # January bills close on 2024-02-20 (before the cutoff: the model saw them); February bills on 2024-03-22
    assert sec.metrics["matured_bills"] == 100
    assert set(sec.tables["calibration"]["grade"]) == {"A", "B"}
    assert sec.metrics["matured_auc"] > 0.6


def test_a_shifted_current_period_raises_a_score_psi_alert_and_a_calm_one_does_not():
    calm, moved = section(bills()), section(bills(shift=0.6))
    assert calm.metrics["score_psi"] < 0.25
    assert moved.metrics["score_psi"] >= 0.25
    assert any(b.subject == "score" and b.severity == "alert" for b in moved.breaches)
    assert not any(b.subject == "score" for b in calm.breaches)


def test_no_current_bills_is_a_note_not_a_crash():
    sec = section(bills(), as_of=pd.Timestamp("2025-01-01"))
    assert sec.status == "unavailable" and "current period (0)" in sec.note


class StubSegments:
    feature_names_in_ = ("level",)

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        seg = (X["level"] > 1.0).astype(int).to_numpy()
        names = np.where(seg == 1, "high", "low")
        return pd.DataFrame({"segment_id": seg, "segment_name": names, "distance": (X["level"] - 1).abs().to_numpy()},
                            index=X.index)  # fmt: skip


def test_segments_section_shares_migration_and_distance():
    ids = pd.Index([f"C{i}" for i in range(100)], name="customer_id")
    ref = pd.DataFrame({"level": np.linspace(0.5, 1.5, 100)}, index=ids)
    cur = pd.DataFrame({"level": np.linspace(0.5, 1.5, 100) + 0.6}, index=ids)
    sec = segments_section(ref, cur, StubSegments(), version="2", settings=MonitoringSettings())
    assert sec.metrics["migrated_customers"] == 50  # the low half moved to high
    assert sec.metrics["max_share_change"] == pytest.approx(0.5)
    assert {b.check for b in sec.breaches} >= {"share", "segment_mix_psi", "distance", "psi"}


def test_forecast_section_without_actuals_is_unavailable():
    issued = pd.DataFrame({"level": ["total"], "key": ["all"], "freq": ["D"], "timestamp": [pd.Timestamp("2024-01-01")],
                           "p10": [1.0], "p50": [2.0], "p90": [3.0]})  # fmt: skip
    actuals = issued[["level", "key", "freq", "timestamp"]].iloc[:0].assign(y=[])
    sec = forecast_section(issued, actuals, None, pd.DataFrame(), version="1", settings=MonitoringSettings())
    assert sec.status == "unavailable"


def _month_of_forecasts(month: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A daily month whose forecasts are 10 % off every day (APE 10 %), 80 % of days inside the band."""
    ts = pd.date_range(f"{month}-01", periods=30, freq="D")
    y = 100 + 20 * np.sin(np.arange(30))
    p50 = y * np.where(np.arange(30) % 2, 1.1, 0.9)
    half = np.where(np.arange(30) < 24, 0.15, 0.05) * y
    keys = {"level": "total", "key": "all", "freq": "D", "timestamp": ts}
    return pd.DataFrame({**keys, "p10": p50 - half, "p50": p50, "p90": p50 + half}), pd.DataFrame({**keys, "y": y})


@pytest.mark.parametrize(
    ("month", "same_month_mape", "whole_mape", "stored", "reference", "breach"),
    [
        ("2024-07", 4.0, 12.0, True, "same_month", True),  # summer is easy: 10 % is bad for July
        ("2024-07", 4.0, 12.0, False, "whole_backtest", False),  # ... which the whole-year figure hides
        ("2024-12", 9.0, 5.0, True, "same_month", False),  # December is hard: 10 % is December's normal
        ("2024-12", 9.0, 5.0, False, "whole_backtest", True),  # ... which the whole-year figure calls a breach
    ],
)
def test_forecast_section_compares_each_month_with_the_same_month_of_the_backtest(
    month, same_month_mape, whole_mape, stored, reference, breach
):
    issued, actuals = _month_of_forecasts(month)
    whole = pd.DataFrame({"freq": ["D"], "level": ["total"], "mape": [whole_mape], "coverage_p10_p90": [0.8]})
    by_month = pd.DataFrame({"freq": ["D"] * 2, "level": ["total"] * 2, "month": [int(month[-2:]), 3], "n": [60, 60],
                             "mape": [same_month_mape, 1.0], "coverage_p10_p90": [0.8, 0.8]})  # fmt: skip
    sec = forecast_section(issued, actuals, None, whole, version="1", settings=MonitoringSettings(),
                           by_month=by_month if stored else None)  # fmt: skip
    assert sec.metrics["mape_total_D"] == pytest.approx(10.0) and sec.metrics["periods_total_D"] == 30
    assert [c["reference"] for c in sec.summary()["checks"]] == [reference]
    assert sec.summary()["checks"][0]["period"] == month
    assert [b.check for b in sec.breaches] == (["error"] if breach else [])
    if breach:
        assert sec.breaches[0].reference == reference and sec.breaches[0].subject == f"total@D {month}"
        assert ("same calendar month" in sec.breaches[0].message) is (reference == "same_month")
