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
