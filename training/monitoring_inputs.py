"""Input data quality over time: contract rejection rates per table (pure core, one defensive reader).

Two sources, both optional:

- the :class:`features.io.LoadReport` of the monitor's own load (rows read and quarantined per table): the
  current period's rates;
- the rejected-row files the loaders leave under the tenant's quarantine folder. Layouts read: the flat
  ``<quarantine>/<table>.rejected.csv`` and one folder per run ``<quarantine>/<run_id>/<table>.rejected.csv``
  (any depth). A file that cannot be read is skipped with a warning: monitoring must not fail on it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)
SUFFIX = ".rejected.csv"


def rejection_rates(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    """Per table: ``table``, ``rows_in``, ``quarantined``, ``rejection_rate`` (quarantined / rows_in, 0 when empty).

    `counts` is :attr:`features.io.LoadReport.counts` (``{table: {"in": n, "accepted": a, "quarantined": q}}``).
    """
    rows = [
        {"table": t, "rows_in": int(c.get("in", 0)), "quarantined": int(c.get("quarantined", 0))}
        for t, c in sorted(counts.items())
    ]
    out = pd.DataFrame(rows, columns=["table", "rows_in", "quarantined"])
    rate = out["quarantined"] / out["rows_in"].where(out["rows_in"] > 0)
    return out.assign(rejection_rate=rate.fillna(0.0).astype(float))


def _count_rows(path: Path) -> int | None:
    try:
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)  # header line
    except OSError as err:
        logger.warning("quarantine file %s unreadable (%s); skipped", path, err)
        return None


def quarantine_history(folder: Path | None) -> pd.DataFrame:
    """Rejected rows per (``run``, ``table``) found under `folder`, with the file's ``modified_at`` (UTC).

    ``run`` is the folder path below `folder` (``"-"`` for the flat layout). Empty when nothing is there.
    Rows are counted as lines minus the header (a value holding a line break would count twice: a rate
    indicator, not an audit figure)."""
    columns = ["run", "table", "rejected_rows", "modified_at"]
    if folder is None or not Path(folder).is_dir():
        return pd.DataFrame(columns=columns)
    rows = []
    for path in sorted(Path(folder).rglob(f"*{SUFFIX}")):
        n = _count_rows(path)
        if n is None:
            continue
        run = str(path.parent.relative_to(folder)) if path.parent != Path(folder) else "-"
        stamp = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
        rows.append({"run": run, "table": path.name.removesuffix(SUFFIX), "rejected_rows": n, "modified_at": stamp})
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["modified_at", "table"], kind="stable", ignore_index=True)
