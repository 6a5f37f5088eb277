"""POST /v1/forecasts says when and from what it was issued; GET /v1/models shows how each method scored."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.serving.conftest import PLANNER
from training.forecast_bundle import ForecastBundle

META = {
    "issued_at": {"D": "2014-03-01 00:00:00"},
    "data_cutoff": {"D": "2014-03-01 00:00:00"},
    "methods": {"D": {"picks": {"total": "ets"}, "coherent": True, "reconciliation": "wls_struct"}},
    "candidates": [
        {"freq": "D", "model": m, "level": "total", "mase": 0.9, "mape": 5.0, "coverage_p10_p90": 0.8}
        for m in ("lightgbm", "ets", "seasonal_naive")
    ],
    "served": [{"freq": "D", "level": "total", "mape": 5.0, "coverage_p10_p90": 0.8, "mean_width_pct": 20.0}],
    "coverage": {"D": {"total": {"all": 300}}},
}


@pytest.fixture
def loader(loader):
    stamps = pd.date_range("2014-03-01", periods=5, freq="D")
    fc = pd.DataFrame(
        {"level": "total", "key": "all", "freq": "D", "timestamp": stamps, "horizon": range(1, 6),
         "p10": 90.0, "p50": 100.0, "p90": 110.0}
    )  # fmt: skip
    loader.bundles["forecast"] = (ForecastBundle(fc, None, META), "7")
    return loader


def test_a_forecast_says_its_issue_time_data_cutoff_model_version_and_method(client):
    body = client.post("/v1/forecasts", json={"level": "total", "key": "all", "horizon": 2}, headers=PLANNER).json()
    assert body["model_version"] == "7" and body["method"] == "ets" and body["customers"] == 300
    assert body["issued_at"] == body["data_cutoff"] == "2014-03-01 00:00:00"
    assert body["points"][0]["timestamp"] == "2014-03-01T00:00:00"  # the first period is the issue time


def test_models_list_every_candidate_score_and_the_served_choice(client):
    models = {m["kind"]: m for m in client.get("/v1/models", headers=PLANNER).json()["models"]}
    info = models["forecast"]["forecast"]
    assert {c["model"] for c in info["candidates"]} == {"lightgbm", "ets", "seasonal_naive"}
    assert info["methods"]["D"]["picks"] == {"total": "ets"} and info["served"][0]["coverage_p10_p90"] == 0.8
