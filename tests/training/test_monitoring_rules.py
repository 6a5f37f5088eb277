"""Every threshold breach fires on its bad case and stays quiet on the good one."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from training.monitoring_rules import (
    MonitoringSettings,
    auc_breach,
    calibration_breaches,
    coverage_interval,
    distance_breach,
    forecast_breaches,
    input_breaches,
    overall,
    psi_breaches,
    retrain_kinds,
    share_breaches,
)

S = MonitoringSettings()


def test_defaults_are_the_stated_conventions():
    assert (S.psi_warn, S.psi_alert, S.coverage_low, S.coverage_high) == (0.10, 0.25, 0.70, 0.90)


def test_settings_refuse_disordered_thresholds():
    with pytest.raises(ValidationError, match="psi_warn"):
        MonitoringSettings(psi_warn=0.3, psi_alert=0.2)


@pytest.mark.parametrize(("value", "severity"), [(0.05, None), (0.10, "warn"), (0.2, "warn"), (0.25, "alert")])
def test_psi_levels(value, severity):
    found = psi_breaches("arrears", pd.DataFrame({"feature": ["kwh_mean_30d"], "psi": [value], "ks": [0.1]}), S)
    assert [b.severity for b in found] == ([severity] if severity else [])
    if severity:
        assert "kwh_mean_30d" in found[0].message and found[0].retrain is (severity == "alert")


def test_calibration_breach_needs_enough_bills_and_a_gap_past_the_margin():
    table = pd.DataFrame(
        {
            "grade": ["A", "B", "C"],
            "n": [500, 500, 10],
            "predicted_rate": [0.05, 0.2, 0.1],
            "realised_rate": [0.08, 0.4, 0.9],
        }
    ).assign(gap=lambda d: d["realised_rate"] - d["predicted_rate"])
    found = calibration_breaches(table, S)
    assert [b.subject for b in found] == ["B"] and "above the predicted" in found[0].message


def test_auc_breach():
    assert auc_breach(0.70, 0.80, 500, S)[0].retrain
    assert auc_breach(0.78, 0.80, 500, S) == []
    assert auc_breach(0.50, 0.80, 5, S) == []  # too few matured bills


def test_share_and_distance_breaches():
    shift = pd.DataFrame({"label": ["x", "y"], "reference_share": [0.5, 0.5], "current_share": [0.3, 0.7]}).assign(
        change=lambda d: d["current_share"] - d["reference_share"]
    )
    assert [b.subject for b in share_breaches("segments", shift, S)] == ["x", "y"]
    assert distance_breach(1.5, S)[0].check == "distance"
    assert distance_breach(1.1, S) == []


def _errors(coverage, mape, backtest_mape, n=1000, mape_se=None):
    frame = pd.DataFrame(
        {"freq": ["D"], "level": ["total"], "n": [n], "mape": [mape], "coverage_p10_p90": [coverage],
         "backtest_mape": [backtest_mape], "mape_excess": [mape / backtest_mape - 1]}
    )  # fmt: skip
    return frame if mape_se is None else frame.assign(mape_se=mape_se)


@pytest.mark.parametrize(
    ("coverage", "mape", "checks"),
    [(0.8, 10.0, []), (0.5, 10.0, ["coverage"]), (0.95, 10.0, ["coverage"]), (0.8, 13.0, ["error"])],
)
def test_forecast_breaches(coverage, mape, checks):
    assert [b.check for b in forecast_breaches(_errors(coverage, mape, 10.0), S)] == checks


def test_forecast_breach_needs_enough_periods():
    assert forecast_breaches(_errors(0.2, 50.0, 10.0, n=3), S) == []


@pytest.mark.parametrize(
    ("coverage", "n", "breach"),
    [
        (0.60, 30, False),  # Wilson 95 % [0.42, 0.75] reaches into the band: sampling noise
        (0.60, 1000, True),  # [0.57, 0.63]: below 70 % beyond noise
        (0.40, 30, True),  # [0.25, 0.58]: wholly below 70 %
        (1.00, 30, False),  # 30 of 30: [0.89, 1.00] reaches 90 %
        (0.95, 1000, True),  # [0.94, 0.96]: wholly above 90 %
        (0.85, 30, False),
    ],
)
def test_coverage_breach_is_sample_size_aware(coverage, n, breach):
    found = forecast_breaches(_errors(coverage, 10.0, 10.0, n=n), S)
    assert [b.check for b in found] == (["coverage"] if breach else [])
    if breach:
        assert "95% interval" in found[0].message


def test_coverage_interval_is_wilson_by_hand():
    # Wilson: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n); 24 of 30, z = 1.959964
    z, n, p = 1.959964, 30, 0.8
    centre, half = p + z**2 / (2 * n), z * (p * (1 - p) / n + z**2 / (4 * n**2)) ** 0.5
    assert coverage_interval(24, 30, 0.95) == pytest.approx(((centre - half) / (1 + z**2 / n),
                                                             (centre + half) / (1 + z**2 / n)), abs=1e-6)  # fmt: skip
    assert coverage_interval(24, 30, 0.0) == (0.8, 0.8)


def test_point_rule_when_breach_confidence_is_zero():
    point = MonitoringSettings(breach_confidence=0.0)
    assert [b.check for b in forecast_breaches(_errors(0.6, 10.0, 10.0, n=30), point)] == ["coverage"]
    assert [b.check for b in forecast_breaches(_errors(0.8, 13.0, 10.0, n=30, mape_se=2.0), point)] == ["error"]


@pytest.mark.parametrize(
    ("mape", "mape_se", "breach"),
    [
        (13.0, 2.0, False),  # 13 - 1.96 * 2 = 9.1 <= 12.5 (backtest 10 + 25 %): could be noise
        (13.0, 0.1, True),  # 12.8 > 12.5: above the margin beyond noise (many periods)
        (20.0, 2.0, True),  # 16.1 > 12.5
        (12.0, 0.01, False),  # within the margin however precise
    ],
)
def test_error_breach_is_sample_size_aware(mape, mape_se, breach):
    found = forecast_breaches(_errors(0.8, mape, 10.0, n=30, mape_se=mape_se), S)
    assert [b.check for b in found] == (["error"] if breach else [])


def test_input_breaches_do_not_recommend_retraining():
    rates = pd.DataFrame({"table": ["bills", "readings", "payments"], "rows_in": [100, 100, 100],
                          "quarantined": [10, 2, 0], "rejection_rate": [0.10, 0.02, 0.0]})  # fmt: skip
    found = input_breaches(rates, S)
    assert [(b.subject, b.severity, b.retrain) for b in found] == [
        ("bills", "alert", False),
        ("readings", "warn", False),
    ]


def test_overall_and_retrain_kinds():
    found = psi_breaches("forecast", pd.DataFrame({"feature": ["score"], "psi": [0.5]}), S)
    found += psi_breaches("arrears", pd.DataFrame({"feature": ["f"], "psi": [0.12]}), S)
    assert overall(found) == "alert" and overall([]) == "ok"
    assert retrain_kinds(found) == ["forecast"]


def test_features_that_grow_with_time_are_reported_but_never_a_breach():
    drift = pd.DataFrame({"feature": ["tenure_months", "arrears_amount"], "psi": [2.0, 2.0]})
    assert [b.subject for b in psi_breaches("arrears", drift, S)] == ["arrears_amount"]
    assert len(psi_breaches("arrears", drift, MonitoringSettings(psi_ignore=()))) == 2
