"""train_forecast end to end on a tiny tenant: MLflow run, registered champion, planner outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.settings import DataSettings
from training.forecast_job import forecast, read_load_csv, train_forecast


@pytest.mark.slow
def test_train_forecast_registers_a_coherent_champion(tenant_dir, mlflow_settings, tmp_path):
    summary = train_forecast(
        DataSettings(data_dir=tenant_dir, var_dir=tmp_path / "var"),
        mlflow_settings,
        freqs=("D", "M"),
        params={"n_estimators": 15, "max_rows": 15_000},
    )
    assert summary["promoted"] and summary["version"] == "1"
    assert summary["max_horizon"] == {"D": 90}  # 13 months are too few for a monthly backtest: skipped
    assert set(summary["levels"]) >= {"total", "region", "customer"}
    from training.forecast_job import load_bundle

    bundle, _ = load_bundle(mlflow_settings)
    total = bundle.forecast("total", "all", 90)["p50"].to_numpy()
    regions = sum(bundle.forecast("region", k, 90)["p50"].to_numpy() for k in bundle.levels_["region"])
    customers = sum(bundle.forecast("customer", k, 90)["p50"].to_numpy() for k in bundle.levels_["customer"])
    np.testing.assert_allclose(regions, total, rtol=1e-6)
    np.testing.assert_allclose(customers, total, rtol=1e-6)
    paths = forecast("region", "north", 28, "D", out_dir=tmp_path / "out", training=mlflow_settings)
    assert len(pd.read_csv(paths["csv"])) == 28 and paths["png"].stat().st_size > 1000


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
