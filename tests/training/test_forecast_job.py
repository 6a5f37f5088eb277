"""train_forecast end to end on a tiny tenant: MLflow run, registered champion, planner outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.settings import DataSettings
from training.csv_series import BadLoadFile
from training.forecast_job import forecast, promote_version, read_load_csv, train_forecast

QUICK = {"n_estimators": 15, "max_rows": 15_000}


@pytest.fixture
def trained(tenant_dir, mlflow_settings, tmp_path):
    data = DataSettings(data_dir=tenant_dir, var_dir=tmp_path / "var")
    return data, train_forecast(data, mlflow_settings, freqs=("D", "M"), params=QUICK)


@pytest.mark.slow
def test_train_forecast_registers_a_coherent_champion(trained, mlflow_settings, tmp_path):
    data, summary = trained
    assert summary["promoted"] and summary["version"] == "1"
    assert summary["max_horizon"] == {"D": 90}  # 13 months are too few for a monthly backtest: skipped
    assert set(summary["levels"]) >= {"total", "region", "customer"}
    from training.forecast_job import load_bundle

    bundle, _ = load_bundle(mlflow_settings)
    assert bundle.meta_["methods"]["D"]["coherent"]
    total = bundle.forecast("total", "all", 90)
    for level in ("region", "category", "customer"):  # the served P50 is coherent at every level
        parts = [bundle.forecast(level, k, 90) for k in bundle.levels_[level]]
        np.testing.assert_allclose(sum(p["p50"].to_numpy() for p in parts), total["p50"], rtol=1e-6, err_msg=level)
        for p in parts:
            assert (p["p10"] <= p["p50"]).all() and (p["p50"] <= p["p90"]).all()
        # P10/P90 are marginals of coherent sample paths: the total's band is no wider than its parts' summed
        assert ((total["p90"] - total["p10"]) <= sum((p["p90"] - p["p10"]).to_numpy() for p in parts) + 1e-9).all()
    # every candidate's scores: logged to MLflow, tabled for the report, shown by GET /v1/models (summary)
    from training.registry import open_registry

    registry = open_registry(mlflow_settings, data.tenant)
    run = registry.version_run("forecast", summary["version"])
    for model in ("lightgbm", "seasonal_naive", "ets"):
        assert {"mase", "mape", "coverage_p10_p90"} <= {k.split(".")[-1] for k in run["metrics"] if f".{model}." in k}
    assert "D.served.total.mean_width_pct" in run["metrics"] and run["params"]["method.D.total"]
    files = registry.download_run_artifacts(run["run_id"], tmp_path / "artifacts")
    table = pd.read_csv(files / "backtest_candidates.csv")
    assert set(table["model"]) == {"lightgbm", "seasonal_naive", "ets"} and table["coverage_p10_p90"].notna().all()
    # the monitor's same-calendar-month reference: the served backtest split by the targets' month, stored with
    # the champion and logged; pooled over the months it is the whole-backtest figure (the same frames)
    by_month = pd.DataFrame(bundle.meta_["served_by_month"])
    assert (files / "backtest_served_by_month.csv").exists() and set(by_month["freq"]) == {"D"}
    assert by_month["month"].between(1, 12).all() and (by_month["n"] > 0).all()
    pooled = by_month.assign(hits=by_month["coverage_p10_p90"] * by_month["n"]).groupby("level")[["hits", "n"]].sum()
    whole = pd.DataFrame(bundle.meta_["served"]).query("freq == 'D'").set_index("level")["coverage_p10_p90"]
    np.testing.assert_allclose(pooled["hits"] / pooled["n"], whole.reindex(pooled.index), rtol=1e-9)
    shown = bundle.summary()
    assert {c["model"] for c in shown["candidates"]} == set(table["model"]) and shown["methods"]["D"]["picks"]
    paths = forecast("region", "north", 28, "D", out_dir=tmp_path / "out", training=mlflow_settings, data=data)
    assert len(pd.read_csv(paths["csv"])) == 28 and paths["png"].stat().st_size > 1000


@pytest.mark.slow
def test_served_method_never_loses_to_seasonal_naive_on_its_own_backtest(trained):
    _, summary = trained
    served = summary["served"]
    assert (served["mae"] <= served["naive_mae"] + 1e-9).all(), served


@pytest.mark.slow
def test_promoting_again_rescores_the_champion_on_the_same_windows(trained, mlflow_settings):
    data, summary = trained
    decision = promote_version(data, mlflow_settings, summary["version"])
    assert decision.champion is not None and decision.champion.data_id == decision.challenger.data_id
    assert not decision.promote  # the same model is no better than itself by the margin


@pytest.mark.slow
def test_a_worse_challenger_never_replaces_the_champion(trained, mlflow_settings):
    from training.registry import open_registry

    data, summary = trained
    weak = train_forecast(data, mlflow_settings, freqs=("D", "M"), params={"n_estimators": 1, "max_rows": 2_000})
    assert not weak["promoted"], weak["reason"]
    assert open_registry(mlflow_settings, data.tenant).champion_version("forecast") == summary["version"]


def test_generic_csv_is_read_and_summed_to_the_freq(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=48, freq="30min", tz="UTC")
    path = tmp_path / "my.csv"
    pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "load": 1.0, "temperature": 5.0}).to_csv(
        path, index=False
    )
    df = read_load_csv(path, "H")
    assert len(df) == 24 and (df["load"] == 2.0).all() and (df["temperature_c"] == 5.0).all()
    with pytest.raises(ValueError, match="missing column"):
        pd.DataFrame({"ts": [1]}).to_csv(path, index=False)
        read_load_csv(path, "D")


def test_blank_loads_are_gaps_and_non_numeric_loads_are_errors(tmp_path):
    path = tmp_path / "my.csv"
    stamps = pd.date_range("2024-01-01", periods=6, freq="h").strftime("%Y-%m-%d %H:%M")
    pd.DataFrame({"timestamp": stamps, "load": ["1", "2", "", "4", "5", "6"]}).to_csv(path, index=False)
    df = read_load_csv(path, "H")
    assert np.isnan(df["load"].iloc[2]) and df["load"].iloc[3] == 4.0  # a gap, never a zero
    pd.DataFrame({"timestamp": stamps, "load": ["1", "2", "n/a?", "4", "5", "6"]}).to_csv(path, index=False)
    with pytest.raises(BadLoadFile, match=r"line 4: load='n/a\?'"):
        read_load_csv(path, "H")


@pytest.mark.slow
def test_forecasts_are_reissued_from_newer_data_without_retraining(trained, tenant_dir, mlflow_settings):
    from training.forecast_job import load_bundle, refresh_bundle
    from training.registry import open_registry

    data, _ = trained
    bundle, version = load_bundle(mlflow_settings, data.tenant)
    before = bundle.issue_info("D")
    readings = pd.read_parquet(tenant_dir / "readings.parquet")
    last = readings["reading_date"].max()
    week = readings[readings["reading_date"] > last - pd.Timedelta(days=7)].assign(
        reading_date=lambda d: d["reading_date"] + pd.Timedelta(days=7)
    )
    pd.concat([readings, week]).to_parquet(tenant_dir / "readings.parquet", index=False)
    fresh = refresh_bundle(bundle, data)
    after = fresh.issue_info("D")
    assert pd.Timestamp(after["data_cutoff"]) == pd.Timestamp(before["data_cutoff"]) + pd.Timedelta(days=7)
    assert fresh.forecast("total", "all", 1)["timestamp"].iloc[0] == pd.Timestamp(after["data_cutoff"])
    # nothing was retrained or registered
    assert open_registry(mlflow_settings, data.tenant).latest_version("forecast") == version
    assert refresh_bundle(bundle, data) is fresh  # cached until the data changes
