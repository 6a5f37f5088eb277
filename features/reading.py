"""Read one exported table file as written: CSV cells as text with their source lines, Parquet as stored.

CSV files are read by Arrow's multi-threaded reader with every column as text (the contract parses them, see
:mod:`features.parsing`), so a value is reported exactly as written. Before reading, the first line is checked
so that the usual export mistakes get one clear message with a hint instead of a parser error:

- an empty file (no header line);
- a separator other than ``,`` (``;`` or a tab, as spreadsheet exports in many locales write);
- a UTF-16 file (a UTF-8 byte-order mark is fine and skipped);
- a line with more or fewer fields than the header (a decimal comma in an unquoted number, a stray
  separator): such lines are kept apart as *malformed* with their line number and text, so they can be
  quarantined like any bad row.

Line numbers: the header is line 1 and each record is one line (a quoted field spanning lines shifts the
count, as in any line-based tool).
"""

from __future__ import annotations

import csv
import gzip
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from features import failures as failures_of
from features.errors import ContractViolation

logger = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".csv", ".csv.gz")
#: bytes per block handed to each reading thread
BLOCK_BYTES = 8 << 20


@dataclass
class RawTable:
    """One file as read: the frame, the source line of each row (None for Parquet) and malformed lines."""

    frame: pd.DataFrame
    lines: np.ndarray | None
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"line": [], "text": []}))

    @property
    def rows_in(self) -> int:
        """Records in the file: parsed rows plus malformed lines."""
        return len(self.frame) + len(self.malformed)


def _problem(table: str, path: Path, check: str, hint: str, column: str | None = None) -> ContractViolation:
    return ContractViolation(table, failures_of.table_level([(column, check, None, hint)]), source=str(path))


def _first_line(path: Path) -> bytes:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return fh.readline(1 << 16)


def _header(table: str, path: Path) -> list[str]:
    """Column names from the first line, or a clear error for an empty, non-UTF-8 or non-comma file."""
    first = _first_line(path)
    if not first.strip():
        raise _problem(
            table, path, "empty_file", "the file is empty: export the table with a header line of column names"
        )
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _problem(table, path, "encoding", "the file is UTF-16: save it as UTF-8 (CSV UTF-8)")
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    names = next(csv.reader([text]))
    if len(names) == 1:
        for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in text:
                raise _problem(
                    table,
                    path,
                    "separator",
                    f"the header is separated by {label} ({text[:60]!r}): export with ',' as the separator "
                    "and '.' as the decimal mark",
                )
    return names


def read_csv(table: str, path: Path) -> RawTable:
    """Every column as text (empty cells null), each row's source line, and the malformed lines apart."""
    names = _header(table, Path(path))
    bad: list[tuple[int | None, str]] = []

    def keep_apart(row: pv.InvalidRow) -> str:
        bad.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pv.read_csv(
            path,
            read_options=pv.ReadOptions(use_threads=threads, block_size=BLOCK_BYTES),
            parse_options=pv.ParseOptions(invalid_row_handler=keep_apart),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    arrow = read(True)
    if any(number is None for number, _ in bad):  # line numbers are known only to a single-threaded read
        bad.clear()
        arrow = read(False)
    frame = arrow.to_pandas(split_blocks=True, self_destruct=True)
    del arrow
    malformed = pd.DataFrame({"line": [n for n, _ in bad], "text": [t for _, t in bad]}, dtype=object)
    lines = _record_lines(len(frame), np.asarray([n for n, _ in bad], dtype="int64"))
    if len(frame) == 0 and malformed.empty:
        logger.warning("%s: header only, no rows", path)
    return RawTable(frame, lines, malformed)


def _record_lines(n_rows: int, malformed_lines: np.ndarray) -> np.ndarray:
    """The 1-based line of each parsed row: lines 2, 3, ... skipping the malformed ones."""
    if not len(malformed_lines):
        return np.arange(2, n_rows + 2, dtype="int64")
    candidates = np.arange(2, n_rows + len(malformed_lines) + 2, dtype="int64")
    return np.setdiff1d(candidates, malformed_lines, assume_unique=True)[:n_rows]


def read_parquet(path: Path) -> pd.DataFrame:
    """Parquet -> pandas, freeing each Arrow column once converted, then handing Arrow's freed memory back
    to the OS: otherwise its allocator keeps it and a big readings file is carried twice (~0.7 GiB per
    36.5 million daily readings).

    Dictionary-encoded text columns (pandas categoricals as written) are decoded in Arrow: the contracts
    read text as strings, and converting a categorical to strings in pandas makes a Python object per row
    (about 3 s per 18 million readings, against 0.4 s here)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for i, column in enumerate(table.schema):
        kind = column.type
        if pa.types.is_dictionary(kind) and (
            pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
        ):
            table = table.set_column(i, column.name, table.column(i).cast(kind.value_type))
    df = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    pa.default_memory_pool().release_unused()
    return df


def read_raw(table: str, path: Path) -> RawTable:
    """One table file as written (see the module docstring)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        try:
            return RawTable(read_parquet(path), None)
        except (pa.ArrowInvalid, OSError) as err:
            hint = f"not a readable Parquet file ({str(err)[:120]}): export it again, or as CSV"
            raise _problem(table, path, "parquet_file", hint) from None
    if path.name.endswith((".csv", ".csv.gz")):
        return read_csv(table, path)
    raise ValueError(f"{path}: unsupported file type; expected one of {SUFFIXES}")


def malformed_failures(malformed: pd.DataFrame, n_fields: int) -> pd.DataFrame:
    """One failure per malformed line: no parsed row (``row`` null), its ``line`` and text as ``value``."""
    hint = f"expected {n_fields} fields: quote values holding a comma (a decimal comma such as 6,5 must be written 6.5)"
    out = pd.DataFrame(
        {
            "row": pd.array([pd.NA] * len(malformed), dtype="Int64"),
            "column": None,
            "check": "field_count",
            "value": malformed["text"].astype(object).to_numpy(),
            "hint": hint,
            "line": pd.array(malformed["line"].to_numpy(dtype="int64"), dtype="Int64"),
        }
    )
    return out
