"""OS scheduling priority of background threads that run beside the request path (pure).

On Linux a thread has its own nice value, so a background thread can step back without slowing the
process's other threads. Two such threads run in the API process: the audit trail's payload indexer
(:class:`training.decisions.DecisionLog`) and the reasons warm-up after a model or snapshot change
(:meth:`serving.live.LiveCache.get`). Both spend most of their time in C code with the GIL released
(SQLite, LightGBM's TreeSHAP), so on a box with few cores they competed with request handling for a core.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 10  # how far below the process a background thread runs: requests come first


def lower_thread_priority(step: int = BACKGROUND_NICE) -> int | None:
    """Lower the calling thread's OS scheduling priority by `step`; its new nice value, or None where that
    is not possible (not Linux, where PRIO_PROCESS would lower the whole process; or refused)."""
    if sys.platform != "linux":
        return None
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + step)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None
