"""LoadForecaster, baselines and the forecast bundle: leakage, widening intervals, interface."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from features.errors import UnknownSeries
from features.series import FeatureSpec, Panel
from tests.conftest import SHARED_DATA, needs_shared
from training.backtest import attach_actuals, rolling_origin, score
from training.baselines import ETSBaseline, SeasonalNaive
from training.forecast_bundle import ForecastBundle
from training.forecasting import LoadForecaster

SPEC = FeatureSpec(lags=(1, 7), seasons=(7,), windows=(7,), scale_window=14, calendar=("dayofweek",))


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(0)
    n, t = 6, 300
    index = pd.date_range("2023-01-01", periods=t, freq="D")
    weekly = 1 + 0.3 * (index.day_of_week.to_numpy() >= 5)
    temp = 10 + 8 * np.sin(np.arange(t) * 2 * np.pi / 365)
    level = rng.uniform(5, 20, n)[:, None]
    y = level * weekly * (1 + 0.02 * (15 - temp)) * rng.lognormal(0, 0.05, (n, t))
    series = pd.DataFrame({"series_id": [f"s{i}" for i in range(n)], "level": ["a"] * 3 + ["b"] * 3})
    return Panel(index, y, series, "D", {"temperature_c": np.tile(temp, (n, 1))})


@pytest.fixture(scope="module")
def model(panel) -> LoadForecaster:
    return LoadForecaster(spec=SPEC, horizon=14, n_estimators=60, num_leaves=7, random_state=0).fit(panel, end=259)


def test_forecast_ignores_values_after_the_origin(panel, model):
    """Leakage check: poisoning every value after the origin does not change the forecast from it."""
    origin = 259
    before = model.predict(panel, origin)
    poisoned = Panel(panel.index, panel.y.copy(), panel.series, "D", panel.exog)
    poisoned.y[:, origin + 1 :] *= 50
    after = model.predict(poisoned, origin)
    pd.testing.assert_frame_equal(before, after)


def test_refit_after_poisoning_the_future_changes_nothing_before_the_end(panel):
    """Fitting with end=e must not read targets after e (training-side leakage)."""
    a = LoadForecaster(spec=SPEC, horizon=7, n_estimators=30, num_leaves=7).fit(panel, end=200)
    poisoned = Panel(panel.index, panel.y.copy(), panel.series, "D", panel.exog)
    poisoned.y[:, 201:] = 0.0
    b = LoadForecaster(spec=SPEC, horizon=7, n_estimators=30, num_leaves=7).fit(poisoned, end=200)
    pd.testing.assert_frame_equal(a.predict(panel, 200), b.predict(panel, 200))


def _poison_after(panel: Panel, origin: int, value: float) -> Panel:
    exog = {k: v.copy() for k, v in panel.exog.items()}
    y = panel.y.copy()
    for grid in (y, *exog.values()):
        grid[:, origin + 1 :] = value
    return Panel(panel.index, y, panel.series, "D", exog)


@pytest.mark.parametrize("value", [np.nan, 1e6])
def test_backtest_reads_nothing_dated_after_its_issue_time(panel, value):
    """Issue-time honesty: a rolling-origin backtest gives the same forecasts when every load and
    temperature after the issue time is poisoned (NaN or huge)."""
    origin = 240
    models = {"lightgbm": lambda: LoadForecaster(spec=SPEC, horizon=7, n_estimators=30, num_leaves=7)}
    clean = rolling_origin(panel, np.array([origin]), horizon=7, models=models)
    dirty = rolling_origin(_poison_after(panel, origin, value), np.array([origin]), horizon=7, models=models)
    cols = ["series_id", "timestamp", "p10", "p50", "p90"]
    pd.testing.assert_frame_equal(clean[cols], dirty[cols])


def test_leakage_check_catches_a_model_reading_the_actual_future_weather(panel):
    """The control fails on purpose: 'perfect weather' (actual temperature at the target) moves."""
    origin = 240
    model = LoadForecaster(spec=SPEC, horizon=7, n_estimators=30, num_leaves=7, actual_exog=True)
    leaky = {"perfect_weather": lambda: model}
    clean = rolling_origin(panel, np.array([origin]), horizon=7, models=leaky)
    dirty = rolling_origin(_poison_after(panel, origin, 1e6), np.array([origin]), horizon=7, models=leaky)
    assert not np.allclose(clean["p50"], dirty["p50"])


def test_interval_width_never_shrinks_with_horizon(panel, model):
    fc = model.predict(panel, 259)
    width = (fc["p90"] - fc["p10"]).to_numpy().reshape(len(panel.y), -1)
    assert np.all(np.diff(width, axis=1) >= -1e-9)
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()


def test_beats_seasonal_naive_and_covers_roughly_80_percent(panel, model):
    origins = np.arange(260, 286, 3)
    ours = attach_actuals(model.predict(panel, origins), panel)
    naive = attach_actuals(SeasonalNaive(7).predict(panel, origins, horizon=14), panel)
    assert score(ours)["mape"].iloc[0] < score(naive)["mape"].iloc[0]
    assert 0.55 <= score(ours)["coverage_p10_p90"].iloc[0] <= 0.98


def test_horizon_past_the_fitted_maximum_is_refused(panel, model):
    with pytest.raises(ValueError, match="fitted maximum of 14"):
        model.predict(panel, 200, horizon=15)


def test_ets_baseline_returns_ordered_intervals(panel):
    fc = ETSBaseline(7, max_history=120).predict(panel, 200, horizon=7, rows=np.array([0]))
    assert len(fc) == 7 and (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()


def _bundle() -> ForecastBundle:
    stamps = pd.date_range("2024-01-01", periods=28, freq="D")
    rows = [
        pd.DataFrame(
            {
                "level": lvl,
                "key": key,
                "freq": "D",
                "timestamp": stamps,
                "horizon": range(1, 29),
                "p10": 1.0,
                "p50": 2.0,
                "p90": 3.0,
            }
        )
        for lvl, key in (("total", "all"), ("region", "north"))
    ]
    return ForecastBundle(pd.concat(rows, ignore_index=True))


def test_bundle_interface():
    b = _bundle()
    assert b.levels_ == {"region": ["north"], "total": ["all"]}
    assert b.max_horizon_ == {"D": 28}
    fc = b.forecast("region", "north", 7)
    assert list(fc.columns) == ["timestamp", "p10", "p50", "p90"] and len(fc) == 7
    out = b.predict_frame(pd.DataFrame({"level": ["total"], "key": ["all"], "horizon": [3], "freq": ["D"]}))
    assert len(out) == 3 and {"level", "key", "p50"} <= set(out.columns)
    start = time.perf_counter()
    for _ in range(200):
        b.forecast("total", "all", 28)
    assert (time.perf_counter() - start) / 200 < 0.05  # the serving budget per call


@pytest.mark.parametrize(
    ("level", "key", "freq"), [("region", "mars", "D"), ("planet", "x", "D"), ("total", "all", "H")]
)
def test_bundle_unknown_series_is_a_key_error(level, key, freq):
    with pytest.raises(KeyError) as err:
        _bundle().forecast(level, key, 3, freq)
    assert isinstance(err.value, UnknownSeries)


def test_bundle_horizon_too_long_names_the_limit():
    with pytest.raises(ValueError, match=r"1\.\.28"):
        _bundle().forecast("total", "all", 29)


@needs_shared()
@pytest.mark.slow
def test_beats_same_hour_yesterday_on_real_pjm_load():
    """Real data: day-ahead from 00:00 on PJM East, 3 weeks of origins, a small model."""
    df = pd.read_csv(SHARED_DATA / "pjm_hourly" / "PJME_hourly.csv", parse_dates=["ds"])
    s = df.groupby("ds")["y"].mean().sort_index()
    s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h")).interpolate(limit=6).iloc[-24 * 400 :]
    panel = Panel(pd.DatetimeIndex(s.index), s.to_numpy()[None, :], pd.DataFrame({"series_id": ["pjm"]}), "H")
    spec = FeatureSpec(
        freq="H",
        lags=(24, 168),
        seasons=(24, 168),
        origin_lags=(1, 24),
        windows=(24, 168),
        scale_window=168,
        exog=(),
        calendar=("hour", "dayofweek"),
        holiday_country="US",
        holiday_subdiv=None,
    )
    midnight = int(np.flatnonzero(panel.index.hour == 0)[0]) % 24
    origins = np.flatnonzero(panel.index.hour == 0)[-22:-1]
    model = LoadForecaster(
        spec=spec, horizon=24, origin_step=24, origin_phase=midnight, min_history=200, n_estimators=150
    ).fit(panel, end=int(origins[0]))
    ours = score(attach_actuals(model.predict(panel, origins), panel))["mape"].iloc[0]
    naive = score(attach_actuals(SeasonalNaive(24).predict(panel, origins, horizon=24), panel))["mape"].iloc[0]
    assert ours < naive


def test_seasonal_difference_target_and_unknown_target_is_refused(panel):
    model = LoadForecaster(spec=SPEC, horizon=7, n_estimators=30, num_leaves=7, target="season").fit(panel, end=259)
    fc = attach_actuals(model.predict(panel, np.arange(260, 280, 3)), panel)
    naive = attach_actuals(SeasonalNaive(7).predict(panel, np.arange(260, 280, 3), horizon=7), panel)
    assert score(fc)["mape"].iloc[0] < score(naive)["mape"].iloc[0]
    with pytest.raises(ValueError, match="target='diff'"):
        LoadForecaster(spec=SPEC, horizon=7, target="diff").fit(panel, end=259)


def test_no_holidays_unless_a_country_is_asked():
    assert "holiday_target" not in FeatureSpec(calendar=("dayofweek", "holiday")).names
    assert "holiday_target" in FeatureSpec(calendar=("dayofweek", "holiday"), holiday_country="US").names


def test_bundle_states_issue_time_and_cutoff():
    b = _bundle()
    assert b.issue_info("D") == {"issued_at": None, "data_cutoff": None}  # an old bundle says it does not know
    b.meta_.update({"issued_at": {"D": "2024-01-01"}, "data_cutoff": {"D": "2024-01-01"}, "methods": {"D": {}}})
    assert b.issue_info("D")["data_cutoff"] == "2024-01-01" and "methods" in b.summary()
