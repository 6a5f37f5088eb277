"""The decision audit trail: every arrears decision served (API or batch run), in a real database.

SQLite by default (``<var>/decisions.db``, WAL), PostgreSQL when ``METERWISE_DATABASE_URL`` says so; the
schema is owned by Alembic migrations (``training/decisions_migrations/``, version table
``meterwise_decisions_version`` so that it never meets MLflow's own ``alembic_version`` in a shared
database). One transaction per request or batch run (SQLite files: straight on ``sqlite3``, see
:mod:`training.decisions_sqlite`; PostgreSQL: SQLAlchemy Core and COPY): a batch row (when, where from,
model version, snapshot) and one row per decision (customer, probability, grade, action, guardrail,
original action, reasons).

Large batches (``defer_rows``, the API's batches of thousands) are committed as a batch row marked
``pending`` plus a few payload rows (``decision_payloads``: the decisions as JSON arrays, ``CHUNK_ROWS``
per row), in the same one transaction before the reply. A background indexer explodes each payload row
into ``decisions`` rows in its own transaction (SQLite does it inside the database with ``json_each``, off
the GIL); the claim is the ``DELETE ... RETURNING`` of that payload row, so two processes never explode a
chunk twice. Every reader explodes what is still pending before it reads, so an acknowledged decision is
never missing from a query, in this process or any other sharing the database. SQLite has one writer: the
indexer works only after ``IDLE_S`` without a request's write (unless the backlog is large or a reader
waits), and a request's write queued on the process's write lock goes before the next chunk, so a request
waits for at most one chunk (about a millisecond), never a batch.

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
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from training.decisions_schema import (  # noqa: F401 (re-exported: the audit trail's one import)
    DECISION_COLUMNS,
    MIGRATIONS,
    VERSION_TABLE,
    batches,
    decisions,
    metadata,
    migrate,
    open_engine,
    payloads,
)
from training.decisions_sqlite import SqliteWriter, explode_sql
from training.threads import BACKGROUND_NICE, lower_thread_priority

logger = logging.getLogger(__name__)


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


def _chunks(batch_id: int, cols: dict[str, list]) -> list[tuple[int, int, str]]:
    """(batch id, chunk, JSON array of CHUNK_ROWS decision rows) per chunk of the batch."""
    rows = list(zip(*cols.values(), strict=True))
    return [
        (batch_id, k, orjson.dumps(rows[i : i + CHUNK_ROWS]).decode())
        for k, i in enumerate(range(0, len(rows), CHUNK_ROWS))
    ]


def _column(values: Any) -> list:
    """A column as a Python list with NaN -> None (numpy scalars become Python ones)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f":
            return np.where(np.isnan(values), None, values).tolist()
        return values.tolist()
    return list(values)


CHUNK_ROWS = 200  # decision rows per payload row, exploded in one transaction (~1 ms of SQLite's one writer)
IDLE_S = 0.02  # the background indexer explodes a chunk only after this long without a request's write...
MAX_BACKLOG_CHUNKS = 2_000  # ...unless this many chunks (400,000 decisions) wait: then it keeps up regardless
CHECKPOINT_S = 1.0  # SQLite: the background thread checkpoints the WAL at most this often, after writes
INDEXER_NICE = BACKGROUND_NICE  # the indexer thread's OS priority below the process's (Linux): requests come first


