"""The decision audit store: migrations, one transaction per batch, exact round trip, SQLite durability pragmas.

Runs on SQLite; set METERWISE_DATABASE_URL to a PostgreSQL database to run it there too."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
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


def test_migration_is_idempotent_and_uses_its_own_version_table(url):
    engine = open_engine(url)
    migrate(engine)
    migrate(engine)  # a second worker starting later
    tables = sa.inspect(engine).get_table_names()
    assert {"decisions", "decision_batches", VERSION_TABLE} <= set(tables)
    assert "alembic_version" not in tables or url.startswith("postgresql")  # never MLflow's table
    engine.dispose()


def test_a_failed_batch_leaves_nothing_behind(url):
    log = DecisionLog.open(url)
    try:
        before = log.count()
        with pytest.raises(ValueError):  # columns of different lengths: refused before anything is written
            log.record(batch(["A", "B"], grade=["C"]))
        assert log.count() == before
    finally:
        log.close()


def test_sqlite_is_in_wal_mode_with_the_configured_sync(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}", synchronous="FULL")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
