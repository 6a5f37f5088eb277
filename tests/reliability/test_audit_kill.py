"""The decision audit trail survives ``kill -9``: every decision a real server acknowledged (200) is in the
database afterwards, exactly as it was answered, and a restarted server serves it from GET /v1/decisions."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
from harness.load import launch, stop
from harness.service import BILLING, KNOWN, stub_server_env

from training.decisions import DecisionLog


def hammer(base: str, worker: int, stop_at: threading.Event, acked: list[dict]) -> None:
    """Single and batch requests in a loop; keeps each acknowledged answer."""
    with httpx.Client(base_url=base, headers=BILLING, timeout=10) as client:
        i = 0
        while not stop_at.is_set():
            size = 300 if i % 7 == 6 else 1 + (i % 3) * 20  # 300 > INLINE_ROWS: one payload row, exploded later
            ids = [KNOWN[(worker * 97 + i * 13 + k) % len(KNOWN)] for k in range(size)]
            try:
                if len(ids) == 1:
                    r = client.get(f"/v1/arrears/{ids[0]}")
                else:
                    r = client.post("/v1/arrears/score", json={"customer_ids": ids})
            except httpx.TransportError:
                return  # the server died mid-request: that answer was never acknowledged
            if r.status_code == 200:
                acked.append(r.json())
            i += 1


def missing_decisions(acked: list[dict], stored: dict[tuple[int, str], str]) -> list[tuple[int, str]]:
    """(batch, customer) of every acknowledged answer absent from, or different in, the stored rows."""
    missing = []
    for answer in acked:
        if "results" in answer:
            pairs = zip(answer["results"]["customer_id"], answer["results"]["action"], strict=True)
        else:
            pairs = [(answer["customer_id"], answer["action"])]
        batch = answer["decision_batch_id"]
        missing += [(batch, cid) for cid, action in pairs if stored.get((batch, cid), "<missing>") != action]
    return missing


def test_the_check_catches_a_lost_or_altered_decision():  # the control: the kill test can fail
    acked = [
        {"decision_batch_id": 1, "customer_id": "A", "action": "call"},
        {"decision_batch_id": 2, "results": {"customer_id": ["A", "B"], "action": ["none", "call"]}},
    ]
    stored = {(1, "A"): "call", (2, "A"): "none", (2, "B"): "call"}
    assert missing_decisions(acked, stored) == []
    assert missing_decisions(acked, {k: v for k, v in stored.items() if k != (2, "B")}) == [(2, "B")]
    assert missing_decisions(acked, {**stored, (1, "A"): "field visit"}) == [(1, "A")]


def test_every_acknowledged_decision_survives_kill_9(tmp_path: Path):
    env = {**stub_server_env(tmp_path), "METERWISE_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'decisions.db'}"}
    proc, base = launch(env)
    acked: list[dict] = []
    halt = threading.Event()
    workers = [threading.Thread(target=hammer, args=(base, w, halt, acked)) for w in range(4)]
    try:
        for t in workers:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of the load
        proc.wait(10)
    finally:
        halt.set()
        for t in workers:
            t.join(15)
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 60, f"only {len(acked)} answers before the kill"
    assert any(len(a.get("results", {}).get("customer_id", [])) > 256 for a in acked), "no deferred batch acked"

    log = DecisionLog.open(f"sqlite:///{tmp_path / 'var' / 'decisions.db'}")
    try:
        log.explode_pending()  # what every reader does first: payloads acknowledged but not yet exploded
        with log.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            stored = {
                (row.batch_id, row.customer_id): row.action
                for row in conn.exec_driver_sql("SELECT batch_id, customer_id, action FROM decisions")
            }
    finally:
        log.close()
    missing = missing_decisions(acked, stored)
    assert not missing, f"{len(missing)} acknowledged decisions lost or changed, first {missing[:5]}"

    proc, base = launch(env)  # a restart serves them
    try:
        last = acked[-1]
        cid = last["customer_id"] if "customer_id" in last else last["results"]["customer_id"][0]
        rows = httpx.get(f"{base}/v1/decisions", params={"customer_id": cid}, headers=BILLING).json()["decisions"]
        assert last["decision_batch_id"] in {r["batch_id"] for r in rows}
    finally:
        stop(proc)
