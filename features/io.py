"""Read and write tenant tables and feature snapshots. The only module in ``features`` touching files.

A tenant is a folder holding one file per table, ``<table>.parquet`` or ``<table>.csv`` (``.csv.gz``
too). :func:`load_tenant` reads every table present, checks each against its contract and the links
between them, and returns validated frames. With ``quarantine_dir`` set, bad rows are written to
``<quarantine_dir>/<table>.rejected.csv`` with their source file, line and reasons, and a
:class:`LoadReport` accounts for every input row (accepted + quarantined = read).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.contracts import TABLES, Validated, check_references, validate
from features.errors import ContractViolation

logger = logging.getLogger(__name__)

REQUIRED = ("customers", "readings", "bills", "payments")
SUFFIXES = (".parquet", ".csv", ".csv.gz")


@dataclass
class LoadReport:
    """Row accounting for one load: per table, rows read, accepted and quarantined."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    quarantine_files: dict[str, str] = field(default_factory=dict)

    def add(self, table: str, rows_in: int, accepted: int, quarantined: int) -> None:
        if accepted + quarantined != rows_in:  # the invariant every loader keeps
            raise AssertionError(f"{table}: {accepted} + {quarantined} != {rows_in}")
        self.counts[table] = {"in": rows_in, "accepted": accepted, "quarantined": quarantined}

    @property
    def quarantined(self) -> int:
        return sum(c["quarantined"] for c in self.counts.values())


