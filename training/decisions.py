"""The decision audit trail: every arrears decision served (API or batch run), in a real database.

SQLite by default (``<var>/decisions.db``, WAL), PostgreSQL when ``METERWISE_DATABASE_URL`` says so; the
schema is owned by Alembic migrations (``training/decisions_migrations/``, version table
``meterwise_decisions_version`` so that it never meets MLflow's own ``alembic_version`` in a shared
database). Written through SQLAlchemy Core, one transaction per request or batch run: a batch row
(when, where from, model version, snapshot) and one row per decision (customer, probability, grade,
action, guardrail, original action, reasons), bulk-inserted with one ``executemany``.

Large batches (``defer_rows``, the API's batches of thousands) are committed as **one** payload row: the
batch row carries its decisions as JSON rows (``payload``) and ``pending = true``. A background indexer
explodes pending payloads into ``decisions`` rows (SQLite does it inside the database with ``json_each``,
off the GIL), and every reader explodes what is still pending before it reads, so an acknowledged
decision is never missing from a query, in this process or any other sharing the database. Explosion goes
in chunks of ``EXPLODE_CHUNK`` rows, each claimed by one ``UPDATE ... WHERE exploded = k`` in its own
transaction (two processes never explode a row twice), and a foreground write waiting on the process's
write lock goes first: SQLite has one writer, so a request waits for at most one chunk, never a batch.

Durability: the write commits before the response is sent. With SQLite in WAL mode and
``synchronous=NORMAL`` a committed transaction survives ``kill -9`` of the service (it is in the WAL,
which the next open replays); ``FULL`` also survives a power cut, at one fsync per commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from training.decisions_sqlite import SqliteWriter, explode_sql, sqlite_pragmas

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
    sa.Column("payload", sa.Text),  # JSON rows (DECISION_COLUMNS order) of a batch not yet exploded; else NULL
    sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("exploded", sa.Integer, nullable=False, server_default="0"),  # payload rows already in decisions
    sa.Index("ix_batches_pending", "pending"),
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


def _column(values: Any) -> list:
    """A column as a Python list with NaN -> None (numpy scalars become Python ones)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f":
            return np.where(np.isnan(values), None, values).tolist()
        return values.tolist()
    return list(values)


EXPLODE_CHUNK = 500  # rows per explode transaction (~3 ms of SQLite's single writer)


