"""The promotion glue: the tenant's margin and age limits, and no free pass for an unscored champion."""

from __future__ import annotations

import pandas as pd
import pytest

from training.lifecycle import data_id, judge
from training.promotion import DEFAULT_MARGIN, Scored
from training.settings import TrainingSettings


def s(value, *, version="2", as_of="2014-01-01", data="d1"):
    return Scored(version, "roc_auc", value, True, data, pd.Timestamp(as_of))


def test_default_margin_is_the_documented_non_zero_one():
    assert TrainingSettings().promote_margin == DEFAULT_MARGIN > 0


@pytest.mark.parametrize(
    ("challenger", "margin", "promote"),
    [
        pytest.param(0.905, 0.01, False, id="gain_below_margin"),
        pytest.param(0.92, 0.01, True, id="gain_above_margin"),
        pytest.param(0.905, 0.0, True, id="zero_margin_lets_a_tiny_gain_through"),
    ],
)
def test_margin_comes_from_the_settings(challenger, margin, promote):
    settings = TrainingSettings(promote_margin=margin)
    assert judge(s(challenger), s(0.90, version="1"), training=settings, has_champion=True).promote is promote


def test_an_old_champion_keeps_no_edge_but_a_young_one_does():
    settings = TrainingSettings(promote_max_age_days=180)
    old = s(0.90, version="1", as_of="2013-01-01")
    young = s(0.90, version="1", as_of="2013-12-01")
    assert judge(s(0.899), old, training=settings, has_champion=True).promote is True
    assert judge(s(0.899), young, training=settings, has_champion=True).promote is False


def test_an_unscored_champion_is_a_refusal_not_a_free_pass():
    d = judge(s(0.99), None, training=TrainingSettings(), has_champion=True)
    assert d.promote is False and d.reason.startswith("refused") and "not scored" in d.reason
    assert judge(s(0.99), None, training=TrainingSettings(), has_champion=True, force=True).promote is True


def test_data_id_names_the_rows_and_labels():
    ids, labels = pd.Series(["A", "B"]), pd.Series([0, 1])
    assert data_id(ids, labels) == data_id(ids.copy(), labels.copy())
    assert data_id(ids, labels) != data_id(ids, pd.Series([1, 1]))
