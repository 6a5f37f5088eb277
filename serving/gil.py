"""Background work beside live traffic hands the GIL back often (pure).

A reload is ~100 ms of Python (unpickling, MLflow's registry queries, compiling the trees, scoring the
snapshot) in a worker thread, and after it the new champion's reasons for the whole snapshot are computed in
another (:meth:`serving.live.LiveScores.warm`: tens of milliseconds per thousand customers, mostly Python).
With CPython's 5 ms switch interval each request on the event loop can wait up to 5 ms every time it needs
the GIL back from such a thread, so requests served during a swap or a warm-up stalled for 10-25 ms. While
either runs, the interval is :data:`RELOAD_SWITCH_INTERVAL_S`.
"""

from __future__ import annotations

import contextlib
import sys
import threading

RELOAD_SWITCH_INTERVAL_S = 0.0001  # while a model loads beside live traffic (CPython's default: 0.005)
_yielding = 0
_yielding_lock = threading.Lock()
_default_interval = sys.getswitchinterval()


@contextlib.contextmanager
def yielding_gil(interval: float = RELOAD_SWITCH_INTERVAL_S):
    """Make threads hand the GIL over every `interval` seconds while the block runs.

    Restored when the last concurrent block ends."""
    global _yielding
    with _yielding_lock:
        if _yielding == 0:
            sys.setswitchinterval(min(interval, _default_interval))
        _yielding += 1
    try:
        yield
    finally:
        with _yielding_lock:
            _yielding -= 1
            if _yielding == 0:
                sys.setswitchinterval(_default_interval)
