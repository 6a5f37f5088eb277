"""The one engine for a single series: member choice by inner validation, issue-time honesty, naive guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import training.forecast_engine as engine
from features.series import Panel
from training.backtest_job import issue_origins, run_backtest
from training.baselines import SeasonalNaive
from training.forecast_engine import (
    EngineEnsemble,
    _validation_errors,
    bag_seeds,
    choose_members,
    engine_forecaster,
    engine_spec,
    series_engine,
    validation_span,
)

QUICK = {"n_estimators": 40, "num_leaves": 15, "max_rows": 20_000}


def _hourly(days: int = 160, *, noise: float = 3.0, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2023-01-01", periods=24 * days, freq="h")
    hour, dow = index.hour.to_numpy(), index.day_of_week.to_numpy()
    temp = 10 + 8 * np.sin(np.arange(len(index)) * 2 * np.pi / (24 * 365)) + rng.normal(0, 2, len(index))
    y = 100 + 30 * np.sin((hour - 6) * np.pi / 12) - 15 * (dow >= 5) - 2 * temp + rng.normal(0, noise, len(index))
    series = pd.DataFrame({"series_id": ["input:series"], "level": ["input"], "key": ["series"]})
    return Panel(index, y[None, :], series, "H", {"temperature_c": temp[None, :]})


def _poison_after(panel: Panel, origin: int, value: float) -> Panel:
    y, temp = panel.y.copy(), panel.exog["temperature_c"].copy()
    y[:, origin + 1 :] = value
    temp[:, origin + 1 :] = value
    return Panel(panel.index, y, panel.series, "H", {"temperature_c": temp})


def test_validation_span_is_four_weeks_of_issues_but_at_most_a_quarter_of_the_history():
    assert validation_span("H", 24, 24 * 365) == 24 * 28
    assert validation_span("H", 24, 24 * 60) == 24 * 15
    assert validation_span("D", 28, 3650) == 28 * 8


@pytest.mark.parametrize("overrides", [{}, {"actual_exog": True}], ids=["issue_time", "perfect_weather_control"])
def test_backtest_reads_no_load_or_weather_after_its_issue_time(overrides):
    """Member choice, fit and forecast of one issue are unchanged when every load and temperature after
    the issue time is poisoned; the control (actual weather at the target) must move, or the test is blind."""
    panel = _hourly()
    origin = int(issue_origins(panel, "H", 24, 1)[0])
    poisoned = _poison_after(panel, origin, 1e6)
    kw = {"horizon": 24, "days": 1, "overrides": {**QUICK, **overrides}}
    clean, s_clean = run_backtest(panel, "H", **kw)
    dirty, s_dirty = run_backtest(poisoned, "H", **kw)
    cols = ["model", "timestamp", "p10", "p50", "p90"]
    same = clean[cols].reset_index(drop=True).equals(dirty[cols].reset_index(drop=True))
    assert same is not bool(overrides), "perfect weather must read the target's temperature; issue time must not"
    assert s_clean["members"] == s_dirty["members"]


def test_members_are_chosen_from_data_before_the_end_only():
    panel = _hourly()
    end = 24 * 120 - 1
    _, members = series_engine(panel, "H", 24, end=end, issue_phase=end % 24, overrides=QUICK)
    _, members_poisoned = series_engine(
        _poison_after(panel, end, 1e6), "H", 24, end=end, issue_phase=end % 24, overrides=QUICK
    )
    assert members == members_poisoned and len(members) >= 1


def test_a_learner_that_loses_to_the_seasonal_naive_is_not_served():
    """On a series that repeats every day exactly, the naive is perfect: the engine serves it and its
    backtest MAPE never exceeds the naive's (without the guard LightGBM alone would lose)."""
    index = pd.date_range("2023-01-01", periods=24 * 120, freq="h")
    y = 100 + 30 * np.sin((index.hour.to_numpy() - 6) * np.pi / 12)
    panel = Panel(index, y[None, :], pd.DataFrame({"series_id": ["input:series"]}), "H")
    _, summary = run_backtest(panel, "H", horizon=24, days=7, refit_days=7, overrides=QUICK)
    assert summary["mape"] <= summary["baselines"]["naive_1d"]["mape"] + 1e-9
    assert summary["members"] == ["naive / scale 24"] and summary["seeds_per_learner"] == 3
    origins = issue_origins(panel, "H", 24, 7)
    spec = engine_spec("H", scale_window=168)
    learner = engine_forecaster("H", 24, spec=spec, issue_phase=23, group_col=None, history=len(index), **QUICK)
    alone = EngineEnsemble([learner], 24).fit(panel, end=int(origins[0])).predict(panel, origins)
    assert np.abs(alone["p50"].to_numpy() - y[panel.index.get_indexer(alone["timestamp"])]).mean() > 0


