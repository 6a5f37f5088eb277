"""The decision audit store: migrations, one transaction per batch, exact round trip, SQLite durability pragmas.

Runs on SQLite; set METERWISE_DATABASE_URL to a PostgreSQL database to run it there too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sqlite3
import sys
import threading
import time

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa

from training.decisions import VERSION_TABLE, DecisionBatch, DecisionLog, migrate, open_engine


@pytest.fixture(params=["sqlite", "env"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit' / 'decisions.db'}"
    url = os.environ.get("METERWISE_DATABASE_URL")
    if not url:
        pytest.skip("METERWISE_DATABASE_URL not set: PostgreSQL variant skipped")
    return url


def batch(ids: list[str], **over) -> DecisionBatch:
    n = len(ids)
    cols = {
        "customer_id": ids,
        "status": ["ok"] * n,
        "probability": np.linspace(0.1, 0.9, n),
        "grade": ["C"] * n,
        "action": ["welfare call + payment plan"] * n,
        "original_action": ["field visit"] * n,
        "guardrail": ["medical"] * n,
        "reason_1": ["unpaid £313 for 38 days"] * n,
        "reason_2": [None] * n,
        "reason_3": [None] * n,
        **over,
    }
    return DecisionBatch("api", "demo", "3", "2014-03-05/abc", "2014-03-05", "2024-12-01", cols)


def test_round_trip_is_exact_and_newest_first(url):
    log = DecisionLog.open(url)
    try:
        first = log.record(batch(["A", "B"]), now=dt.datetime(2024, 12, 1, 9, tzinfo=dt.UTC))
        second = log.record(batch(["A"], probability=np.array([np.nan]), status=["insufficient_features"]))
        rows = log.for_customer("A")
        assert [r["batch_id"] for r in rows][:2] == [second, first]
        newest, older = rows[0], rows[1]
        assert newest["probability"] is None and newest["status"] == "insufficient_features"
        assert older["decided_at"].startswith("2024-12-01T09:00:00") and older["probability"] == pytest.approx(0.1)
        assert older["reasons"] == ["unpaid £313 for 38 days", None, None]
        assert (older["guardrail"], older["original_action"], older["model_version"]) == ("medical", "field visit", "3")
        assert log.guarded_share(first) == 1.0
    finally:
        log.close()


def test_several_batches_commit_together_or_not_at_all(url):
    """record_many (the API's group commit): one transaction, one id per batch in order; a batch that
    cannot be written takes the whole group back, with nothing of it stored."""
    log = DecisionLog.open(url, defer_rows=2)  # the third batch is deferred: payload chunks in the same commit
    try:
        before = log.count()
        ids = log.record_many([(batch(["G1"]), None), (batch(["G2", "G3"]), None), (batch(["G4", "G5", "G6"]), None)])
        assert len(set(ids)) == 3 and ids == sorted(ids)
        assert log.count() == before + 6  # the deferred batch is readable at once (readers explode first)
        assert [r["batch_id"] for r in log.for_customer("G5")] == [ids[2]]
        bad = dataclasses.replace(batch(["G8"]), tenant=None)  # NOT NULL: refused after G7 went in
        with pytest.raises(sa.exc.IntegrityError if not url.startswith("sqlite") else sqlite3.IntegrityError):
            log.record_many([(batch(["G7"]), None), (bad, None)])
        assert log.for_customer("G7") == [] and log.for_customer("G8") == []
        assert log.count() == before + 6
    finally:
        log.close()


def test_migration_is_idempotent_and_uses_its_own_version_table(url):
    engine = open_engine(url)
    migrate(engine)
    migrate(engine)  # a second worker starting later
    tables = sa.inspect(engine).get_table_names()
    assert {"decisions", "decision_batches", VERSION_TABLE} <= set(tables)
    assert "alembic_version" not in tables or url.startswith("postgresql")  # never MLflow's table
    engine.dispose()


def batch_rows(log: DecisionLog) -> int:
    with log.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM decision_batches")).scalar_one())


def test_a_failed_batch_leaves_nothing_behind(url):
    log = DecisionLog.open(url)
    try:
        before, batches_before = log.count(), batch_rows(log)
        with pytest.raises(ValueError):  # columns of different lengths: refused before anything is written
            log.record(batch(["A", "B"], grade=["C"]))
        assert log.count() == before
        with pytest.raises((sa.exc.IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)):
            log.record(batch(["A", "B"], status=["ok", None]))  # the second row breaks NOT NULL mid-insert
        assert log.count() == before and batch_rows(log) == batches_before  # no half-written batch row either
        assert log.record(batch(["B"])) > 0 and log.count() == before + 1  # the connection is usable again
    finally:
        log.close()


def test_sqlite_is_in_wal_mode_with_the_configured_sync(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}", synchronous="FULL")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def is_pending(log: DecisionLog, batch_id: int) -> bool:
    """Whether `batch_id` still waits for the indexer (a shared database may hold other tests' batches)."""
    with log.engine.connect() as conn:
        query = sa.text("SELECT pending FROM decision_batches WHERE id = :id").bindparams(id=batch_id)
        return bool(conn.execute(query).scalar_one())


def pending_batches(log: DecisionLog) -> int:
    with log.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(sa.table("decision_batches", sa.column("pending")))
        return int(conn.execute(query.where(sa.column("pending") == sa.true())).scalar_one())


def test_a_large_batch_commits_one_payload_row_and_readers_see_every_decision(url, monkeypatch):
    monkeypatch.setattr("training.decisions.CHUNK_ROWS", 2)  # 5 rows: 3 payload chunks, 3 explode transactions
    log = DecisionLog(open_engine(url), defer_rows=2)
    migrate(log.engine)
    log._wake_indexer = lambda: None  # no background indexer: the reader alone must explode the payload
    try:
        before = log.count()
        rng = np.random.default_rng(0)
        p = rng.random(5)
        p[3] = np.nan
        first = log.record(batch(["A", "B", "C", "D", "007"], probability=p, reason_2=["x", None, "y", None, "z"]))
        assert is_pending(log, first)
        rows = {cid: log.for_customer(cid)[0] for cid in ("A", "D", "007")}  # the newest of each
        assert not is_pending(log, first) and log.count() == before + 5
        assert rows["A"]["probability"] == p[0] and rows["A"]["batch_id"] == first  # exact: no float drift
        assert rows["D"]["probability"] is None and rows["007"]["reasons"] == ["unpaid £313 for 38 days", "z", None]
        assert rows["A"]["guardrail"] == "medical" and rows["A"]["status"] == "ok"
        small = log.record(batch(["A"]))  # at or under defer_rows: rows written in the same transaction
        assert not is_pending(log, small) and log.for_customer("A")[0]["batch_id"] == small
    finally:
        log.close()


def test_the_background_indexer_explodes_pending_payloads(url):
    log = DecisionLog.open(url, defer_rows=1)
    try:
        deferred = log.record(batch(["A", "B", "C"]))
        deadline = time.monotonic() + 30
        while is_pending(log, deferred) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_pending(log, deferred)  # no reader ran: the indexer did it
    finally:
        log.close()


def test_two_processes_never_explode_a_batch_twice(url, monkeypatch):
    monkeypatch.setattr("training.decisions.CHUNK_ROWS", 1)  # chunks interleave between the two
    one, two = DecisionLog.open(url, defer_rows=1), DecisionLog.open(url, defer_rows=1)
    for log in (one, two):
        log._wake_indexer = lambda: None
    try:
        before = one.count()
        mine = [one.record(batch([f"P{k}", f"Q{k}", f"R{k}"])) for k in range(6)]
        threads = [threading.Thread(target=log.explode_pending) for log in (one, two, one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert one.count() == two.count() == before + 18
        with one.engine.connect() as conn:  # every row once, in batch order (only this test's batches)
            query = sa.text("SELECT customer_id FROM decisions WHERE batch_id IN :ids ORDER BY batch_id, id")
            query = query.bindparams(sa.bindparam("ids", value=mine, expanding=True))
            got = list(conn.execute(query).scalars())
        assert got == [f"{c}{k}" for k in range(6) for c in "PQR"]
    finally:
        one.close()
        two.close()


def test_an_audit_database_of_revision_0001_upgrades_with_its_rows_read_as_exploded(tmp_path):
    from alembic import command
    from alembic.config import Config

    from training.decisions import MIGRATIONS

    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO decision_batches (id, decided_at, source, tenant, model_version, decision_day, count, guarded)"
            " VALUES (1, '2024-12-01 09:00:00.000000', 'api', 'demo', '3', '2024-12-01', 1, 0)"
        )
        conn.exec_driver_sql("INSERT INTO decisions (batch_id, customer_id, status) VALUES (1, 'A', 'ok')")
    log = DecisionLog(engine)
    migrate(engine)
    try:
        assert pending_batches(log) == 0 and [r["batch_id"] for r in log.for_customer("A")] == [1]
    finally:
        log.close()


def test_the_background_indexer_waits_for_a_pause_in_requests_but_a_reader_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr("training.decisions.IDLE_S", 30.0)  # requests never pause during this test
    log = DecisionLog.open(f"sqlite:///{tmp_path / 'd.db'}", defer_rows=1)
    try:
        log.record(batch(["A", "B", "C"]))
        log.record(batch(["D"]))  # a request's write, just now
        time.sleep(0.3)
        assert pending_batches(log) == 1  # the indexer is holding back
        assert [r["customer_id"] for r in log.for_customer("B")] == ["B"] and pending_batches(log) == 0
        monkeypatch.setattr("training.decisions.MAX_BACKLOG_CHUNKS", 0)  # a backlog this big: keep up regardless
        log.record(batch(["E", "F"]))
        deadline = time.monotonic() + 30
        while pending_batches(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending_batches(log) == 0
    finally:
        log.close()


def test_sqlite_wal_is_checkpointed_in_the_background_not_in_a_request_commit(tmp_path, monkeypatch):
    from training import decisions_sqlite

    calls: list[tuple[str, tuple[int, int, int]]] = []
    original = decisions_sqlite.SqliteWriter.checkpoint

    def spy(self):
        out = original(self)
        calls.append((threading.current_thread().name, out))
        return out

    monkeypatch.setattr(decisions_sqlite.SqliteWriter, "checkpoint", spy)
    monkeypatch.setattr("training.decisions.CHECKPOINT_S", 0.0)
    log = DecisionLog.open(f"sqlite:///{tmp_path / 'decisions.db'}")
    try:
        for i in range(20):
            log.record(batch([f"W{i}"]))
        con = log._sqlite._connection()  # the request path's own connection (this thread's)
        assert con.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == decisions_sqlite.CHECKPOINT_PAGES
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls and all(name == "decision-indexer" for name, _ in calls)
        busy, frames, done = calls[-1][1]
        assert busy == 0 and frames > 0 and done == frames  # every frame of the WAL copied at that point
        assert log.count() == 20
    finally:
        log.close()


@pytest.mark.skipif(sys.platform != "linux", reason="a per-thread priority is a Linux feature")
def test_the_indexer_thread_runs_below_the_request_path_and_the_process_keeps_its_priority(tmp_path):
    from training.decisions import INDEXER_NICE

    process_nice = os.getpriority(os.PRIO_PROCESS, 0)
    log = DecisionLog.open(f"sqlite:///{tmp_path / 'decisions.db'}", defer_rows=1)
    try:
        log.record(batch(["A", "B", "C"]))  # deferred: the indexer starts
        deadline = time.monotonic() + 10
        while log.indexer_nice is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.indexer_nice == min(process_nice + INDEXER_NICE, 19)
        assert os.getpriority(os.PRIO_PROCESS, 0) == process_nice  # this (request) thread is untouched
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process_nice
    finally:
        log.close()
