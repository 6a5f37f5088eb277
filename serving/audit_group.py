"""Group commit of the audit trail: the answers decided in one turn of the event loop, one transaction.

Every arrears answer is stored before it is sent. Written one by one, each answer paid a ``BEGIN`` /
``COMMIT`` of its own (about a third of a by-id request's time on the event loop, and a WAL checkpoint now
and then); at 16 concurrent requests the loop decides several answers per turn. :class:`GroupCommit`
queues the records of a turn and commits them together at its end (:meth:`DecisionLog.record_many`):
each request still waits for the commit that holds its decisions, so nothing acknowledged is missing
from the trail, and a failed commit answers every request of its group 503 (none of them recorded).
A request handled alone waits one loop turn more than before (microseconds): whether others are queued
behind it is not known when it records (the loop runs each request's task up to its first wait in turn).

The routes reach it through :func:`collecting`: records made inside it are queued rather than written
(a context variable, so work running beside it, on the loop or in threads, is untouched).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

Item = tuple[Any, dt.datetime]  # (DecisionBatch, decided_at)
_QUEUED: contextvars.ContextVar[list[Item] | None] = contextvars.ContextVar("audit_queued", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[Item]]:
    """Inside the block, :func:`queue` collects records instead of letting them be written; yields them."""
    items: list[Item] = []
    token = _QUEUED.set(items)
    try:
        yield items
    finally:
        _QUEUED.reset(token)


def queue(batch: Any, now: dt.datetime) -> bool:
    """Queue `batch` when inside :func:`collecting` (True); False: the caller writes it itself."""
    items = _QUEUED.get()
    if items is None:
        return False
    items.append((batch, now))
    return True


class GroupCommit:
    """Commits the items recorded during one event-loop turn together; each caller gets its own batch id.

    The first record of a turn leads: it yields the loop once (the requests ready in this turn record
    beside it, as followers awaiting a future), then commits the group and hands each follower its id.
    `commit(items)` writes all items in one transaction and returns their ids in order (on the event loop,
    as each single commit did before); an exception it raises reaches every request of the group.
    """

    def __init__(self, commit: Callable[[list[Item]], list[int]]):
        self._commit = commit
        self._pending: list[tuple[Item, asyncio.Future | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(self, item: Item) -> int:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run one per client): nothing of the old one is pending
            self._loop, self._pending = loop, []
        if self._pending:  # a leader is collecting this turn: follow it
            future = loop.create_future()
            self._pending.append((item, future))
            return await future
        self._pending.append((item, None))
        try:
            await asyncio.sleep(0)  # one turn: the requests ready now join the group
        finally:  # even if this request is cancelled meanwhile, its followers get their commit
            group, self._pending = self._pending, []
            ids = self._commit_group(group)
        return ids[0]

    def _commit_group(self, group: list[tuple[Item, asyncio.Future | None]]) -> list[int]:
        try:
            ids = self._commit([item for item, _ in group])
        except Exception as err:  # every request of the group fails alike (none of them is recorded)
            for _, future in group[1:]:
                if not future.done():
                    future.set_exception(err)
            raise
        for (_, future), batch_id in zip(group[1:], ids[1:], strict=True):
            if not future.done():  # a request cancelled meanwhile (client gone): its record stays
                future.set_result(batch_id)
        return ids
