"""Back-pressure: a cap on batch rows in flight (503 ``overloaded``) and per-route deadlines (504).

Both protect the two CPU-bound things the service does: scoring big batches and reloading models.
A refused or timed-out request costs the client one retry, never the process its memory.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from serving.errors import Overloaded


class BatchGate:
    """Admits batch work while the rows in flight stay within `max_rows`.

    One request is always admitted when nothing else is in flight, so a single batch of
    ``max_batch`` rows never starves; concurrent requests beyond the cap get :class:`Overloaded`.
    """

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def admit(self, rows: int) -> Iterator[None]:
        with self._lock:
            if self._in_flight and self._in_flight + rows > self.max_rows:
                raise Overloaded(rows, self._in_flight, self.max_rows)
            self._in_flight += rows
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= rows


def deadline_for(path: str, default_s: float, overrides: dict[str, float]) -> float:
    """Deadline of a request path: the longest override whose prefix matches, else `default_s`."""
    best = None
    for prefix, seconds in overrides.items():
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, seconds)
    return best[1] if best else default_s
