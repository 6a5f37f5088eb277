"""The demo tenant through a real Dask cluster (``dask scheduler`` + 2 ``dask worker`` processes, CI starts them).

The demo is written as partitions by customer (``meterwise data partition``); the snapshot (profiles and
load shapes) and the arrears and segment batch scores built there, one partition per task, must equal
the one-process pandas results row for row (up to row order).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.io import load_tenant
from features.partitioned import partition_folders, write_partitions
from features.settings import DEMO_DIR, DataSettings
from features.snapshots import build_snapshot
from training.arrears_job import score_arrears, train_arrears
from training.segments_job import SegmentsConfig, score_segments, train_segments
from training.settings import TrainingSettings

pytestmark = pytest.mark.integration
PARTITIONS = 4


def same_rows(left: pd.DataFrame, right: pd.DataFrame) -> None:
    key = "customer_id"
    left = left.sort_values(key, kind="stable").reset_index(drop=True)
    right = right.sort_values(key, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_categorical=False)


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo-parts")
    tables, _ = load_tenant(DEMO_DIR)
    assert len(write_partitions(tables, out, PARTITIONS)) == PARTITIONS
    shutil.copyfile(DEMO_DIR / "collections.json", out / "collections.json")  # as `meterwise data partition` does
    return out


def test_features_build_on_the_cluster_equals_pandas(dask_scheduler, partitioned, tmp_path, monkeypatch):
    from serving.cli import app

    pandas_folder = build_snapshot(DEMO_DIR, tmp_path / "pandas", tenant="demo")
    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(
        app,
        ["features", "build", "--data-dir", str(partitioned), "--tenant", "demoparts", "--scheduler", dask_scheduler],
    )
    assert result.exit_code == 0, result.output
    dask_folder = Path(json.loads(result.stdout)["path"])
    assert dask_folder.name == pandas_folder.name  # the same default as_of over all partitions
    for name in ("profiles", "shapes"):
        same_rows(pd.read_parquet(pandas_folder / f"{name}.parquet"), pd.read_parquet(dask_folder / f"{name}.parquet"))
    manifest = json.loads((dask_folder / "manifest.json").read_text())
    assert manifest["partitions"] == PARTITIONS and manifest["engine"] == "dask-partitioned"
    assert manifest["rows"] == json.loads((pandas_folder / "manifest.json").read_text())["rows"]
    assert len(list((dask_folder / "parts" / "profiles").glob("part-*.parquet"))) == PARTITIONS


def test_batch_scores_on_the_cluster_equal_pandas(dask_scheduler, partitioned, tmp_path):
    training = TrainingSettings(
        var_dir=tmp_path / "var", models_dir=tmp_path / "models", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"
    )
    plain = DataSettings(data_dir=DEMO_DIR, var_dir=tmp_path / "plain", tenant="demo")
    parts = DataSettings(data_dir=partitioned, var_dir=tmp_path / "parts", tenant="demo", dask_scheduler=dask_scheduler)
    assert partition_folders(parts.data_dir)
    assert train_arrears(plain, training).promoted
    assert train_segments(plain, training, config=SegmentsConfig(k_min=3, k_max=4, n_boot=0)).promoted

    for kind, score in (("arrears", score_arrears), ("segments", score_segments)):  # segments read arrears grades
        expected = pd.read_parquet(score(plain, training))
        path = score(parts, training)
        got = pd.read_parquet(path)
        same_rows(expected, got)
        assert len(list((path.parent / path.stem).glob("part-*.parquet"))) == PARTITIONS, kind
        same_rows(got, pd.read_parquet(path.parent / "latest.parquet"))


def test_arrears_training_frame_built_on_the_cluster_gives_the_pandas_model(dask_scheduler, partitioned, tmp_path):
    def store(name: str) -> TrainingSettings:
        return TrainingSettings(
            var_dir=tmp_path / name,
            models_dir=tmp_path / name / "models",
            tracking_uri=f"sqlite:///{tmp_path}/{name}.db",
        )

    plain = DataSettings(data_dir=DEMO_DIR, var_dir=tmp_path / "plain", tenant="demo")
    parts = DataSettings(data_dir=partitioned, var_dir=tmp_path / "parts", tenant="demo", dask_scheduler=dask_scheduler)
    expected = train_arrears(plain, store("plain"))
    got = train_arrears(parts, store("parts"))
    assert got.promoted
    for key in ("roc_auc", "pr_auc", "brier", "heldout_roc_auc"):
        assert got.metrics[key] == pytest.approx(expected.metrics[key], abs=1e-12), key


def test_batch_forecasts_on_the_cluster_equal_pandas(dask_scheduler, partitioned, tmp_path, monkeypatch):
    """The partitioned demo's forecast series, summed one partition per task on the cluster, equal the
    one-process series; a forecast trained there is re-issued by the planner's command through the cluster."""
    from serving.cli import app
    from training.forecast_job import train_forecast
    from training.forecast_parts import PARTITIONED_LEVELS, TABLES, tenant_series
    from training.forecast_tenant import tenant_panel

    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("METERWISE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("METERWISE_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    parts = DataSettings(data_dir=partitioned, tenant="demoparts", dask_scheduler=dask_scheduler)
    found = tenant_series(parts, ("D", "M", "H"))
    tables, _ = load_tenant(DEMO_DIR, tables=TABLES)
    assert found.partitions == PARTITIONS and set(found.panels) == {"D", "M", "H"}
    for freq, panel in found.panels.items():
        whole = tenant_panel(tables, freq, PARTITIONED_LEVELS)
        assert panel.ids == whole.ids and panel.index.equals(whole.index), freq
        np.testing.assert_allclose(panel.y, whole.y, rtol=1e-12, equal_nan=True)
        pd.testing.assert_frame_equal(panel.series, whole.series)

    summary = train_forecast(parts, TrainingSettings(), freqs=("D",), params={"n_estimators": 30})
    assert summary["promoted"] and "cell" in summary["levels"] and "customer" not in summary["levels"]
    assert summary["methods"]["D"]["coherent"]  # the cells are the bottom: reconciliation stays coherent
    cell = summary["levels"]["cell"][0]
    args = ["forecast", "--tenant", "demoparts", "--data-dir", str(partitioned), "--scheduler", dask_scheduler]
    args += ["--level", "cell", "--key", cell, "--horizon", "7", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(next(tmp_path.glob("forecast_cell_*.csv")))
    assert len(written) == 7 and (written["p10"] <= written["p50"]).all() and (written["p50"] <= written["p90"]).all()
