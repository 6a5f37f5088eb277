"""Guardrails: each protection rule and each kind of protected period replaces only strong actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.collections_settings import DEFAULT_ALTERNATIVES, CollectionsSettings, ProtectedPeriod
from training.guardrails import GuardrailPolicy, active_on, guard_frame, protection_codes

STRONG, MILD = "field visit", "reminder SMS"


def customers(**flags) -> pd.DataFrame:
    base = pd.DataFrame({"customer_id": ["A", "B"], "region": ["north", "south"]})
    for column, values in flags.items():
        base[column] = values
    return base


def scores(action: str = STRONG) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["A", "B"], "probability": [0.9, 0.9], "action": [action, action]})


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        pytest.param("medical", True, "medical", id="medical"),
        pytest.param("priority_services", True, "priority_services", id="priority_services"),
        pytest.param("elderly", True, "elderly", id="elderly"),
        pytest.param("low_income", True, "low_income", id="low_income"),
        pytest.param("protection_other", "carer, recent bereavement", "other", id="other_free_text"),
    ],
)
def test_each_rule_replaces_a_strong_action_and_keeps_the_original(column, value, rule):
    flags = {column: pd.array([value, None], dtype="boolean" if isinstance(value, bool) else object)}
    out = guard_frame(scores(), customers(**flags), GuardrailPolicy(CollectionsSettings()), pd.Timestamp("2024-06-01"))
    assert out["guardrail"].tolist() == [rule, None]
    assert out["action"].tolist() == [DEFAULT_ALTERNATIVES[rule], STRONG]
    assert out["original_action"].tolist() == [STRONG, None]


def test_a_reminder_or_no_action_is_never_changed():
    policy = GuardrailPolicy(CollectionsSettings())
    for action in (MILD, "none"):
        out = guard_frame(scores(action), customers(medical=[True, True]), policy, pd.Timestamp("2024-06-01"))
        assert out["guardrail"].isna().all() and (out["action"] == action).all()


def test_null_actions_of_unscored_rows_stay_null():
    policy = GuardrailPolicy(CollectionsSettings())
    out = policy.apply(
        np.array([None, STRONG], dtype=object),
        np.array([1, 1]),
        np.array([-1, -1]),
        pd.Index([]),
        pd.Timestamp("2024-01-01"),
    )
    assert out.action.tolist() == [None, DEFAULT_ALTERNATIVES["medical"]]
    assert out.count == 1


def test_first_rule_wins_when_several_apply():
    c = customers(low_income=[True, False], medical=[True, False], elderly=[True, True])
    assert protection_codes(c).tolist() == [1, 3]  # medical (1st rule) over elderly / low income; elderly (3rd)


def test_blank_free_text_does_not_protect():
    assert protection_codes(customers(protection_other=["  ", None])).tolist() == [0, 0]


WINTER = ProtectedPeriod(name="winter_moratorium", regions=("north",), start="11-15", end="03-15")
HOLIDAY = ProtectedPeriod(name="christmas_2024", start="2024-12-20", end="2025-01-02")


@pytest.mark.parametrize(
    ("period", "day", "expected"),
    [
        pytest.param(WINTER, "2024-12-31", True, id="recurring_wraps_over_new_year_december"),
        pytest.param(WINTER, "2025-01-10", True, id="recurring_wraps_over_new_year_january"),
        pytest.param(WINTER, "2024-11-15", True, id="recurring_first_day_inclusive"),
        pytest.param(WINTER, "2025-03-15", True, id="recurring_last_day_inclusive"),
        pytest.param(WINTER, "2025-03-16", False, id="recurring_day_after"),
        pytest.param(WINTER, "2024-07-01", False, id="recurring_summer"),
        pytest.param(HOLIDAY, "2024-12-25", True, id="fixed_inside"),
        pytest.param(HOLIDAY, "2025-12-25", False, id="fixed_not_next_year"),
    ],
)
def test_period_is_active_on_its_days_only(period, day, expected):
    assert active_on(period, pd.Timestamp(day)) is expected


def test_a_regional_period_guards_only_its_region():
    policy = GuardrailPolicy(CollectionsSettings(protected_periods=(WINTER,)))
    out = guard_frame(scores(), customers(), policy, pd.Timestamp("2024-12-01"))
    assert out["guardrail"].tolist() == ["winter_moratorium", None]
    assert "protected period: winter_moratorium" in out["action"].iloc[0]
    assert out["original_action"].tolist() == [STRONG, None]
    outside = guard_frame(scores(), customers(), policy, pd.Timestamp("2024-06-01"))
    assert outside["guardrail"].isna().all()


def test_an_all_regions_period_guards_everyone_and_customer_rules_win():
    policy = GuardrailPolicy(CollectionsSettings(protected_periods=(HOLIDAY,)))
    out = guard_frame(scores(), customers(medical=[False, True]), policy, pd.Timestamp("2024-12-24"))
    assert out["guardrail"].tolist() == ["christmas_2024", "medical"]


def test_unknown_region_gets_only_all_region_periods():
    policy = GuardrailPolicy(CollectionsSettings(protected_periods=(WINTER,)))
    out = guard_frame(scores(), customers().assign(region=[None, "atlantis"]), policy, pd.Timestamp("2024-12-01"))
    assert out["guardrail"].isna().all()


@pytest.mark.parametrize(
    ("values", "match"),
    [
        pytest.param({"name": "x", "start": "13-01", "end": "01-01"}, "MM-DD", id="bad_month"),
        pytest.param({"name": "x", "start": "2024-01-01", "end": "01-05"}, "both MM-DD", id="mixed_forms"),
        pytest.param({"name": "x", "start": "2024-02-01", "end": "2024-01-01"}, "before start", id="end_first"),
        pytest.param(
            {"name": "x", "start": "01-01", "end": "01-02", "regions": []}, "regions is empty", id="no_region"
        ),
    ],
)
def test_bad_periods_are_refused_with_the_value(values, match):
    with pytest.raises(ValueError, match=match):
        ProtectedPeriod(**values)


def test_unknown_rule_alternative_is_refused():
    with pytest.raises(ValueError, match="unknown rules"):
        CollectionsSettings(guardrail_alternatives={"vip": "call"})
