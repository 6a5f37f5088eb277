"""Answers by id, computed live: one runtime scores one feature snapshot, cached per (model version, snapshot).

A runtime keeps a :class:`LiveCache` holding the :class:`LiveScores` of the snapshot it last scored. A
reload installs a new runtime (with an empty cache) and a newer snapshot has a new id, so either one
changes the answers at the next request, with no batch job in between. The scores of the whole snapshot
come from one vectorised model call; reasons (about 90 predictions' worth each) are computed for the
rows a request asks for and kept, so each customer's reasons are computed once per (version, snapshot).

Status per row: ``ok``, ``unknown_customer`` (not in the snapshot) or ``insufficient_features`` (the
snapshot row has nothing the model can use: every feature missing, or the kind's data flag is False,
e.g. ``has_bills`` for arrears); insufficient rows carry nulls, never a made-up score.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from serving.gil import yielding_gil
from serving.snapshots import Snapshot
from training.threads import lower_thread_priority
from training.tree_contrib import MIN_ROWS

logger = logging.getLogger(__name__)
OK, UNKNOWN, INSUFFICIENT = "ok", "unknown_customer", "insufficient_features"
STATUSES = (OK, UNKNOWN, INSUFFICIENT)
#: rows per warm-up step: from this size reasons take the grouped TreeSHAP path (:mod:`training.tree_contrib`),
#: 3-4x less CPU per row than 256-row steps on a large snapshot
WARM_CHUNK = MIN_ROWS


def row_status(usable: np.ndarray) -> np.ndarray:
    """``ok`` / ``insufficient_features`` per row (object array)."""
    if usable.all():
        return np.full(len(usable), OK, dtype=object)
    return np.where(usable, OK, INSUFFICIENT).astype(object)


def status_counts(status: np.ndarray) -> dict[str, int]:
    return {s: int(np.count_nonzero(status == s)) for s in STATUSES}


def usable_counts(usable: np.ndarray) -> dict[str, int]:
    """Status counts of rows that are all known (features supplied): ok or insufficient."""
    ok = int(np.count_nonzero(usable))
    return {OK: ok, UNKNOWN: 0, INSUFFICIENT: len(usable) - ok}


@dataclass
class LiveScores:
    """One runtime's answers for every customer of one snapshot (row ``i`` = ``snapshot.index[i]``).

    ``columns`` hold the model outputs (NaN / None where the row is insufficient). ``reasons`` fills in
    lazily through ``explain(rows) -> (len(rows), 3) object array``.
    """

    version: str
    snapshot: Snapshot
    columns: dict[str, np.ndarray]
    usable: np.ndarray
    explain: Callable[[np.ndarray], np.ndarray] | None = None
    reasons: np.ndarray | None = None
    _explained: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.explain is not None:
            n = len(self.usable)
            self.reasons = np.full((n, 3), None, dtype=object)
            self._explained = ~self.usable  # insufficient rows keep null reasons

    @property
    def snapshot_id(self) -> str:
        return self.snapshot.id

    @property
    def as_of(self) -> str | None:
        return self.snapshot.as_of

    def take(self, name: str, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        out = self.columns[name].take(pos)
        if not known.all():
            out[~known] = np.nan if out.dtype.kind == "f" else None
        return out

    def status(self, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        return np.where(known, np.where(self.usable.take(pos), OK, INSUFFICIENT), UNKNOWN).astype(object)

    def unexplained(self, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Distinct positions among `pos` whose reasons are not computed yet."""
        if self._explained is None:
            return np.zeros(0, dtype=np.intp)
        return np.unique(pos[known & ~self._explained.take(pos)])

    def pending(self, ids: list[str]) -> bool:
        """Whether any of `ids` still lacks its reasons."""
        if self._explained is None:
            return False
        pos, known = self.snapshot.lookup(ids)
        return bool((known & ~self._explained.take(pos)).any())

    def warm(self, chunk: int = WARM_CHUNK) -> None:
        """Compute every missing reason, `chunk` rows at a time (run in a background thread, handing the
        GIL back to the event loop often: :func:`~serving.gil.yielding_gil`)."""
        if self._explained is None or self.explain is None or self.reasons is None:
            return
        todo = np.flatnonzero(~self._explained)
        with yielding_gil():
            for start in range(0, len(todo), chunk):
                rows = todo[start : start + chunk]
                rows = rows[~self._explained[rows]]
                if len(rows):
                    self.reasons[rows] = self.explain(rows)
                    self._explained[rows] = True
        logger.info("live reasons v%s on snapshot %s: %d computed", self.version, self.snapshot.id, len(todo))

    def reasons_of(self, pos: int) -> list[str | None]:
        """Reasons of the one customer at `pos` (computed now if they are not cached yet)."""
        if self._explained is not None and self._explained[pos] and self.reasons is not None:
            return self.reasons[pos].tolist()
        return self.reasons_at(np.array([pos]), np.array([True]))[0].tolist()

    def reasons_at(self, pos: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Reasons of the rows at `pos` ((m, 3) object array; null rows for unknown ids), computing the
        ones not computed yet in one call."""
        if self.reasons is None or self._explained is None or self.explain is None:
            return np.full((len(pos), 3), None, dtype=object)
        todo = self.unexplained(pos, known)
        if len(todo):  # no lock: two requests racing for one row compute the same words twice, harmlessly
            self.reasons[todo] = self.explain(todo)
            self._explained[todo] = True
        out = self.reasons.take(pos, axis=0)
        if not known.all():
            out[~known] = None
        return out


class LiveCache:
    """The :class:`LiveScores` of the last snapshot a runtime scored; rebuilt when the snapshot changes."""

    def __init__(self, warm_reasons: bool = True) -> None:
        self.warm_reasons = warm_reasons
        self.warm_nice: int | None = None  # the last warm-up thread's nice value (Linux)
        self._warming: threading.Thread | None = None
        self._scores: LiveScores | None = None
        self._key: str | None = None
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], LiveScores]) -> LiveScores:
        """The scores cached under `key` (the snapshot id, plus the versions of any model they combine),
        else ``build()`` them and keep them in place of the previous ones."""
        scores = self._scores
        if scores is not None and self._key == key:
            return scores
        with self._lock:  # one request builds; concurrent ones wait and reuse it
            scores = self._scores
            if scores is None or self._key != key:
                scores = build()
                snapshot = scores.snapshot
                logger.info(
                    "live scores v%s on snapshot %s: %d customers, %d usable",
                    scores.version,
                    snapshot.id,
                    len(scores.usable),
                    int(scores.usable.sum()),
                )
                if self.warm_reasons and scores.explain is not None:
                    self._warming = threading.Thread(
                        target=self._warm, args=(scores,), name="warm-reasons", daemon=True
                    )
                    self._warming.start()
            self._scores, self._key = scores, key
            return scores

    def _warm(self, scores: LiveScores) -> None:
        """The warm-up thread: below the request path's OS priority (mostly LightGBM's TreeSHAP with the GIL
        released, which on a 2-core box took a core from the requests served during a reload)."""
        self.warm_nice = lower_thread_priority()
        scores.warm()

    def wait_warm(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the reasons warm-up of the last build; True when none runs now."""
        thread = self._warming
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def describe(self) -> dict[str, str | int | None] | None:
        scores = self._scores
        if scores is None:
            return None
        explained = scores._explained
        return {
            "snapshot_id": scores.snapshot_id,
            "as_of": scores.as_of,
            "customers": len(scores.usable),
            "usable": int(scores.usable.sum()),
            "reasons_computed": None if explained is None else int((explained & scores.usable).sum()),
        }

    def cached(self, key: str) -> LiveScores | None:
        """The scores cached under `key`, or None (nothing is computed)."""
        return self._scores if self._key == key else None
