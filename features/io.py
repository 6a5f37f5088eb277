"""Read and write tenant tables and feature snapshots: the I/O edge of ``features``.

A tenant is a folder holding one file per table, ``<table>.parquet`` or ``<table>.csv`` (``.csv.gz``
too). :func:`load_tenant` reads every table present (:mod:`features.reading`), checks each against its
contract and the links between them, and returns validated frames. Each load is one run with an id
(:mod:`features.quarantine`): with ``quarantine_dir`` set, bad rows are written to
``<quarantine_dir>/<run_id>/<table>.rejected.csv`` with their source file, line and reasons, beside the run's
summary, and the :class:`LoadReport` accounts for every input row (accepted + quarantined = read).

A header-only file is an empty table: an error for ``customers``, ``readings`` and ``bills`` (nothing can be
built without them), a warning for the others (a tenant may have no payments or weather yet).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features import failures as failures_of
from features.contracts import TABLES, Validated, check_references, validate
from features.errors import ContractViolation
from features.quarantine import LoadReport, new_run_id, run_logging, write_rejected, write_summary
from features.reading import SUFFIXES, RawTable, malformed_failures, read_parquet, read_raw

logger = logging.getLogger(__name__)

REQUIRED = ("customers", "readings", "bills", "payments")
#: tables that must hold rows: a header-only file of one of them is an error, of another a warning
NON_EMPTY = ("customers", "readings", "bills")
__all__ = ["SUFFIXES", "LoadReport", "check_file", "file_hash", "find_table", "frame_hash", "load_tenant", "read_table"]


def find_table(data_dir: Path, table: str) -> Path | None:
    """The file holding `table` in `data_dir`, or None."""
    for suffix in SUFFIXES:
        path = Path(data_dir) / f"{table}{suffix}"
        if path.exists():
            return path
    return None


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file as exported, without coercion (the contract parses and coerces)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        return read_parquet(path)
    return read_raw(path.name.split(".")[0], path).frame


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (first 16 hex digits), logged to MLflow as the data snapshot hash."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def frame_hash(df: pd.DataFrame) -> str:
    """Order-sensitive content hash of a DataFrame (first 16 hex digits)."""
    values = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(values.tobytes() + ",".join(df.columns).encode()).hexdigest()[:16]


def load_tenant(
    data_dir: Path,
    *,
    now: pd.Timestamp | None = None,
    quarantine_dir: Path | None = None,
    tables: tuple[str, ...] | None = None,
    run_id: str | None = None,
) -> tuple[dict[str, pd.DataFrame], LoadReport]:
    """Read and validate every table of a tenant.

    Parameters
    ----------
    quarantine_dir : Path, optional
        The tenant's quarantine folder; bad rows then go to ``<quarantine_dir>/<run_id>/`` and the load goes on.
    run_id : str, optional
        Id of this run (default: a new one); it names the quarantine folder and prefixes every log line.

    Raises
    ------
    FileNotFoundError
        A required table (customers, readings, bills, payments) is missing.
    ContractViolation
        Without `quarantine_dir`, on the first table with bad rows (all its bad cells listed, by line for a
        CSV), or on broken references between tables; always for a file no row of which can be read (empty,
        wrong separator, missing columns, header only for customers, readings or bills).
    """
    data_dir = Path(data_dir)
    wanted = tables or TABLES
    report = LoadReport(run_id=run_id or new_run_id())
    with run_logging(report.run_id):
        return _load(data_dir, wanted, report, now=now, quarantine_dir=quarantine_dir, explicit=tables is not None)


def _load(
    data_dir: Path, wanted: tuple[str, ...], report: LoadReport, *, now, quarantine_dir: Path | None, explicit: bool
) -> tuple[dict[str, pd.DataFrame], LoadReport]:
    run_dir = None if quarantine_dir is None else Path(quarantine_dir) / report.run_id
    report.quarantine_dir = None if run_dir is None else str(run_dir)
    out: dict[str, pd.DataFrame] = {}
    sources: dict[str, Path] = {}
    positions: dict[str, np.ndarray] = {}
    lines: dict[str, np.ndarray | None] = {}
    for table in wanted:
        path = find_table(data_dir, table)
        if path is None:
            if table in REQUIRED and not explicit:
                raise FileNotFoundError(f"{data_dir}: no {table} file (looked for {table}{{{','.join(SUFFIXES)}}})")
            continue
        raw, result = check_file(table, path, now=now, quarantine=run_dir is not None, report=report)
        out[table], sources[table], positions[table], lines[table] = (
            result.accepted,
            path,
            result.positions,
            raw.lines,
        )
        report.hashes[table] = file_hash(path)
        report.add(table, result.rows_in, len(result.accepted), len(result.rejected))
        report.add_reasons(table, result.failures)
        if len(result.rejected):
            rejected = result.rejected.assign(source=str(path))
            if "line" not in rejected:
                rejected["line"] = _line_of(raw.lines, rejected["row"])
            report.quarantine_files[table] = str(write_rejected(run_dir, table, rejected))
            logger.warning("%s: %d rows quarantined to %s", table, len(rejected), report.quarantine_files[table])
    _enforce_references(out, sources, positions, lines, report, run_dir)
    for table, counts in report.counts.items():  # debug: every job loads the tables; commands show counts once
        logger.debug(
            "%s: %d rows read, %d accepted, %d quarantined",
            table,
            counts["in"],
            counts["accepted"],
            counts["quarantined"],
        )
    if run_dir is not None:
        write_summary(run_dir, report, source=str(data_dir))
        logger.info("summary written to %s", run_dir)
    return out, report


def check_file(
    table: str,
    path: Path,
    *,
    now: pd.Timestamp | None = None,
    quarantine: bool = False,
    report: LoadReport | None = None,
) -> tuple[RawTable, Validated]:
    """Read one table file as written and check it against its contract (the file, as :func:`load_tenant` does).

    Returns the file as read and the outcome; bad cells are named by CSV line (or Parquet row). Raises
    :class:`ContractViolation` as :func:`load_tenant` does, before any reference check.
    """
    report = report or LoadReport()
    raw = read_raw(table, path)
    _check_not_empty(table, path, raw, report)
    return raw, _validate(table, raw, now=now, quarantine=quarantine, source=str(path))


def _line_of(lines: np.ndarray | None, rows: pd.Series) -> np.ndarray:
    """1-based line in a CSV (header is line 1), row position in a Parquet file."""
    rows = rows.to_numpy(dtype="int64")
    return rows if lines is None else lines[rows]


def _check_not_empty(table: str, path: Path, raw: RawTable, report: LoadReport) -> None:
    if raw.rows_in:
        return
    if table in NON_EMPTY:
        failures = failures_of.table_level(
            [(None, "empty_table", None, f"the file has a header but no rows: {table} must hold at least one row")]
        )
        raise ContractViolation(table, failures, source=str(path))
    report.warnings.append(f"{table}: {path} has no rows")
    logger.warning("%s: %s has a header but no rows; going on without any", table, path)


def _validate(table: str, raw: RawTable, *, now, quarantine: bool, source: str) -> Validated:
    """:func:`validate` on the parsed rows, with the file's malformed lines as failures (or quarantined rows)."""
    if raw.malformed.empty:
        return validate(table, raw.frame, now=now, quarantine=quarantine, source=source, lines=raw.lines)
    broken = malformed_failures(raw.malformed, raw.frame.shape[1])
    if not quarantine:
        raise ContractViolation(table, broken, source=source)
    result = validate(table, raw.frame, now=now, quarantine=True, source=source, lines=raw.lines)
    rejected = result.rejected.assign(line=_line_of(raw.lines, result.rejected["row"]))
    apart = pd.DataFrame(
        {
            "line": raw.malformed["line"].to_numpy(dtype="int64"),
            "raw_text": raw.malformed["text"].to_numpy(),
            "reasons": "<line>: field_count (" + broken["hint"] + ")",
        }
    )
    rejected = pd.concat([rejected, apart], ignore_index=True).sort_values("line", kind="stable")
    failures = pd.concat([result.failures, broken], ignore_index=True)
    return Validated(table, result.accepted, rejected.reset_index(drop=True), raw.rows_in, result.positions, failures)


