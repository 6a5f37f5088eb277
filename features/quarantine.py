"""Quarantine runs: a run id, the rejected rows of one load, and its summary (read / accepted / quarantined).

Each load of a tenant is one run with its own id and folder, so runs never mix and every count is this run's::

    <var_dir>/quarantine/<tenant>/<run_id>/<table>.rejected.csv   bad rows as written, with source, line, reasons
    <var_dir>/quarantine/<tenant>/<run_id>/summary.csv            per table: read, accepted, quarantined
    <var_dir>/quarantine/<tenant>/<run_id>/reasons.csv            per table and reason: rows quarantined
    <var_dir>/quarantine/<tenant>/<run_id>/summary.json           both, with the run id and the source folder

Run ids sort by time (``20261128T090102Z-3f9a1c``), and every log line of the run carries it (:func:`run_logging`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["table", "read", "accepted", "quarantined"]
REASON_COLUMNS = ["table", "column", "check", "rows"]


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by start time: UTC second plus 6 random hex digits."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


#: loggers whose lines carry the run id during a load (:func:`run_logging`)
RUN_LOGGERS = (
    "features.io",
    "features.reading",
    "features.parsing",
    "features.contracts",
    "features.quarantine",
    "features.quality_report",
    "features.cli",
    "training.quality_run",
)


class _RunFilter(logging.Filter):
    """Prefixes a record's message with ``[run <id>]`` (once)."""

    def __init__(self, run_id: str):
        super().__init__()
        self.prefix = f"[run {run_id}] "

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("[run "):
            record.msg = self.prefix + str(record.msg)
        return True


@contextlib.contextmanager
def run_logging(run_id: str, names: tuple[str, ...] = RUN_LOGGERS) -> Iterator[None]:
    """Within the block, every line of the `names` loggers starts with ``[run <run_id>]``, so a run's lines can
    be told apart in a shared log. Nested blocks keep the outer run's id."""
    loggers = [logging.getLogger(n) for n in names]
    added = [(lg, _RunFilter(run_id)) for lg in loggers if not any(isinstance(f, _RunFilter) for f in lg.filters)]
    for lg, f in added:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg, f in added:
            lg.removeFilter(f)


@dataclass
class LoadReport:
    """Row accounting for one load (one run): per table, rows read, accepted and quarantined, and why."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    quarantine_files: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=new_run_id)
    quarantine_dir: str | None = None
    reasons: list[dict] = field(default_factory=list)  # table, column, check, rows
    warnings: list[str] = field(default_factory=list)

    def add(self, table: str, rows_in: int, accepted: int, quarantined: int) -> None:
        if accepted + quarantined != rows_in:  # the invariant every loader keeps
            raise AssertionError(f"{table}: {accepted} + {quarantined} != {rows_in}")
        self.counts[table] = {"in": rows_in, "accepted": accepted, "quarantined": quarantined}

    def add_reasons(self, table: str, failures: pd.DataFrame | None) -> None:
        """Count the rows failing each (column, check) of `table` (a row with two reasons counts in both)."""
        if failures is None or failures.empty:
            return
        line = failures["line"].astype(str) if "line" in failures else ""
        key = failures.assign(
            column=failures["column"].astype(object).where(failures["column"].notna(), "<row>"),
            unit=failures["row"].astype(str) + "|" + line,
        )
        counted = key.groupby(["column", "check"], sort=True)["unit"].nunique()
        self.reasons += [{"table": table, "column": c, "check": k, "rows": int(n)} for (c, k), n in counted.items()]

    @property
    def quarantined(self) -> int:
        return sum(c["quarantined"] for c in self.counts.values())

    def summary(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per table: read / accepted / quarantined, per table and reason: rows)."""
        tables = pd.DataFrame(
            [
                {"table": t, "read": c["in"], "accepted": c["accepted"], "quarantined": c["quarantined"]}
                for t, c in self.counts.items()
            ],
            columns=SUMMARY_COLUMNS,
        )
        return tables, pd.DataFrame(self.reasons, columns=REASON_COLUMNS)


def format_summary(report: LoadReport) -> str:
    """The run's summary as two plain-text tables, for a terminal."""
    tables, reasons = report.summary()
    text = f"run {report.run_id}\n{tables.to_string(index=False)}"
    if not reasons.empty:
        text += f"\n\nquarantined rows per reason\n{reasons.to_string(index=False)}"
    if report.quarantine_dir:
        text += f"\n\nquarantine: {report.quarantine_dir}"
    return text


def write_rejected(folder: Path, table: str, rejected: pd.DataFrame, *, append: bool = False) -> Path:
    """Write (or extend) ``<folder>/<table>.rejected.csv``; columns of both passes are aligned."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}.rejected.csv"
    if append and path.exists():  # the reference pass has other columns than the contract pass
        previous = pd.read_csv(path, dtype=str, keep_default_na=False)
        rejected = pd.concat([previous, rejected.astype(object)], ignore_index=True)
    rejected.to_csv(path, index=False)
    return path


def write_summary(folder: Path, report: LoadReport, *, source: str) -> Path:
    """Write ``summary.csv``, ``reasons.csv`` and ``summary.json`` of the run into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables, reasons = report.summary()
    tables.to_csv(folder / "summary.csv", index=False)
    reasons.to_csv(folder / "reasons.csv", index=False)
    payload = {
        "run_id": report.run_id,
        "source": source,
        "tables": tables.to_dict("records"),
        "reasons": reasons.to_dict("records"),
        "quarantine_files": report.quarantine_files,
        "warnings": report.warnings,
    }
    (folder / "summary.json").write_text(json.dumps(payload, indent=2, default=int))
    return folder
