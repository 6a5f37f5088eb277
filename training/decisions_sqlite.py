"""SQLite specifics of the audit trail: connection pragmas, the lean writer of the request path, the exploder.

A single decision written through SQLAlchemy Core costs about 150 us (pool checkout, compiled-statement
bookkeeping, commit); the same two inserts and commit straight on a ``sqlite3`` connection cost about 30 us,
and the audit write sits on every arrears answer. :class:`SqliteWriter` therefore keeps one ``sqlite3``
connection per thread (same file, same pragmas as the engine's), statements compiled once by SQLAlchemy for
this dialect, and the column types' own bind processors (so a row reads back through SQLAlchemy exactly as
one it wrote). Readers, migrations and the exploder stay on the SQLAlchemy engine. WAL checkpoints (copying
the log into the database file, with an fsync) are left to the audit log's background thread
(:meth:`SqliteWriter.checkpoint`), not to whichever request's commit crosses SQLite's threshold.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: WAL pages past which a request's own commit checkpoints (SQLite's default is 1,000, about 4 MB: a
#: checkpoint, fsync included, inside a commit stalled every request waiting on the event loop for ~5 ms);
#: the audit log's background thread checkpoints long before that (:data:`training.decisions.CHECKPOINT_S`)
CHECKPOINT_PAGES = 16_000
# a payload chunk (batch id, JSON array of rows) into decision rows, inside SQLite (JSON1)
EXPLODE_SQL = "INSERT INTO decisions (batch_id, {names}) SELECT ?, {values} FROM json_each(?)"


def sqlite_pragmas(synchronous: str):
    """A connect hook: WAL, `synchronous`, a busy timeout shared by workers, foreign keys."""

    def on_connect(dbapi_connection, _record=None) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")  # several workers share one file: wait, never fail
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def explode_sql(columns: Sequence[str]) -> str:
    values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
    return EXPLODE_SQL.format(names=", ".join(columns), values=values)


class SqliteWriter:
    """One batch row and its decision rows in one transaction, straight on a per-thread ``sqlite3``
    connection. Thread-safe: each thread has its own connection (the caller serialises writers)."""

    def __init__(self, engine: Engine, batches: sa.Table, synchronous: str):
        self.database = engine.url.database
        self.synchronous = synchronous
        keys = [c.name for c in batches.columns if c.name != "id"]
        compiled = batches.insert().compile(dialect=engine.dialect, column_keys=keys)
        self.batch_sql, self.order = str(compiled), list(compiled.positiontup)
        dialect = engine.dialect
        self.processors = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in batches.columns}
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @staticmethod
    def usable(engine: Engine) -> bool:
        return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False, timeout=10)
            sqlite_pragmas(self.synchronous)(con)
            con.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")  # the background checkpoints first
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def write_many(self, items: list[tuple[dict[str, Any], Any]]) -> list[int]:
        """For each ``(batch, inserts)``: insert `batch` (column -> value), then each ``(sql, rows)`` of
        ``inserts(batch_id)``; one commit for all. Their batch ids, in order."""
        con = self._connection()
        con.execute("BEGIN")
        try:
            ids = []
            for batch, inserts in items:
                batch_id = con.execute(self.batch_sql, self._params(batch)).lastrowid
                for sql, rows in inserts(batch_id):
                    con.executemany(sql, rows)
                ids.append(int(batch_id))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return ids

    def _params(self, batch: dict[str, Any]) -> tuple:
        return tuple(
            batch[k] if (proc := self.processors[k]) is None or batch[k] is None else proc(batch[k]) for k in self.order
        )

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database file on this thread's connection; PASSIVE: it never waits for a
        writer nor blocks one. ``(busy, wal frames, frames checkpointed)``."""
        busy, frames, done = self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(done)

    def close(self) -> None:
        with self._lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()
