"""Guarded arrears answers, the audit trail behind them (GET /v1/decisions) and the alert list (GET /v1/alerts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.collections import INLINE_ROWS, CollectionsDesk
from serving.model_store import ModelStore
from serving.schemas import ArrearsBatchResponse, ArrearsScore
from serving.settings import ServingSettings
from tests.serving.conftest import ADMIN, BILLING, IDS, PLANNER
from tests.serving.stubs import StubLoader
from training.alerts_job import LATEST, alerts_dir
from training.collections_settings import DEFAULT_ALTERNATIVES, CollectionsSettings, ProtectedPeriod

WINTER = ProtectedPeriod(name="winter_moratorium", regions=("north",), start="11-15", end="03-15")
DAY = dt.datetime(2024, 12, 1, 9, 30, tzinfo=dt.UTC)


def write_protection(var: Path) -> None:
    """C000 and C003 medical, C002 elderly; C007 in the north (winter moratorium), everyone else south."""
    folder = var / "features" / "demo" / "2014-02-28"
    pd.DataFrame(
        {
            "customer_id": IDS,
            "region": ["north" if i == 7 else "south" for i in range(10)],
            "medical": pd.array([i in (0, 3) for i in range(10)], dtype="boolean"),
            "elderly": pd.array([i == 2 for i in range(10)], dtype="boolean"),
            "category": "residential",
            "tariff": "std",
        }
    ).to_parquet(folder / "protection.parquet")


def make_client(settings: ServingSettings, collections: CollectionsSettings) -> TestClient:
    store = ModelStore(settings, loader=StubLoader())
    store.load_all()
    app = create_app(settings, store)
    desk = CollectionsDesk(settings, collections, clock=lambda: DAY)
    app.state.collections = desk
    app.state.service = dataclasses.replace(app.state.service, collections=desk)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def policy(tmp_path) -> CollectionsSettings:  # this test's own audit file, whatever METERWISE_DATABASE_URL says
    return CollectionsSettings(
        mild_actions=("none", "reminder"),
        protected_periods=(WINTER,),
        database_url=f"sqlite:///{tmp_path}/a.db",
        cold_start_min_peers=3,
    )


@pytest.fixture
def guarded(settings: ServingSettings, policy: CollectionsSettings):
    write_protection(settings.var_dir)
    with make_client(settings, policy) as c:
        yield c


def test_single_answer_is_guarded_and_its_audit_record_says_exactly_that(guarded):
    r = guarded.get("/v1/arrears/C003", headers=BILLING)
    assert r.status_code == 200, r.text
    body = ArrearsScore.model_validate(r.json())  # the declared schema holds the new fields
    assert (body.guardrail, body.original_action) == ("medical", "payment plan")
    assert body.action == DEFAULT_ALTERNATIVES["medical"]
    audit = guarded.get("/v1/decisions", params={"customer_id": "C003"}, headers=BILLING).json()
    assert audit["count"] == 1
    said = audit["decisions"][0]
    assert said["batch_id"] == body.decision_batch_id
    assert said["decided_at"].startswith("2024-12-01T09:30")
    for field in ("probability", "grade", "action", "original_action", "guardrail", "model_version", "snapshot_id"):
        assert said[field] == getattr(body, field), field
    assert said["reasons"] == body.reasons and said["source"] == "api"


def test_batch_guards_per_rule_and_period_and_counts_them(guarded):
    ids = ["C000", "C002", "C003", "C006", "C007", "NOPE"]
    r = guarded.post("/v1/arrears/score", json={"customer_ids": ids}, headers=BILLING)
    assert r.status_code == 200, r.text
    body = ArrearsBatchResponse.model_validate(r.json())
    cols = body.results
    # C000 medical but action "none": untouched; C006 "call" in the south: no guardrail applies
    assert cols.guardrail == [None, "elderly", "medical", None, "winter_moratorium", None]
    assert cols.original_action == [None, "call", "payment plan", None, "payment plan", None]
    assert cols.action[3] == "call" and "winter_moratorium" in cols.action[4]
    assert body.guarded_count == 3
    for cid, guard in zip(ids, cols.guardrail, strict=True):
        rows = guarded.get("/v1/decisions", params={"customer_id": cid}, headers=ADMIN).json()["decisions"]
        assert len(rows) == 1 and rows[0]["guardrail"] == guard and rows[0]["batch_id"] == body.decision_batch_id


def test_features_with_ids_are_guarded_from_the_snapshot_flags(guarded):
    body = {"features": {"kwh_mean_28d": [13.0, 13.0], "late_bills_12m": [3.0, 3.0]}, "customer_ids": ["C003", "C004"]}
    r = guarded.post("/v1/arrears/score", json=body, headers=BILLING)
    assert r.status_code == 200, r.text
    assert r.json()["results"]["guardrail"] == ["medical", None]


@pytest.mark.parametrize(
    "body",
    [
        {"customer_ids": ["C003"]},
        {"features": {"kwh_mean_28d": [13.0], "late_bills_12m": [3.0]}, "customer_ids": ["C003"]},
        {"features": {"kwh_mean_28d": [13.0], "late_bills_12m": [3.0]}},
    ],
    ids=["by_id", "features_with_id", "features"],
)
def test_a_batch_of_one_is_guarded_and_recorded_as_the_batch_path_would(guarded, body):
    r = guarded.post("/v1/arrears/score", json=body, headers=BILLING)
    assert r.status_code == 200, r.text
    answer = ArrearsBatchResponse.model_validate(r.json())
    cols = answer.results
    with_id = "customer_ids" in body
    assert cols.guardrail == (["medical"] if with_id else [None])
    assert answer.guarded_count == int(with_id)
    if with_id:
        assert cols.original_action == ["payment plan"] and cols.action == [DEFAULT_ALTERNATIVES["medical"]]
        rows = guarded.get("/v1/decisions", params={"customer_id": "C003"}, headers=ADMIN).json()["decisions"]
        assert len(rows) == 1 and rows[0]["batch_id"] == answer.decision_batch_id
        said = rows[0]
        assert (said["action"], said["original_action"], said["guardrail"]) == (
            cols.action[0],
            "payment plan",
            "medical",
        )
        assert said["probability"] == cols.probability[0] and said["reasons"] == (
            cols.reasons[0] if cols.reasons else [None] * 3
        )


def test_a_batch_above_inline_rows_is_one_payload_row_and_every_decision_is_readable_at_once(guarded):
    n = INLINE_ROWS + 44  # deferred: the rows reach `decisions` through the exploder
    ids = ["C003", "C007", *(f"X{i:04d}" for i in range(n - 2))]
    body = {"features": {"kwh_mean_28d": [13.0] * n, "late_bills_12m": [3.0] * n}, "customer_ids": ids}
    r = guarded.post("/v1/arrears/score", json=body, headers=BILLING)
    assert r.status_code == 200, r.text
    answer = r.json()
    for k in (0, 1, n - 1):  # read at once, before or while the background indexer runs
        rows = guarded.get("/v1/decisions", params={"customer_id": ids[k]}, headers=ADMIN).json()["decisions"]
        assert [row["batch_id"] for row in rows] == [answer["decision_batch_id"]]
        assert rows[0]["action"] == answer["results"]["action"][k]
        assert rows[0]["guardrail"] == answer["results"]["guardrail"][k]
    assert answer["results"]["guardrail"][:2] == ["medical", "winter_moratorium"]


def test_outside_the_period_the_north_is_not_guarded(settings, policy):
    write_protection(settings.var_dir)
    with make_client(settings, policy) as c:
        c.app.state.collections.clock = lambda: dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
        assert c.get("/v1/arrears/C007", headers=BILLING).json()["guardrail"] is None


def test_decisions_need_billing_or_admin(guarded):
    params = {"customer_id": "C003"}
    assert guarded.get("/v1/decisions", params=params, headers=PLANNER).status_code == 403
    assert guarded.get("/v1/decisions", params=params).status_code == 401
    assert guarded.get("/v1/decisions", params=params, headers=ADMIN).status_code == 200


def test_unknown_customer_has_no_decisions(guarded):
    body = guarded.get("/v1/decisions", params={"customer_id": "NOPE"}, headers=BILLING).json()
    assert body == {"customer_id": "NOPE", "count": 0, "decisions": []}


def test_an_answer_that_cannot_be_recorded_is_not_served(settings, policy, tmp_path):
    (tmp_path / "not-a-dir").write_text("a file where the database folder should be")
    broken = policy.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'not-a-dir' / 'decisions.db'}"})
    write_protection(settings.var_dir)
    with make_client(settings, broken) as c:
        r = c.get("/v1/arrears/C003", headers=BILLING)
    assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"


def write_alert_list(settings: ServingSettings) -> None:
    folder = alerts_dir(settings.var_dir, settings.tenant)
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C004"],
            "kind": ["low_balance", "low_balance", "bill_shock"],
            "level": ["1d", "7d", "warning"],
            "days_left": [0.5, 6.0, None],
            "balance": [1.0, 12.0, None],
            "daily_cost": [2.0, 2.0, 1.5],
            "projected_bill": [None, None, 90.0],
            "usual_bill": [None, None, 40.0],
            "as_of": pd.Timestamp("2014-02-28"),
        }
    ).to_parquet(folder / LATEST)


def test_alerts_filter_by_level_and_kind(client, settings):
    none_yet = client.get("/v1/alerts", headers=BILLING).json()
    assert (none_yet["as_of"], none_yet["count"]) == (None, 0)  # no list written yet: says so with as_of null
    write_alert_list(settings)
    all_ = client.get("/v1/alerts", headers=BILLING).json()
    assert all_["count"] == 3 and all_["as_of"] == "2014-02-28"
    assert all_["level_counts"] == {"1d": 1, "7d": 1, "warning": 1}
    one = client.get("/v1/alerts", params={"level": "1d"}, headers=BILLING).json()
    assert one["results"]["customer_id"] == ["C001"] and one["results"]["days_left"] == [0.5]
    shock = client.get("/v1/alerts", params={"kind": "bill_shock"}, headers=BILLING).json()
    assert shock["results"]["projected_bill"] == [90.0] and shock["results"]["days_left"] == [None]
    assert client.get("/v1/alerts", params={"kind": "nope"}, headers=BILLING).status_code == 422
    assert client.get("/v1/alerts", headers=PLANNER).status_code == 403


def test_too_little_history_gets_the_peers_prior_flagged_cold_start(guarded, store):
    live = store.live(store.get("arrears"))
    south_scored = [i for i in range(10) if i != 7 and live.usable[i]]  # C008 / C009: no usable features
    prior = float(np.mean(live.columns["probability"][south_scored]))
    one = guarded.get("/v1/arrears/C008", headers=BILLING).json()
    assert one["status"] == "cold_start" and one["probability"] == pytest.approx(prior)
    assert one["cold_start"] == "category=residential, region=south, tariff=std (n=7 peers)"
    assert one["grade"] is not None and one["action"] is not None
    batch = guarded.post("/v1/arrears/score", json={"customer_ids": ["C000", "C009", "NOPE"]}, headers=BILLING).json()
    assert batch["results"]["status"] == ["ok", "cold_start", "unknown_customer"]
    assert batch["status_counts"] == {"ok": 1, "unknown_customer": 1, "insufficient_features": 0, "cold_start": 1}
    audit = guarded.get("/v1/decisions", params={"customer_id": "C009"}, headers=BILLING).json()["decisions"]
    assert audit[0]["status"] == "cold_start" and audit[0]["probability"] == pytest.approx(prior)


def test_without_enough_peers_it_stays_insufficient(settings, policy):
    write_protection(settings.var_dir)
    with make_client(settings, policy.model_copy(update={"cold_start_min_peers": 50})) as c:
        one = c.get("/v1/arrears/C008", headers=BILLING).json()
    assert one["status"] == "insufficient_features" and one["probability"] is None and one["cold_start"] is None


def test_profile_joins_the_view_the_guarded_arrears_answer_and_is_not_a_decision(guarded, settings):
    from training.customer_views_job import VIEWS, views_dir

    folder = views_dir(settings.var_dir, settings.tenant)
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": ["C003"],
            "key_account": [True],
            "key_account_basis": ["contract flag key_account"],
            "peak_kw": [3.2],
            "daily_28d": [np.arange(28, dtype=float)],
            "as_of": [pd.Timestamp("2014-02-28")],
        }
    ).to_parquet(folder / VIEWS)
    body = guarded.get("/v1/customers/C003/profile", headers=BILLING).json()
    assert body["key_account"] is True and body["usage"]["peak_kw"] == 3.2 and len(body["usage"]["daily_28d"]) == 28
    assert body["arrears"]["guardrail"] == "medical" and body["arrears"]["original_action"] == "payment plan"
    assert guarded.get("/v1/decisions", params={"customer_id": "C003"}, headers=BILLING).json()["count"] == 0
    assert guarded.get("/v1/customers/NOPE/profile", headers=BILLING).status_code == 404
    assert guarded.get("/v1/customers/C003/profile", headers=PLANNER).status_code == 403


def test_one_customer_is_guarded_exactly_as_the_same_row_in_a_batch(guarded):
    """The scalar single-answer path and the vectorised batch path agree on every customer and action."""
    desk = guarded.app.state.collections
    snapshot = guarded.app.state.service.store.snapshots.current()
    actions = [None, float("nan"), "none", "reminder", "call", "payment plan", "field visit"]
    ids = [*IDS, "NOPE"]
    rows = [(cid, action) for cid in ids for action in actions]
    base = {"model_version": "1", "as_of": None, "snapshot_id": None}
    batch = {
        **base,
        "source": "features",
        "status_counts": {"ok": len(rows)},
        "results": {
            "customer_id": [c for c, _ in rows],
            "status": ["ok"] * len(rows),
            "probability": [0.5] * len(rows),
            "grade": ["C"] * len(rows),
            "action": [a for _, a in rows],
            "reasons": None,
        },
    }
    together = desk.apply(batch, snapshot)["results"]
    for k, (cid, action) in enumerate(rows):
        one = {**base, "customer_id": cid, "status": "ok", "probability": 0.5, "grade": "C", "action": action}
        alone = desk.apply({**one, "reasons": None}, snapshot)
        row = {**batch["results"], "customer_id": [cid], "status": ["ok"], "probability": [0.5], "grade": ["C"]}
        row["action"] = [action]  # (the batch's own columns now hold the guarded actions)
        one_row = desk.apply({**batch, "status_counts": {"ok": 1}, "results": row}, snapshot)  # a batch of one
        assert one_row["guarded_count"] == int(together["guardrail"][k] is not None)
        for field in ("action", "original_action", "guardrail"):
            a, b, c = alone[field], together[field][k], one_row["results"][field][0]
            assert a == b or (a != a and b != b), (cid, action, field, a, b)
            assert c == b or (c != c and b != b), (cid, action, field, c, b)
    assert sum(g is not None for g in together["guardrail"]) >= 6  # the rules did fire in this table