class DecisionLog:
    """Write and read the audit trail (one engine; thread-safe through its connection pool).

    `defer_rows`: batches of more rows are stored as payload chunks and exploded in the background
    (None: never; batch jobs write their rows directly)."""

    def __init__(self, engine: Engine, *, defer_rows: int | None = None, synchronous: str = "NORMAL"):
        self.engine = engine
        self.defer_rows = defer_rows
        self._insert_batch = batches.insert()
        keys = ["batch_id", *DECISION_COLUMNS]
        # SQLite: compiled once, executemany straight on the driver (a Core execute with 10,000 parameter
        # dicts spends more time processing them than SQLite spends inserting); PostgreSQL: COPY
        self._rows_sql = str(decisions.insert().compile(dialect=engine.dialect, column_keys=keys))
        self._payload_sql = str(payloads.insert().compile(dialect=engine.dialect))
        self._positional = engine.dialect.paramstyle in ("qmark", "numeric", "format")
        lean = SqliteWriter.usable(engine)  # SQLite files: the request path writes straight on sqlite3
        self._sqlite = SqliteWriter(engine, batches, synchronous) if lean else None
        self._explode_lock = threading.Lock()  # one exploder per process
        self._write_lock = threading.Lock()  # one writer per process (SQLite has one anyway)
        self._waiting = 0  # foreground writers waiting for the write lock: the exploder yields to them
        self._last_write = 0.0  # monotonic time of the last foreground write
        self._readers = 0  # readers waiting to explode (they never wait for a pause)
        self._backlog = 0  # payload chunks this process committed and nobody exploded yet
        self._counting = threading.Lock()  # the three counters are updated from several threads
        self._wake = threading.Event()
        self._indexer: threading.Thread | None = None
        self.indexer_nice: int | None = None  # the indexer thread's nice value once it runs (Linux)
        self._checkpointed = time.monotonic()  # SQLite: when the background last checkpointed the WAL
        self._checkpoint_due = False
        self._closed = False

    @classmethod
    def open(cls, url: str, *, synchronous: str = "NORMAL", defer_rows: int | None = None) -> DecisionLog:
        engine = open_engine(url, synchronous=synchronous)
        migrate(engine)
        return cls(engine, defer_rows=defer_rows, synchronous=synchronous)

    def record(self, batch: DecisionBatch, *, now: dt.datetime | None = None) -> int:
        """Store `batch` in one transaction (committed on return); returns its batch id."""
        return self.record_many([(batch, now)])[0]

    def record_many(self, items: list[tuple[DecisionBatch, dt.datetime | None]]) -> list[int]:
        """Store several ``(batch, decided_at)`` in one transaction (committed on return, all or none);
        their batch ids, in order. The API commits the answers of one event-loop turn this way."""
        prepared = [self._prepare(batch, now) for batch, now in items]
        with self._writing(foreground=True):
            if self._sqlite is not None:  # the request path: straight on sqlite3 (~30 us, not ~150 us)
                ids = self._sqlite.write_many([(row, inserts) for row, inserts, _ in prepared])
            else:
                ids = []
                with self.engine.begin() as conn:
                    for row, inserts, _ in prepared:
                        batch_id = conn.execute(self._insert_batch, row).inserted_primary_key[0]
                        for sql, rows in inserts(batch_id):
                            if sql is self._rows_sql:
                                self._insert(conn, rows)
                            else:  # a few payload chunks
                                keys = ("batch_id", "chunk", "rows")
                                conn.execute(payloads.insert(), [dict(zip(keys, r, strict=True)) for r in rows])
                        ids.append(int(batch_id))
        chunks = sum(-(-n // CHUNK_ROWS) for _, _, n in prepared if n)
        if chunks:
            self._count("_backlog", chunks)
        due = self._sqlite is not None and time.monotonic() - self._checkpointed >= CHECKPOINT_S
        if due:
            self._checkpointed, self._checkpoint_due = time.monotonic(), True
        if chunks or due:
            self._wake_indexer()
        return [int(i) for i in ids]

    def _prepare(self, batch: DecisionBatch, now: dt.datetime | None) -> tuple[dict, Any, int]:
        """The batch row, ``inserts(batch_id)`` (its payload chunks or its decision rows) and the number of
        rows left to the exploder (0 when they are written at once)."""
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
            "pending": defer,
        }

        def inserts(batch_id: int) -> list[tuple[str, list[tuple]]]:
            """What goes in with the batch row: its payload chunks, or its decision rows."""
            if defer:
                return [(self._payload_sql, _chunks(batch_id, cols))]
            return [(self._rows_sql, list(zip([batch_id] * n, *cols.values(), strict=True)))] if n else []

        return row, inserts, n if defer else 0

    def _wake_indexer(self) -> None:
        if self._indexer is None or not self._indexer.is_alive():
            self._indexer = threading.Thread(target=self._index_loop, name="decision-indexer", daemon=True)
            self._indexer.start()
        self._wake.set()

    def _index_loop(self) -> None:
        self.indexer_nice = lower_thread_priority(INDEXER_NICE)
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            try:
                if self._backlog:  # chunks this process deferred (a checkpoint wake-up alone explodes nothing)
                    self.explode_pending(background=True)
            except Exception:  # the payloads stay pending: the next reader or wake-up explodes them
                logger.exception("audit indexer: exploding pending batches failed")
            if self._checkpoint_due and self._sqlite is not None:
                self._checkpoint_due = False
                try:
                    self._sqlite.checkpoint()
                except Exception:  # the next one (or a commit past CHECKPOINT_PAGES) does it
                    logger.exception("audit indexer: WAL checkpoint failed")

    def explode_pending(self, *, background: bool = False) -> int:
        """Explode every pending batch payload into decision rows (one transaction per chunk); returns how
        many batches this call finished. `background` (the indexer): each chunk waits for a pause in the
        request path's writes (``IDLE_S``) unless the backlog passed ``MAX_BACKLOG_CHUNKS``; a reader
        (`background` False) explodes at once."""
        done = 0
        if not background:
            self._count("_readers", 1)  # the indexer stops waiting for a pause: a reader is queued behind it
        try:
            with self._explode_lock:
                done = self._explode_all(background)
        finally:
            if not background:
                self._count("_readers", -1)
        return done

    def _explode_all(self, background: bool) -> int:
        with self.engine.connect() as conn:
            query = sa.select(batches.c.id).where(batches.c.pending == sa.true()).order_by(batches.c.id)
            ids = list(conn.execute(query).scalars())
        return sum(self._explode(int(batch_id), background) for batch_id in ids)

    def _count(self, name: str, step: int) -> None:
        """Add `step` to counter `name` (never below 0); ``+=`` from two threads could lose an update and
        leave the exploder, and every reader behind it, waiting on a writer that is gone."""
        with self._counting:
            setattr(self, name, max(0, getattr(self, name) + step))

    @contextmanager
    def _writing(self, *, foreground: bool = False, background: bool = False):
        """The process's write lock. The exploder waits while a foreground writer is queued, and in the
        `background` also for ``IDLE_S`` without a foreground write (bounded by the backlog)."""
        if foreground:
            self._count("_waiting", 1)
        else:
            while self._waiting or (
                background
                and self._backlog < MAX_BACKLOG_CHUNKS
                and not self._readers
                and time.monotonic() - self._last_write < IDLE_S
                and not self._closed
            ):
                time.sleep(min(IDLE_S / 4, 0.001))
        try:
            with self._write_lock:
                yield
        finally:
            if foreground:
                self._count("_waiting", -1)
                self._last_write = time.monotonic()

    def _explode(self, batch_id: int, background: bool = False) -> int:
        """Explode the payload chunks of one pending batch, one transaction each; 1 when it is done."""
        with self.engine.connect() as conn:
            chunks = list(
                conn.execute(
                    sa.select(payloads.c.chunk).where(payloads.c.batch_id == batch_id).order_by(payloads.c.chunk)
                ).scalars()
            )
        for chunk in chunks:
            with self._writing(background=background), self.engine.begin() as conn:
                claim = (
                    sa.delete(payloads)
                    .where(payloads.c.batch_id == batch_id, payloads.c.chunk == chunk)
                    .returning(payloads.c.rows)
                )  # the first statement writes: the transaction holds the write lock from here on
                rows = conn.execute(claim).scalar_one_or_none()
                self._count("_backlog", -1)
                if rows is None:
                    continue  # another process exploded this chunk
                if self.engine.dialect.name == "sqlite":  # inside SQLite: C code, the GIL released
                    conn.exec_driver_sql(explode_sql(DECISION_COLUMNS), (batch_id, rows))
                else:
                    self._insert(conn, [(batch_id, *row) for row in orjson.loads(rows)])
        with self._writing(), self.engine.begin() as conn:
            left = sa.exists().where(payloads.c.batch_id == batch_id)
            done = sa.update(batches).where(batches.c.id == batch_id, batches.c.pending == sa.true(), ~left)
            return conn.execute(done.values(pending=False)).rowcount

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