def test_ensemble_band_is_ordered_around_the_average():
    panel = _hourly(days=120)
    factory, _ = series_engine(panel, "H", 24, end=24 * 100 - 1, issue_phase=23, overrides=QUICK)
    fc = factory().fit(panel, end=24 * 100 - 1).predict(panel, np.array([24 * 100 - 1, 24 * 101 - 1]))
    assert len(fc) == 48 and (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()


def test_inner_validation_scores_every_candidate_whatever_the_history_length():
    """A validation window that is not a whole number of days still holds issues at the issue hour."""
    panel = _hourly(days=110)
    end = 24 * 100 + 6  # issue phase 6; a quarter of the history is not a multiple of 24
    factory, _ = series_engine(panel, "H", 24, end=end, issue_phase=end % 24, overrides=QUICK)
    make = factory().members[0]
    assert make.origin_phase == end % 24
    errors = _validation_errors(
        panel,
        "H",
        24,
        lambda w, t: (
            SeasonalNaive(w)
            if t == "naive"
            else engine_forecaster(
                "H", 24, spec=engine_spec("H", scale_window=w), issue_phase=end % 24, group_col=None, target=t, **QUICK
            )
        ),
        end,
    )
    assert errors is not None and len(errors) == 4  # two scale windows, the seasonal target, the naive
    assert all(len(e) >= 24 * 7 for e in errors.values())


def test_bag_seeds_follow_the_row_budget():
    """Ten years of hourly day-ahead issues fit once; four months of quarter-hourly ones over three seeds."""
    assert bag_seeds("H", 24, 24 * 365 * 16) == 1
    assert bag_seeds("Q", 96, 96 * 120) == 3
    assert bag_seeds("H", 24, 24 * 365 * 3) == 3  # 26,280 rows: three seeds within 100,000
    assert bag_seeds("H", 24, 24 * 365 * 3 // 2 * 3) == 2  # 39,408 rows: two seeds


def test_a_small_series_averages_each_learner_over_its_seeds():
    panel = _hourly(days=120)
    end = 24 * 100 - 1
    factory, _ = series_engine(panel, "H", 24, end=end, issue_phase=23, overrides=QUICK)
    ensemble = factory().fit(panel, end=end)
    bag = ensemble.members[0]
    assert isinstance(bag, EngineEnsemble) and len(bag.members) == bag_seeds("H", 24, end + 1) == 3
    assert [m.random_state for m in bag.members] == [0, 1, 2]
    origins = np.array([end, end + 24])
    seeds = [m.predict(panel, origins)["p50"].to_numpy() for m in bag.members]
    assert not np.allclose(seeds[0], seeds[1])  # the seeds differ, so averaging them does something
    np.testing.assert_allclose(bag.predict(panel, origins)["p50"].to_numpy(), np.mean(seeds, axis=0))
    assert all(m.calibration_fraction == 0.0 for m in bag.members[1:])  # only the first seed calibrates


def test_the_naive_is_a_guard_never_averaged_with_learners(monkeypatch):
    """Errors of opposite sign make the learner + naive average best on the inner window; the engine serves
    the learner subset instead (the old rule averaged the naive in)."""
    n = 24 * 28
    errors = {(24, "level"): np.full(n, 1.0), (168, "level"): np.full(n, 1.2), (24, "naive"): np.full(n, -1.1)}
    monkeypatch.setattr(engine, "_validation_errors", lambda *a, **k: errors)
    assert choose_members(None, "H", 24, None) == ((24, "level"),)
    errors[(24, "naive")] = np.full(n, 0.5)
    assert choose_members(None, "H", 24, None) == ((24, "naive"),)