def find_table(data_dir: Path, table: str) -> Path | None:
    """The file holding `table` in `data_dir`, or None."""
    for suffix in SUFFIXES:
        path = Path(data_dir) / f"{table}{suffix}"
        if path.exists():
            return path
    return None


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file as exported, without coercion (the contract coerces)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        return _read_parquet(path)
    if path.name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, dtype={"customer_id": str, "bill_id": str, "payment_id": str})
    raise ValueError(f"{path}: unsupported file type; expected one of {SUFFIXES}")


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet -> pandas, freeing each Arrow column once converted, then handing Arrow's freed memory back
    to the OS: otherwise its allocator keeps it and a big readings file is carried twice (~0.7 GiB per
    36.5 million daily readings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pq.read_table(path).to_pandas(self_destruct=True, split_blocks=True)
    pa.default_memory_pool().release_unused()
    return df


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


def _line_of(path: Path, rows: pd.Series) -> pd.Series:
    """1-based line in a CSV (header is line 1), row position in a Parquet file."""
    return rows + 2 if ".csv" in path.name else rows


def load_tenant(
    data_dir: Path,
    *,
    now: pd.Timestamp | None = None,
    quarantine_dir: Path | None = None,
    tables: tuple[str, ...] | None = None,
) -> tuple[dict[str, pd.DataFrame], LoadReport]:
    """Read and validate every table of a tenant.

    Raises
    ------
    FileNotFoundError
        A required table (customers, readings, bills, payments) is missing.
    ContractViolation
        Without `quarantine_dir`, on the first table with bad rows (all its bad rows listed), or on
        broken references between tables.
    """
    data_dir = Path(data_dir)
    wanted = tables or TABLES
    report = LoadReport()
    out: dict[str, pd.DataFrame] = {}
    sources: dict[str, Path] = {}
    positions: dict[str, object] = {}
    for table in wanted:
        path = find_table(data_dir, table)
        if path is None:
            if table in REQUIRED and tables is None:
                raise FileNotFoundError(f"{data_dir}: no {table} file (looked for {table}{{{','.join(SUFFIXES)}}})")
            continue
        raw = read_table(path)
        result = _validate(table, raw, now=now, quarantine=quarantine_dir is not None, source=str(path))
        out[table], sources[table], positions[table] = result.accepted, path, result.positions
        report.hashes[table] = file_hash(path)
        report.add(table, result.rows_in, len(result.accepted), len(result.rejected))
        if len(result.rejected):
            rejected = result.rejected.assign(source=str(path), line=_line_of(path, result.rejected["row"]))
            report.quarantine_files[table] = str(_write_rejected(quarantine_dir, table, rejected))
    _enforce_references(out, sources, positions, report, quarantine_dir)
    for table, counts in report.counts.items():  # debug: every job loads the tables; commands show counts once
        logger.debug(
            "%s: %d rows read, %d accepted, %d quarantined",
            table,
            counts["in"],
            counts["accepted"],
            counts["quarantined"],
        )
    return out, report


def _validate(table: str, raw: pd.DataFrame, *, now, quarantine: bool, source: str) -> Validated:
    """:func:`validate`, quarantining rows whose values cannot be coerced to the column's type first.

    A non-numeric string in a numeric CSV column makes every check of that column fail at table level;
    those rows go to quarantine (``coerce_dtype``) and the rest is validated as usual.
    """
    try:
        return validate(table, raw, now=now, quarantine=quarantine, source=source)
    except ContractViolation as err:
        f = err.failures
        uncoercible = f[f["row"].notna() & f["check"].astype(str).str.startswith("coerce_dtype")]
        if not quarantine or uncoercible.empty:
            raise
    data = raw.reset_index(drop=True)
    bad_rows = np.unique(uncoercible["row"].astype("int64").to_numpy())
    keep = np.setdiff1d(np.arange(len(data)), bad_rows)
    rest = validate(table, data.iloc[keep].reset_index(drop=True), now=now, quarantine=True, source=source)
    detail = (
        uncoercible["column"].astype(str)
        + ": "
        + uncoercible["check"]
        + " (value="
        + uncoercible["value"].map(str)
        + ")"
    )
    reasons = detail.groupby(uncoercible["row"].astype("int64").to_numpy()).agg("; ".join)
    pre = data.iloc[bad_rows].assign(row=bad_rows, reasons=reasons.reindex(bad_rows).to_numpy())
    later = rest.rejected.assign(row=keep[rest.rejected["row"].to_numpy(dtype="int64")])
    rejected = pd.concat([pre, later], ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
    return Validated(table, rest.accepted, rejected, len(data), keep[np.asarray(rest.positions, dtype="int64")])


def _enforce_references(
    out: dict[str, pd.DataFrame],
    sources: dict[str, Path],
    positions: dict[str, object],
    report: LoadReport,
    quarantine_dir: Path | None,
) -> None:
    failures = check_references(out)
    if failures.empty:
        return
    # report rows as positions in the file, not in the already-filtered frame
    failures["row"] = [positions[t][r] for t, r in zip(failures["table"], failures["row"], strict=True)]
    if quarantine_dir is None:
        table = failures["table"].iloc[0]
        raise ContractViolation(
            "references",
            failures.drop(columns="table").assign(column=failures["table"] + "." + failures["column"]),
            source=str(sources.get(table, "")),
        )
    for table, fails in failures.groupby("table", sort=False):
        df, pos = out[table], positions[table]
        bad_rows = fails["row"].unique()
        is_bad = pd.Index(pos).isin(bad_rows)
        detail = fails["column"] + ": " + fails["check"] + " (value=" + fails["value"].map(str) + ")"
        reasons = detail.groupby(fails["row"]).agg("; ".join)
        rejected = df.loc[is_bad].assign(row=pos[is_bad], source=str(sources[table]))
        rejected["reasons"] = reasons.reindex(rejected["row"]).to_numpy()
        rejected["line"] = _line_of(sources[table], rejected["row"])
        out[table] = df.loc[~is_bad].reset_index(drop=True)
        previous = report.counts[table]
        report.add(table, previous["in"], len(out[table]), previous["quarantined"] + len(rejected))
        report.quarantine_files[table] = str(_write_rejected(quarantine_dir, table, rejected, append=True))


def _write_rejected(folder: Path, table: str, rejected: pd.DataFrame, *, append: bool = False) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}.rejected.csv"
    if append and path.exists():  # align columns: the reference pass has other columns than the contract pass
        previous = pd.read_csv(path, dtype=str, keep_default_na=False)
        rejected = pd.concat([previous, rejected.astype(object)], ignore_index=True)
    rejected.to_csv(path, index=False)
    logger.warning("%s: %d rows quarantined to %s", table, len(rejected), path)
    return path


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet (zstd) or CSV by suffix, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".parquet"):
        df.to_parquet(path, index=False, compression="zstd")
    else:
        df.to_csv(path, index=False)
    return path