class DecisionLog:
    """Write and read the audit trail (one engine; thread-safe through its connection pool).

    `defer_rows`: batches of more rows are stored as one payload row and exploded in the background
    (None: never; batch jobs write their rows directly)."""

    def __init__(self, engine: Engine, *, defer_rows: int | None = None, synchronous: str = "NORMAL"):
        self.engine = engine
        self.defer_rows = defer_rows
        self._insert_batch = batches.insert()
        keys = ["batch_id", *DECISION_COLUMNS]
        # SQLite: compiled once, executemany straight on the driver (a Core execute with 10,000 parameter
        # dicts spends more time processing them than SQLite spends inserting); PostgreSQL: COPY
        self._rows_sql = str(decisions.insert().compile(dialect=engine.dialect, column_keys=keys))
        self._positional = engine.dialect.paramstyle in ("qmark", "numeric", "format")
        lean = SqliteWriter.usable(engine)  # SQLite files: the request path writes straight on sqlite3
        self._sqlite = SqliteWriter(engine, batches, self._rows_sql, synchronous) if lean else None
        self._explode_lock = threading.Lock()  # one exploder per process
        self._write_lock = threading.Lock()  # one writer per process (SQLite has one anyway)
        self._waiting = 0  # foreground writers waiting for the write lock: the exploder yields to them
        self._wake = threading.Event()
        self._indexer: threading.Thread | None = None
        self._closed = False

    @classmethod
    def open(cls, url: str, *, synchronous: str = "NORMAL", defer_rows: int | None = None) -> DecisionLog:
        engine = open_engine(url, synchronous=synchronous)
        migrate(engine)
        return cls(engine, defer_rows=defer_rows, synchronous=synchronous)

    def record(self, batch: DecisionBatch, *, now: dt.datetime | None = None) -> int:
        """Store `batch` in one transaction (committed on return); returns its batch id."""
        cols = {name: _column(batch.columns[name]) for name in DECISION_COLUMNS}
        n = len(cols["status"])
        if len({len(v) for v in cols.values()}) > 1:
            raise ValueError(f"decision columns of different lengths: { {k: len(v) for k, v in cols.items()} }")
        guarded = n - cols["guardrail"].count(None)
        defer = self.defer_rows is not None and n > self.defer_rows
        row = {
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
            "payload": orjson.dumps(list(zip(*cols.values(), strict=True))).decode() if defer else None,
            "pending": defer,
            "exploded": 0,
        }

        def rows_of(batch_id: int) -> list[tuple]:
            return [] if defer or not n else list(zip([batch_id] * n, *cols.values(), strict=True))

        with self._writing(foreground=True):
            if self._sqlite is not None:  # the request path: straight on sqlite3 (~30 us, not ~150 us)
                batch_id = self._sqlite.write(row, rows_of)
            else:
                with self.engine.begin() as conn:
                    batch_id = conn.execute(self._insert_batch, row).inserted_primary_key[0]
                    if rows := rows_of(batch_id):
                        self._insert(conn, rows)
        if defer:
            self._wake_indexer()
        return int(batch_id)

    def _wake_indexer(self) -> None:
        if self._indexer is None or not self._indexer.is_alive():
            self._indexer = threading.Thread(target=self._index_loop, name="decision-indexer", daemon=True)
            self._indexer.start()
        self._wake.set()

    def _index_loop(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            try:
                self.explode_pending()
            except Exception:  # the payloads stay pending: the next reader or wake-up explodes them
                logger.exception("audit indexer: exploding pending batches failed")

    def explode_pending(self) -> int:
        """Explode every pending batch payload into decision rows (one transaction each); returns how many."""
        done = 0
        with self._explode_lock:
            with self.engine.connect() as conn:
                pending = conn.execute(
                    sa.select(batches.c.id).where(batches.c.pending == sa.true()).order_by(batches.c.id)
                ).scalars()
                ids = list(pending)
            for batch_id in ids:
                done += self._explode(int(batch_id))
        return done

    @contextmanager
    def _writing(self, *, foreground: bool = False):
        """The process's write lock; the exploder waits while a foreground writer is queued."""
        if foreground:
            self._waiting += 1
        else:
            while self._waiting:
                time.sleep(0.0005)
        try:
            with self._write_lock:
                yield
        finally:
            if foreground:
                self._waiting -= 1

    def _explode(self, batch_id: int) -> int:
        """Explode one pending batch, chunk by chunk; 1 when this process finished it."""
        state = sa.select(batches.c.exploded, batches.c.count).where(
            batches.c.id == batch_id, batches.c.pending == sa.true()
        )
        while True:
            with self.engine.connect() as conn:
                row = conn.execute(state).first()
            if row is None:
                return 0  # done, by this process or another
            start, count = int(row.exploded), int(row.count)
            stop = min(count, start + EXPLODE_CHUNK) if self.engine.dialect.name == "sqlite" else count
            with self._writing(), self.engine.begin() as conn:
                claim = sa.update(batches).where(
                    batches.c.id == batch_id, batches.c.pending == sa.true(), batches.c.exploded == start
                )  # the first statement writes: the transaction holds the write lock from here on
                if conn.execute(claim.values(exploded=stop, pending=stop < count)).rowcount != 1:
                    continue  # another process took this chunk: read the state again
                payload = conn.execute(sa.select(batches.c.payload).where(batches.c.id == batch_id)).scalar_one()
                if self.engine.dialect.name == "sqlite":  # inside SQLite: C code, the GIL released
                    conn.exec_driver_sql(explode_sql(DECISION_COLUMNS), (batch_id, payload, start, stop))
                else:
                    rows = [(batch_id, *row) for row in orjson.loads(payload)[start:stop]]
                    if rows:
                        self._insert(conn, rows)
                if stop >= count:
                    conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(payload=None))
                    return 1

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
        self.explode_pending()
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
        """Decision rows stored (pending payloads exploded first)."""
        self.explode_pending()
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one())

    def close(self) -> None:
        """Stop the indexer, explode what is still pending (best effort: a later reader would), dispose."""
        self._closed = True
        self._wake.set()
        if self._indexer is not None:
            self._indexer.join(timeout=10)
        try:
            self.explode_pending()
        except Exception:
            logger.warning("audit log closed with batches still pending (the next reader explodes them)")
        if self._sqlite is not None:
            self._sqlite.close()
        self.engine.dispose()