def _enforce_references(
    out: dict[str, pd.DataFrame],
    sources: dict[str, Path],
    positions: dict[str, np.ndarray],
    lines: dict[str, np.ndarray | None],
    report: LoadReport,
    run_dir: Path | None,
) -> None:
    failures = check_references(out)
    if failures.empty:
        return
    # report rows as positions in the file, not in the already-filtered frame
    failures["row"] = [positions[t][r] for t, r in zip(failures["table"], failures["row"], strict=True)]
    failures["line"] = [
        r if lines[t] is None else lines[t][r] for t, r in zip(failures["table"], failures["row"], strict=True)
    ]
    if run_dir is None:
        table = failures["table"].iloc[0]
        raise ContractViolation(
            "references",
            failures.drop(columns="table").assign(column=failures["table"] + "." + failures["column"]),
            source=str(sources.get(table, "")),
        )
    for table, fails in failures.groupby("table", sort=False):
        df, pos = out[table], positions[table]
        is_bad = pd.Index(pos).isin(fails["row"].unique())
        reasons = failures_of.reasons_by_row(fails.assign(row=fails["row"].astype("int64")))
        rejected = df.loc[is_bad].assign(row=pos[is_bad], source=str(sources[table]))
        rejected["reasons"] = reasons.reindex(rejected["row"]).to_numpy()
        rejected["line"] = _line_of(lines[table], rejected["row"])
        out[table] = df.loc[~is_bad].reset_index(drop=True)
        positions[table] = pos[~is_bad]
        previous = report.counts[table]
        report.add(table, previous["in"], len(out[table]), previous["quarantined"] + len(rejected))
        report.add_reasons(table, fails)
        report.quarantine_files[table] = str(write_rejected(run_dir, table, rejected, append=True))
        logger.warning("%s: %d more rows quarantined (references)", table, len(rejected))


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet (zstd) or CSV by suffix, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".parquet"):
        df.to_parquet(path, index=False, compression="zstd")
    else:
        df.to_csv(path, index=False)
    return path
