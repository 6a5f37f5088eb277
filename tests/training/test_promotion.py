import pandas as pd
import pytest

from training.promotion import Scored, decide, relative_improvement


def s(value, *, version="2", higher=True, data="d1", as_of="2014-01-01", metric="auc"):
    return Scored(version, metric, value, higher, data, pd.Timestamp(as_of))


def test_challenger_needs_the_margin():
    assert decide(s(0.905), s(0.90, version="1"), margin=0.01).promote is False
    assert decide(s(0.92), s(0.90, version="1"), margin=0.01).promote is True


def test_lower_is_better_metrics():
    champ = s(1.00, version="1", higher=False, metric="mase")
    assert decide(s(0.95, higher=False, metric="mase"), champ, margin=0.01).promote is True
    assert decide(s(1.05, higher=False, metric="mase"), champ, margin=0.01).promote is False


def test_a_worse_challenger_on_newer_data_never_wins():
    champ = s(0.90, version="1", as_of="2014-01-01")
    assert decide(s(0.85, as_of="2014-03-01"), champ).promote is False


def test_scores_on_different_data_are_refused():
    with pytest.raises(ValueError, match="different data"):
        decide(s(0.95, data="new"), s(0.90, version="1", data="old"))


def test_missing_champion_score_is_no_free_pass():
    with pytest.raises(ValueError, match="not scored"):
        decide(s(0.95), None, has_champion=True)


def test_first_model_must_beat_the_baseline():
    assert decide(s(0.70), None, baseline=s(0.75, version=None)).promote is False
    assert decide(s(0.80), None, baseline=s(0.75, version=None)).promote is True


def test_old_champion_is_replaced_by_an_equal_challenger():
    champ = s(0.90, version="1", as_of="2013-01-01")
    d = decide(s(0.899, as_of="2014-01-01"), champ, margin=0.01, max_age_days=180)
    assert d.promote is True and "older" in d.reason
    assert decide(s(0.85, as_of="2014-01-01"), champ, margin=0.01, max_age_days=180).promote is False


def test_relative_improvement_sign():
    assert relative_improvement(s(0.99), s(0.90)) == pytest.approx(0.1)
    assert decide(s(0.5), s(0.9), force=True).promote is True
    assert decide(s(0.95), s(0.9)).tags()["promotion"] == "champion"
