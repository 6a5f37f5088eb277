"""The decision audit trail: every arrears decision served (API or batch run), in a real database.

SQLite by default (``<var>/decisions.db``, WAL), PostgreSQL when ``METERWISE_DATABASE_URL`` says so; the
schema is owned by Alembic migrations (``training/decisions_migrations/``, version table
``meterwise_decisions_version`` so that it never meets MLflow's own ``alembic_version`` in a shared
database). Written through SQLAlchemy Core, one transaction per request or batch run: a batch row
(when, where from, model version, snapshot) and one row per decision (customer, probability, grade,
action, guardrail, original action, reasons), bulk-inserted with one ``executemany``.

Durability: the write commits before the response is sent. With SQLite in WAL mode and
``synchronous=NORMAL`` a committed transaction survives ``kill -9`` of the service (it is in the WAL,
which the next open replays); ``FULL`` also survives a power cut, at one fsync per commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

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


@dataclass(frozen=True)
class DecisionBatch:
    """What one request or batch run decided: its context and one column per decision field."""

    source: str
    tenant: str
    model_version: str
    snapshot_id: str | None
    as_of: str | None
    decision_day: str
    columns: dict[str, Any]  # DECISION_COLUMNS -> sequence (reasons as reason_1..3)
    request_id: str | None = None

    def __len__(self) -> int:
        return len(self.columns["status"])


def _sqlite_pragmas(synchronous: str):
    def on_connect(dbapi_connection, _record) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")  # several workers share one file: wait, never fail
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def open_engine(url: str, *, synchronous: str = "NORMAL") -> Engine:
    """An engine for `url`; SQLite files get their folder created and WAL + `synchronous` pragmas."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        sa.event.listen(engine, "connect", _sqlite_pragmas(synchronous))
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


def _column(values: Any) -> list:
    """A column as a Python list with NaN -> None (numpy scalars become Python ones)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f":
            return np.where(np.isnan(values), None, values).tolist()
        return values.tolist()
    return list(values)


class DecisionLog:
    """Write and read the audit trail (one engine; thread-safe through its connection pool)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert_batch = batches.insert()
        keys = ["batch_id", *DECISION_COLUMNS]
        # SQLite: compiled once, executemany straight on the driver (a Core execute with 10,000 parameter
        # dicts spends more time processing them than SQLite spends inserting); PostgreSQL: COPY
        self._rows_sql = str(decisions.insert().compile(dialect=engine.dialect, column_keys=keys))
        self._positional = engine.dialect.paramstyle in ("qmark", "numeric", "format")

    @classmethod
    def open(cls, url: str, *, synchronous: str = "NORMAL") -> DecisionLog:
        engine = open_engine(url, synchronous=synchronous)
        migrate(engine)
        return cls(engine)

    def record(self, batch: DecisionBatch, *, now: dt.datetime | None = None) -> int:
        """Store `batch` in one transaction (committed on return); returns its batch id."""
        cols = {name: _column(batch.columns[name]) for name in DECISION_COLUMNS}
        n = len(cols["status"])
        guarded = sum(g is not None for g in cols["guardrail"])
        with self.engine.begin() as conn:
            batch_id = conn.execute(
                self._insert_batch,
                {
                    "decided_at": now or dt.datetime.now(dt.UTC),
                    "source": batch.source,
                    "request_id": batch.request_id,
                    "tenant": batch.tenant,
                    "model_version": str(batch.model_version),
                    "snapshot_id": batch.snapshot_id,
                    "as_of": batch.as_of,
                    "decision_day": batch.decision_day,
                    "count": n,
                    "guarded": guarded,
                },
            ).inserted_primary_key[0]
            if n:
                rows = list(zip([batch_id] * n, *cols.values(), strict=True))
                self._insert(conn, rows)
        return int(batch_id)

    def _insert(self, conn: sa.Connection, rows: list[tuple]) -> None:
        """Bulk insert of decision rows in the caller's transaction, the fastest way the driver offers."""
        keys = ("batch_id", *DECISION_COLUMNS)
        if self.engine.dialect.driver == "psycopg":  # PostgreSQL (psycopg 3): COPY, ~2x executemany
            cursor = conn.connection.cursor()
            with cursor.copy(f"COPY decisions ({', '.join(keys)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif self._positional:  # SQLite: executemany straight on the driver
            conn.exec_driver_sql(self._rows_sql, rows)
        else:  # any other driver: Core (insertmanyvalues batches the rows)
            conn.execute(decisions.insert(), [dict(zip(keys, row, strict=True)) for row in rows])

    def for_customer(self, customer_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The decisions served for `customer_id`, newest first, each with its batch's context."""
        query = (
            sa.select(
                decisions.c.id.label("decision_id"),
                batches.c.id.label("batch_id"),
                batches.c.decided_at,
                batches.c.source,
                batches.c.request_id,
                batches.c.tenant,
                batches.c.model_version,
                batches.c.snapshot_id,
                batches.c.as_of,
                batches.c.decision_day,
                *(decisions.c[name] for name in DECISION_COLUMNS),
            )
            .join(batches, decisions.c.batch_id == batches.c.id)
            .where(decisions.c.customer_id == customer_id)
            .order_by(decisions.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            decided = row["decided_at"]
            if decided.tzinfo is None:  # SQLite hands back naive UTC
                decided = decided.replace(tzinfo=dt.UTC)
            row["decided_at"] = decided.isoformat()
            row["reasons"] = [row.pop("reason_1"), row.pop("reason_2"), row.pop("reason_3")]
        return rows

    def guarded_share(self, batch_id: int) -> float:
        """Share of a batch's decisions a guardrail changed."""
        with self.engine.connect() as conn:
            count, guarded = conn.execute(
                sa.select(batches.c.count, batches.c.guarded).where(batches.c.id == batch_id)
            ).one()
        return guarded / count if count else 0.0

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()
