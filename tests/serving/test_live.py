"""Answers by id computed live: a reload or a new snapshot changes them at once; cached per (version, snapshot)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.live import LiveScores
from serving.model_store import ModelStore
from serving.snapshots import Snapshot
from tests.serving.conftest import ADMIN, BILLING, IDS, snapshot_frame, write_features
from tests.serving.stubs import StubArrears


class CountingArrears(StubArrears):
    """Counts the rows it scores and explains, to show what the cache saves."""

    def __init__(self, bias: float = 0.0):
        super().__init__(bias=bias)
        self.scored = self.explained = 0

    def predict_proba(self, X):
        self.scored += len(X)
        return super().predict_proba(X)

    def reasons_frame(self, X, top: int = 3):
        self.explained += len(X)
        return super().reasons_frame(X, top)


def expected(kwh: float, late: float, bias: float = 0.0) -> float:
    return float(StubArrears(bias=bias).predict_proba(np.array([[kwh, late]]))[0, 1])


def test_after_promoting_and_reloading_answers_by_id_come_from_the_new_version(client, loader):
    before = client.get("/v1/arrears/C003", headers=BILLING).json()
    assert before["model_version"] == "1" and before["probability"] == pytest.approx(expected(13.0, 3.0))
    loader.bundles["arrears"] = (StubArrears(bias=-2.0), "2")  # the registry's champion alias moved to v2
    assert client.post("/v1/models/arrears/reload", headers=ADMIN).status_code == 200
    after = client.get("/v1/arrears/C003", headers=BILLING).json()  # no batch job in between
    assert after["model_version"] == "2" and after["probability"] == pytest.approx(expected(13.0, 3.0, -2.0))
    batch = client.post("/v1/arrears/score", json={"customer_ids": ["C003"]}, headers=BILLING).json()
    assert batch["model_version"] == "2" and batch["results"]["probability"] == [after["probability"]]
    assert after["snapshot_id"] == before["snapshot_id"]


def test_a_new_snapshot_changes_answers_at_once(client, settings):
    first = client.get("/v1/arrears/C003", headers=BILLING).json()
    write_features(settings.var_dir, snapshot_frame(bump=5.0), as_of="2014-03-31")
    second = client.get("/v1/arrears/C003", headers=BILLING).json()
    assert second["as_of"] == "2014-03-31" and second["snapshot_id"] != first["snapshot_id"]
    assert second["probability"] == pytest.approx(expected(18.0, 3.0))
    write_features(settings.var_dir, snapshot_frame(bump=9.0), as_of="2014-03-31")  # same day, rebuilt
    third = client.get("/v1/arrears/C003", headers=BILLING).json()
    assert third["as_of"] == "2014-03-31" and third["snapshot_id"] != second["snapshot_id"]
    assert third["probability"] == pytest.approx(expected(22.0, 3.0))
    segments = client.get("/v1/segments/C003", headers=BILLING).json()
    assert segments["snapshot_id"] == third["snapshot_id"]


def test_answers_are_computed_once_per_version_and_snapshot(settings, loader):
    bundle = CountingArrears()
    loader.bundles["arrears"] = (bundle, "1")
    store = ModelStore(settings, loader=loader, warm_reasons=False)
    store.load_all()
    with TestClient(create_app(settings, store)) as client:
        scored = bundle.scored  # canary + the whole snapshot, at admission
        for _ in range(3):
            client.get("/v1/arrears/C001", headers=BILLING)
            client.post("/v1/arrears/score", json={"customer_ids": IDS[:4]}, headers=BILLING)
        assert bundle.scored == scored  # nothing scored again
        write_features(settings.var_dir, snapshot_frame(bump=1.0), as_of="2014-03-31")
        client.get("/v1/arrears/C001", headers=BILLING)
        assert bundle.scored == scored + len(IDS)  # the new snapshot, once


def test_reasons_are_computed_once_per_customer(settings, loader):
    bundle = CountingArrears()
    loader.bundles["arrears"] = (bundle, "1")
    store = ModelStore(settings, loader=loader, warm_reasons=False)
    store.load_all()
    write_features(settings.var_dir, snapshot_frame(bump=1.0), as_of="2014-03-31")  # a cold cache
    with TestClient(create_app(settings, store)) as client:
        for _ in range(2):
            client.post("/v1/arrears/score", json={"customer_ids": ["C001", "C002", "C009"]}, headers=BILLING)
            client.get("/v1/arrears/C002", headers=BILLING)
        assert bundle.explained == 2  # C001 and C002; C009 has nothing to explain


def test_too_many_pending_reasons_is_a_503_to_retry(settings, loader):
    store = ModelStore(settings, loader=loader, warm_reasons=False)
    store.load_all()
    write_features(settings.var_dir, snapshot_frame(bump=1.0), as_of="2014-03-31")
    app = create_app(settings.model_copy(update={"max_reasons_rows": 3}), store)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = {"customer_ids": IDS[:6]}
        r = client.post("/v1/arrears/score", json=body, headers=BILLING)
        assert r.status_code == 503 and r.json()["error"]["code"] == "reasons_pending" and r.headers["retry-after"]
        quiet = client.post("/v1/arrears/score", json={**body, "include_reasons": False}, headers=BILLING)
        assert quiet.status_code == 200 and quiet.json()["results"]["reasons"] is None


def test_no_snapshot_is_a_503_not_a_500(tmp_path, loader):
    from serving.settings import ServingSettings

    settings = ServingSettings(var_dir=tmp_path / "var", models_dir=tmp_path / "m", use_registry=False)
    store = ModelStore(settings, loader=loader)
    store.load_all()
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as client:
        r = client.get("/v1/arrears/C001", headers=BILLING)
        assert r.status_code == 503 and r.json()["error"]["code"] == "snapshot_not_found"
        feats = {"features": {"kwh_mean_28d": [10.0], "late_bills_12m": [1]}}
        assert client.post("/v1/arrears/score", json=feats, headers=BILLING).status_code == 200


def test_live_scores_take_status_and_unknown_rows():
    snapshot = Snapshot("d/1", "2014-02-28", __import__("pandas").Index(["a", "b"], dtype=object), None)
    live = LiveScores(
        "1",
        snapshot,
        {"probability": np.array([0.2, np.nan])},
        usable=np.array([True, False]),
        explain=lambda rows: np.array([["r", None, None]] * len(rows), dtype=object),
    )
    pos, known = snapshot.lookup(["b", "zz", "a"])
    assert live.status(pos, known).tolist() == ["insufficient_features", "unknown_customer", "ok"]
    p = live.take("probability", pos, known)
    assert np.isnan(p[:2]).all() and p[2] == 0.2
    assert live.reasons_at(pos, known).tolist() == [[None] * 3, [None] * 3, ["r", None, None]]


def test_the_reasons_warm_up_hands_the_gil_back_often():
    """The background warm-up is Python beside live traffic: it runs under the reload's short switch
    interval, restored afterwards."""
    import sys

    from serving.gil import RELOAD_SWITCH_INTERVAL_S

    seen = []

    def explain(rows):
        seen.append(sys.getswitchinterval())
        return np.array([["r", None, None]] * len(rows), dtype=object)

    snapshot = Snapshot("d/1", "2014-02-28", __import__("pandas").Index([f"c{i}" for i in range(600)]), None)
    live = LiveScores("1", snapshot, {"probability": np.full(600, 0.5)}, usable=np.ones(600, bool), explain=explain)
    before = sys.getswitchinterval()
    live.warm(chunk=256)
    assert seen == [pytest.approx(RELOAD_SWITCH_INTERVAL_S)] * 3
    assert sys.getswitchinterval() == before and live.reasons_at(*snapshot.lookup(["c599"]))[0][0] == "r"


def test_a_reload_goes_live_with_the_reasons_of_the_whole_snapshot_computed(settings, loader):
    """Admission waits for the new champion's reasons (``warm_wait_s``): after the swap no by-id request
    computes reasons on the event loop; the warm-up thread runs below the process's OS priority."""
    import os
    import sys

    store = ModelStore(settings, loader=loader)
    store.load_all()
    bundle = CountingArrears(bias=-1.0)
    loader.bundles["arrears"] = (bundle, "2")
    runtime = store.reload("arrears")
    described = runtime.live.describe()
    assert described["reasons_computed"] == described["usable"] > 0
    assert bundle.explained == described["usable"]  # all of them, before reload() returned
    if sys.platform == "linux":
        assert runtime.live.warm_nice == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)


def test_a_slow_warm_up_holds_a_reload_for_warm_wait_s_at_most(settings, loader):
    import threading
    import time

    release = threading.Event()

    class SlowReasons(CountingArrears):
        def reasons_frame(self, X, top: int = 3):
            release.wait(30)
            return super().reasons_frame(X, top)

    store = ModelStore(settings.model_copy(update={"warm_wait_s": 0.2}), loader=loader)
    loader.bundles["arrears"] = (SlowReasons(), "1")
    try:
        started = time.monotonic()
        store.load_all()
        assert time.monotonic() - started < 10 and "arrears" in [d["kind"] for d in store.describe() if d["ready"]]
        assert store.get("arrears").live.describe()["reasons_computed"] == 0  # the rest follow in the background
    finally:
        release.set()
    assert store.get("arrears").live.wait_warm(30)
