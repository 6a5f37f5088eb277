"""`meterwise monitor` end to end on the forecast and segments paths: a registered champion, the tenant's
actuals arriving after its cut-off, and the breach raised (or not) in the written status."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.settings import DataSettings
from tests.conftest import make_tenant
from training import registry
from training.forecast_bundle import ForecastBundle
from training.forecast_tenant import history_frame, tenant_panel
from training.monitoring_job import monitor
from training.settings import TrainingSettings

DAYS = 28  # forecast days whose actuals have arrived by the check


def _tenant(root, tables) -> tuple[DataSettings, TrainingSettings]:
    folder = root / "tenant"
    folder.mkdir()
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    data = DataSettings(data_dir=folder, var_dir=root / "var", tenant="t1")
    training = TrainingSettings(var_dir=root / "var", models_dir=root / "models", tracking_uri=f"sqlite:///{root}/m.db")
    return data, training


def _register_forecast(
    training: TrainingSettings, actual: pd.DataFrame, bias: float, half_width: float, by_month: list | None = None
) -> None:
    """A forecast champion issued for the last `DAYS` days: P50 = actual x (1 + bias), band +- half_width;
    whole-backtest MAPE 5 %, and the per-month backtest figures `by_month` when given (else an older champion
    stored without them)."""
    p50 = actual["y"].to_numpy() * (1 + bias)
    rows = actual.assign(
        horizon=np.arange(1, len(actual) + 1), p50=p50, p10=p50 * (1 - half_width), p90=p50 * (1 + half_width)
    )
    served = [{"freq": "D", "level": "total", "mape": 5.0, "coverage_p10_p90": 0.8}]
    meta = {"served": served} | ({"served_by_month": by_month} if by_month is not None else {})
    bundle = ForecastBundle(rows.drop(columns="y"), meta=meta)
    reg = registry.open_registry(training, "t1")
    with reg.training_run("forecast", tags={}, params={}):
        example = pd.DataFrame({"level": ["total"], "key": ["all"], "horizon": [2], "freq": ["D"]})
        version = reg.register("forecast", reg.log_model("forecast", bundle, example))
    reg.set_alias("forecast", "champion", version)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    tables = make_tenant(n_customers=10, days=400)
    panel = tenant_panel(tables, "D")
    hist = history_frame(panel, "D")
    total = hist[hist["level"] == "total"].sort_values("timestamp").tail(DAYS)
    return tables, total[["level", "key", "freq", "timestamp", "y"]].reset_index(drop=True)


@pytest.mark.parametrize(
    ("bias", "half_width", "checks"),
    [
        (0.0, 0.5, set()),  # every actual inside a band around it: no breach
        (-0.4, 0.05, {"coverage", "error"}),  # forecasts 40 % low with a narrow band: both break
    ],
)
def test_forecast_path_raises_a_breach_only_when_the_actuals_break_the_forecast(
    tmp_path, tenant, bias, half_width, checks
):
    tables, actual = tenant
    data, training = _tenant(tmp_path, tables)
    _register_forecast(training, actual, bias, half_width)
    as_of = pd.Timestamp(actual["timestamp"].max())
    result = monitor(data, training, as_of=as_of, kinds=("forecast",), report=False, log_mlflow=False)
    forecast = json.loads(result.path.read_text())["models"]["forecast"]
    assert forecast["version"] == "1" and forecast["metrics"]["periods_total_D"] == DAYS
    assert {b["check"] for b in forecast["breaches"]} == checks
    assert forecast["status"] == ("alert" if checks else "ok")
    assert result.status["retrain_recommended"] == (["forecast"] if checks else [])
    assert {c["reference"] for c in forecast["checks"]} == {"whole_backtest"}  # no per-month figures stored


@pytest.mark.parametrize("stored", [True, False])
def test_forecast_path_uses_the_same_month_backtest_when_the_champion_has_it(tmp_path, tenant, stored):
    tables, actual = tenant
    data, training = _tenant(tmp_path, tables)
    months = sorted(set(pd.DatetimeIndex(actual["timestamp"]).month))
    # the forecasts are 20 % low every day (inside a +-50 % band): 4x the whole backtest's 5 %, but these
    # months' own backtest error was 18 %
    by_month = [{"freq": "D", "level": "total", "month": m, "n": 40, "mape": 18.0, "coverage_p10_p90": 0.8}
                for m in months]  # fmt: skip
    _register_forecast(training, actual, -0.2, 0.5, by_month if stored else None)
    as_of = pd.Timestamp(actual["timestamp"].max())
    result = monitor(data, training, as_of=as_of, kinds=("forecast",), report=False, log_mlflow=False)
    forecast = json.loads(result.path.read_text())["models"]["forecast"]
    periods = [p.strftime("%Y-%m") for p in sorted(set(pd.DatetimeIndex(actual["timestamp"]).to_period("M")))]
    assert [c["period"] for c in forecast["checks"]] == periods
    assert {c["reference"] for c in forecast["checks"]} == {"same_month" if stored else "whole_backtest"}
    errors = [b for b in forecast["breaches"] if b["check"] == "error"]
    if stored:
        assert errors == [] and forecast["status"] == "ok"
    else:
        assert errors and {b["reference"] for b in errors} == {"whole_backtest"}
        assert "whole backtest 5.0 %" in errors[0]["message"]


SEG_CUTOFF = pd.Timestamp("2024-06-01")


@pytest.mark.parametrize("shifted", [False, True])
def test_segments_path_raises_a_share_breach_only_when_customers_migrate(tmp_path, shifted):
    from training.segments_job import SegmentsConfig, train_segments

    tables = make_tenant(n_customers=60, days=520, seed=3)
    if shifted:  # every other customer uses 20x more after the champion's cut-off: they change segment
        r = tables["readings"]
        moved = r["customer_id"].isin(sorted(r["customer_id"].unique())[::2]) & (r["reading_date"] > SEG_CUTOFF)
        r.loc[moved, "kwh"] *= 20
    data, training = _tenant(tmp_path, tables)
    config = SegmentsConfig(k_min=2, k_max=3, n_boot=1)
    assert train_segments(data, training, as_of=SEG_CUTOFF, config=config).version == "1"
    segments = monitor(data, training, kinds=("segments",), report=False, log_mlflow=False).status["models"]["segments"]
    checks = {b["check"] for b in segments["breaches"]}
    assert segments["version"] == "1" and segments["status"] == "alert"  # shape PSI on 60 customers alerts either way
    if shifted:
        assert {"share", "segment_mix_psi", "distance"} <= checks and segments["metrics"]["migrated_customers"] > 0
    else:
        assert not {"share", "segment_mix_psi", "distance"} & checks
        assert segments["metrics"]["migrated_customers"] == 0
