"""The audit trail's schema: its tables (owned by Alembic, ``training/decisions_migrations/``), and the
engine and migration helpers shared by the writer (:mod:`training.decisions`), the migrations and the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from training.decisions_sqlite import sqlite_pragmas

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("decisions_migrations")
VERSION_TABLE = "meterwise_decisions_version"
DECISION_COLUMNS = (
    "customer_id",
    "status",
    "probability",
    "grade",
    "action",
    "original_action",
    "guardrail",
    "reason_1",
    "reason_2",
    "reason_3",
)

metadata = sa.MetaData()
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
batches = sa.Table(
    "decision_batches",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # api or batch
    sa.Column("request_id", sa.String(64)),
    sa.Column("tenant", sa.String(40), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("snapshot_id", sa.String(80)),
    sa.Column("as_of", sa.String(10)),
    sa.Column("decision_day", sa.String(10), nullable=False),  # the day guardrail periods were checked on
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("guarded", sa.Integer, nullable=False),
    sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()),  # payload chunks left
    sa.Index("ix_batches_pending", "pending"),
)
payloads = sa.Table(
    "decision_payloads",
    metadata,
    sa.Column("batch_id", Id, sa.ForeignKey("decision_batches.id"), nullable=False),
    sa.Column("chunk", sa.Integer, nullable=False),
    sa.Column("rows", sa.Text, nullable=False),  # JSON array of [customer_id, status, ...] (DECISION_COLUMNS)
    sa.PrimaryKeyConstraint("batch_id", "chunk"),
)
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("batch_id", Id, sa.ForeignKey("decision_batches.id"), nullable=False),
    sa.Column("customer_id", sa.String(64)),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("probability", sa.Float),
    sa.Column("grade", sa.String(16)),
    sa.Column("action", sa.Text),
    sa.Column("original_action", sa.Text),
    sa.Column("guardrail", sa.String(64)),
    sa.Column("reason_1", sa.Text),
    sa.Column("reason_2", sa.Text),
    sa.Column("reason_3", sa.Text),
    sa.Index("ix_decisions_customer", "customer_id", "batch_id"),
)


def open_engine(url: str, *, synchronous: str = "NORMAL") -> Engine:
    """An engine for `url`; SQLite files get their folder created and WAL + `synchronous` pragmas."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        sa.event.listen(engine, "connect", sqlite_pragmas(synchronous))
    return engine


def migrate(engine: Engine) -> None:
    """Bring the audit schema to the newest Alembic revision (idempotent; safe for racing workers)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == 2:  # another worker migrating at the same moment: retry, then give up loudly
                raise
            logger.warning("audit schema migration raced another process; retrying")
