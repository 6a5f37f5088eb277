"""The STEG -> meter_reads mapping of benchmarks/theft_steg.py, on a tiny in-code sample."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import theft_steg


def _steg() -> tuple[pd.DataFrame, pd.DataFrame]:
    clients = pd.DataFrame(
        {
            "disrict": [60, 62],
            "client_id": ["train_Client_0", "train_Client_1"],
            "client_catg": [11, 12],
            "region": [101, 107],
            "creation_date": ["31/12/1994", "29/05/2002"],
            "target": [0.0, 1.0],
        }
    )
    n = 6
    invoices = pd.DataFrame(
        {
            "client_id": ["train_Client_0"] * 3 + ["train_Client_1"] * 3,
            "invoice_date": ["2010-01-01", "2010-05-01", "2010-05-01", "2010-01-01", "2010-05-01", "2010-09-01"],
            "tarif_type": [11] * n,
            "counter_number": [1, 1, 1, 2, 2, 2],
            "counter_statue": ["0", "0", "0", "0", "5", "0"],
            "counter_code": [203] * n,
            "reading_remarque": [6, 6, 6, 8, 9, 9],
            "counter_coefficient": [1, 1, 1, 0, 1, 1],
            "consommation_level_1": [100, 120, 120, 300, 0, 50],
            "consommation_level_2": [0, 10, 10, 20, 0, 0],
            "consommation_level_3": [0] * n,
            "consommation_level_4": [0] * n,
            "old_index": [0, 100, 100, 0, 320, 320],
            "new_index": [100, 230, 230, 320, 320, 370],
            "months_number": [4, 4, 4, 4, 400, 4],
            "counter_type": ["ELEC", "ELEC", "ELEC", "ELEC", "ELEC", "GAZ"],
        }
    )
    return clients, invoices


def test_mapping_follows_the_documented_rules():
    clients, invoices = _steg()
    reads, customers = theft_steg.to_contracts(clients, invoices)
    assert len(reads) == 5  # the repeated (client, meter, day) row keeps the first
    assert reads["meter_id"].iloc[0] == "ELEC:1:203"
    assert reads["billed_kwh"].tolist()[:2] == [100.0, 130.0]
    assert reads["multiplier"].min() == 1.0 and reads["months"].max() == 120.0  # 0 -> 1, 400 -> 120
    assert customers["category"].tolist() == ["11", "12"]


def test_client_features_keep_elec_gas_and_static_columns_and_reuse_training_codes():
    clients, invoices = _steg()
    reads, customers = theft_steg.to_contracts(clients, invoices)
    X = theft_steg.client_features(clients, reads, customers)
    assert {"district", "tenure_days", "kwh_30d_mean", "gas_kwh_30d_mean", "status_share_5"} <= set(X.columns)
    codes = theft_steg._codes_of(X)
    again = theft_steg.client_features(clients, reads.iloc[:2], customers, codes=codes)
    assert [c for c in again.columns if "_share_" in c and not c.startswith("gas_")] == [
        c for c in X.columns if "_share_" in c and not c.startswith("gas_")
    ]


def _synthetic(folder: Path, n: int = 400, seed: int = 0) -> None:
    """A STEG-shaped folder: thieves' consumption steps down half way (so the model has something to find)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = [f"train_Client_{i}" for i in range(n)]
    target = (rng.uniform(size=n) < 0.15).astype(float)
    clients = pd.DataFrame(
        {"disrict": rng.choice([60, 62], n), "client_id": ids, "client_catg": 11, "region": rng.choice([101, 107], n),
         "creation_date": "01/01/2000", "target": target}
    )  # fmt: skip
    dates = pd.date_range("2008-01-01", periods=24, freq="4MS")
    rows = []
    for k, cid in enumerate(ids):  # test fixture only: a few hundred clients
        use = rng.gamma(4, 100, len(dates))
        if target[k]:
            use[12:] *= 0.4
        idx = np.r_[0, np.cumsum(use)].round()
        rows.append(
            pd.DataFrame(
                {
                    "client_id": cid,
                    "invoice_date": dates.strftime("%Y-%m-%d"),
                    "old_index": idx[:-1],
                    "new_index": idx[1:],
                }
            )
        )
    inv = pd.concat(rows, ignore_index=True)
    m = len(inv)
    use = (inv["new_index"] - inv["old_index"]).astype(int)
    inv = inv.assign(
        tarif_type=11, counter_number=inv["client_id"].str.len(), counter_statue="0", counter_code=203,
        reading_remarque=6, counter_coefficient=1, consommation_level_1=use, consommation_level_2=0,
        consommation_level_3=0, consommation_level_4=0, months_number=4,
        counter_type=np.where(np.arange(m) % 7 == 0, "GAZ", "ELEC"),
    )  # fmt: skip
    inv["old_index"], inv["new_index"] = inv["old_index"].astype(int), inv["new_index"].astype(int)
    clients.to_parquet(folder / "clients.parquet")
    inv.to_parquet(folder / "invoices_part0.parquet")


def test_the_whole_benchmark_runs_and_writes_its_figures_and_gates(tmp_path, monkeypatch):
    import contextlib
    import json

    import training.theft as model_module

    monkeypatch.setattr(theft_steg, "FOLDS", 2)  # the full run's settings are the benchmark's business
    monkeypatch.setattr(model_module, "SMALL_GRID", {"num_leaves": (4,), "min_child_samples": (10,)})
    monkeypatch.setitem(model_module.BASE_PARAMS, "n_estimators", 60)

    data, held = tmp_path / "data", tmp_path / "held"
    data.mkdir(), held.mkdir()
    _synthetic(data)
    _synthetic(held, n=200, seed=1)
    out = tmp_path / "theft_steg.json"
    with contextlib.suppress(SystemExit):  # a failed gate exits 1 after writing: the figures are checked here
        theft_steg.main(["--data", str(data), "--eval-dir", str(held), "--out", str(out)])
    result = json.loads(out.read_text())
    for key in ("a_whole_history_cv", "b_before_cutoff_cv"):
        assert {"auc", "pr_auc", "precision_at_1pct", "precision_at_5pct", "lift_at_5pct", "calibration_error"} <= set(
            result[key]["lgbm"]
        )
        assert result[key]["revenue_at_capacity"]["capacity"] > 0
    assert result["eval"]["clients"] == 200 and result["eval"]["auc"] > 0.8
    assert "eval_auc_at_least_0.85" in result["gates"] and isinstance(result["gates_failed"], list)
