"""The inspection list and evidence packs on the demo tenant's seeded theft injections."""

from __future__ import annotations

import pandas as pd
import pytest

from features.io import load_tenant
from features.settings import DEMO_DIR
from training.theft_job import TABLES, fit_theft, injected_recall, labels_from_inspections, past_list_hit_rate
from training.theft_list import build_inspection_list, evidence_pack, reason_words
from training.theft_report import write_inspection_report


@pytest.fixture(scope="module")
def demo():
    tables, _ = load_tenant(DEMO_DIR, tables=TABLES)
    model, as_of, n = fit_theft(tables)
    listing = build_inspection_list(
        model, tables["meter_reads"], tables["customers"], tables["inspections"], capacity=15
    )
    truth = pd.read_parquet(DEMO_DIR / "theft_injections.parquet")
    return tables, model, as_of, n, listing, truth


def test_training_uses_inspected_customers_only_with_features_before_the_first_inspection(demo):
    tables, _, as_of, n, _, _ = demo
    labels = labels_from_inspections(tables["inspections"])
    assert n == int(labels.notna().sum()) == 94  # 6 not reached are unlabelled, 200 uninspected too
    assert as_of == tables["inspections"]["inspected_date"].min()


def test_list_is_ranked_by_expected_revenue_within_capacity(demo):
    listing = demo[4]
    f = listing.frame
    assert f["in_capacity"].sum() == 15 and f["rank"].tolist() == list(range(1, len(f) + 1))
    fresh = f.loc[~f["recently_inspected"]]
    assert fresh["expected_revenue"].is_monotonic_decreasing
    assert f.loc[f["recently_inspected"], "in_capacity"].sum() == 0  # inspected in January: not sent again
    assert (f["expected_revenue"] - f["probability"] * f["stolen_kwh_year"] * listing.tariff_per_kwh).abs().max() < 1e-9


def test_evidence_pack_shows_chart_reasons_anomalies_and_past_inspections(demo):
    tables, model, _, _, listing, truth = demo
    rollback = truth.loc[truth["injection"] == "rollback", "customer_id"]
    pack = evidence_pack(model, listing, rollback.iloc[0])
    assert any(a["kind"] == "rollback" for a in pack["anomalies"])
    assert len(pack["reasons"]) == 3 and all(r["words"] for r in pack["reasons"])
    assert {"read_date", "kwh_30d", "own_past_mean_kwh_30d", "peer_median_kwh_30d"} <= set(pack["chart"][0])
    assert pack["past_inspections"] == [
        {"inspected_date": d.strftime("%Y-%m-%d"), "outcome": o}
        for d, o in tables["inspections"]
        .loc[tables["inspections"]["customer_id"] == rollback.iloc[0], ["inspected_date", "outcome"]]
        .itertuples(index=False)
    ]
    tampering = truth.loc[truth["injection"] == "tampering", "customer_id"].iloc[0]
    assert any(a["kind"] == "zero" for a in evidence_pack(model, listing, tampering)["anomalies"])
    with pytest.raises(KeyError):
        evidence_pack(model, listing, "NOBODY")


def test_injected_recall_per_type_and_the_report(demo, tmp_path):
    _, model, _, _, listing, truth = demo
    recall = injected_recall(listing, truth)
    assert set(recall) == {"bypass", "tampering", "rollback"}
    assert all(r["injected"] == 5 and r["uninspected"] == 2 for r in recall.values())
    assert sum(r["recall_uninspected"] for r in recall.values()) > 0  # the list finds some it was never told about
    html = write_inspection_report(tmp_path / "r.html", model, listing, {"recall": recall}).read_text()
    assert html.count("<svg") == 15 and 'id="inspections-' in html


def test_past_list_hit_rate_counts_confirmed_among_inspected_listed():
    previous = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "in_capacity": [True, True, True, False]})
    inspections = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "outcome": ["theft_confirmed", "no_irregularity", "not_reached", "theft_confirmed"],
        }
    )
    assert past_list_hit_rate(previous, inspections) == {"listed": 3, "inspected": 2, "confirmed": 1, "hit_rate": 0.5}
    inspections["inspected_date"] = pd.to_datetime(["2024-01-02", "2023-12-01", "2024-01-03", "2024-01-04"])
    assert past_list_hit_rate(previous, inspections, since="2024-01-01")["inspected"] == 1  # earlier visits ignored


def test_reason_words_cover_gas_and_codes():
    assert reason_words("gas_zero_share") == "gas: many zero-consumption reads"
    assert reason_words("status_share_5") == "meter status '5' seen often"
