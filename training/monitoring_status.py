"""Where a tenant's monitoring status lives and how to read it back (json only: the service imports this).

``<var_dir>/monitoring/<tenant>/latest.json`` is written by :func:`training.monitoring_job.write_status`
(atomically) and read by ``GET /v1/monitoring`` and the Prometheus collector through :class:`StatusFile`,
which re-reads the file only when its modification time changes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from features.settings import check_tenant

logger = logging.getLogger(__name__)
LATEST = "latest.json"
#: numeric code of each status, for Prometheus gauges
STATUS_CODE = {"unavailable": -1.0, "ok": 0.0, "warn": 1.0, "alert": 2.0}


def monitoring_dir(var_dir: Path, tenant: str) -> Path:
    """Folder of a tenant's monitoring status, history and reports: ``<var_dir>/monitoring/<tenant>/``."""
    return Path(var_dir) / "monitoring" / check_tenant(tenant)


class StatusFile:
    """The latest status of one tenant, cached until the file changes; ``None`` when there is none yet."""

    def __init__(self, var_dir: Path, tenant: str):
        self.path = monitoring_dir(var_dir, tenant) / LATEST
        self._stamp: int | None = None
        self._status: dict[str, Any] | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            self._stamp, self._status = None, None
            return None
        if stamp != self._stamp:
            try:
                self._status = json.loads(self.path.read_text())
            except (OSError, ValueError) as err:  # a half-written or hand-edited file: keep the last good one
                logger.warning("monitoring status %s unreadable (%s)", self.path, err)
                return self._status
            self._stamp = stamp
        return self._status
