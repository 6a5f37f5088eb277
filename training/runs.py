"""Run bookkeeping without MLflow: who owns a run (host, pid), which code made it, and when it is orphaned.

:class:`training.registry.Registry` tags every run with :func:`owner_tags` and, when a training run
starts, marks ``FAILED`` the ``RUNNING`` runs that :func:`orphaned` says no live process owns.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

OWNER_HOST, OWNER_PID = "meterwise.host", "meterwise.pid"
ORPHAN_AFTER_S = 24 * 3600  # a RUNNING run without owner tags counts as orphaned after this long


def code_version() -> str:
    """git commit of the working tree (``+dirty`` when it has changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
        return sha.stdout.strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def owner_tags() -> dict[str, str]:
    """Tags naming this process as a run's owner."""
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def orphaned(tags: dict[str, str], start_time_ms: int | None, *, now_ms: int | None = None) -> bool:
    """Whether a ``RUNNING`` run has no live owner.

    True when its ``meterwise.host`` is this host and its ``meterwise.pid`` is not alive (or is this very
    process, which is not inside that run), or when it has no owner tags and started more than
    :data:`ORPHAN_AFTER_S` ago. Another host's run is never orphaned from here: it may be alive.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if OWNER_PID in tags:
        if tags.get(OWNER_HOST) != socket.gethostname():
            return False
        pid = int(tags[OWNER_PID])
        return pid == os.getpid() or not pid_alive(pid)
    started = now_ms if start_time_ms is None else start_time_ms
    return now_ms - started >= ORPHAN_AFTER_S * 1000
