"""Failure frames: one row per bad cell (or bad row for a check across columns), built from every source.

A failure frame has the columns of :data:`COLUMNS`: ``row`` (0-based position in the input, nullable for a
table-level problem), ``column``, ``check``, ``value`` (the raw value as written) and ``hint`` (what to write
instead, or empty). :func:`features.io.load_tenant` adds ``line`` (the 1-based line of a CSV file, header =
line 1). Pure functions, no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandera.errors import SchemaErrors

from features.parsing import HINTS, Parsed

COLUMNS = ["row", "column", "check", "value", "hint"]
#: checks across columns: the contract column named first in the check is the one reported
ROW_CHECKS = {"multiple_fields_uniqueness": "duplicate_key"}


def empty() -> pd.DataFrame:
    """A failure frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row" else object) for c in COLUMNS})


def table_level(checks: list[tuple[str | None, str, object, str]]) -> pd.DataFrame:
    """Failures that no row can fix: ``(column, check, value, hint)`` each, with a null row."""
    out = pd.DataFrame(checks, columns=["column", "check", "value", "hint"])
    return out.assign(row=pd.array([pd.NA] * len(out), dtype="Int64"))[COLUMNS]


def from_parsing(parsed: dict[str, Parsed]) -> pd.DataFrame:
    """One failure per cell that did not parse, with its raw value and a hint."""
    parts = [
        pd.DataFrame(
            {
                "row": p.bad_rows,
                "column": column,
                "check": p.checks,
                "value": pd.Series(p.bad_raw, dtype=object),
                "hint": [HINTS[c] for c in p.checks],
            }
        )
        for column, p in parsed.items()
        if len(p.bad_rows)
    ]
    return pd.concat(parts, ignore_index=True).astype({"row": "Int64"}) if parts else empty()


def _mentioned(check: str, columns: list[str]) -> list[str]:
    """Contract columns named in a check's name, in the order they appear (``due_date >= issue_date``)."""
    found = [(check.find(c), c) for c in columns if c in check]
    return [c for _, c in sorted(found)]


def from_pandera(err: SchemaErrors, raw: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases as one failure per bad cell, and one per row for a check across columns.

    `raw` is the input as written, row for row with the frame pandera checked; values are reported as written.
    A check across columns (``due_date >= issue_date``, a duplicate key) names its first column and the values
    of the columns it compares, instead of one failure per column of the row.
    """
    fc = err.failure_cases
    index = pd.to_numeric(fc["index"], errors="coerce")
    row = index.astype("Int64").array
    out = pd.DataFrame(
        {
            "row": row,
            "column": fc["column"].astype(object).where(fc["column"].notna(), None).to_numpy(),
            "check": fc["check"].astype(str).to_numpy(),
            "value": pd.Series(fc["failure_case"].to_numpy(dtype=object), dtype=object),
            "hint": "",
        }
    )
    wide = (fc["schema_context"].eq("DataFrameSchema") & index.notna()).to_numpy()
    out = pd.concat(
        [as_written(out[~wide], raw).assign(_across=False), _row_failures(out[wide], raw).assign(_across=True)],
        ignore_index=True,
    )
    return out.sort_values("row", kind="stable", na_position="first").reset_index(drop=True)


def _row_failures(wide: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Collapse a check across columns to one failure per (row, check), valued by the compared cells as written."""
    one = wide.drop_duplicates(["row", "check"]).copy()
    columns = [str(c) for c in raw.columns]
    for check, group in one.groupby("check", sort=False):
        named = wide.loc[wide["check"] == check, "column"].dropna().unique().tolist()
        mentioned = _mentioned(check, columns)
        cols = mentioned or [c for c in columns if c in named][:3]
        picked = raw.iloc[group["row"].to_numpy(dtype="int64")][cols].astype(str)
        one.loc[group.index, "column"] = cols[0] if mentioned else ",".join(cols)  # the column to fix, or the key
        one.loc[group.index, "value"] = (
            picked.apply(lambda col: col.name + "=" + col).agg(", ".join, axis=1).to_numpy() if cols else None
        )
        one.loc[group.index, "check"] = ROW_CHECKS.get(check, check)
    return one


def drop_follow_on(later: pd.DataFrame, parsing: pd.DataFrame) -> pd.DataFrame:
    """`later` (pandera's failures) without what a cell that did not parse causes on its row: its own null, and
    every check across columns (a null date compared with another, a key holding a null). Other cells' own
    failures on that row are kept."""
    marker = later.pop("_across") if "_across" in later else pd.Series(False, index=later.index)
    if parsing.empty or later.empty:
        return later
    row = later["row"].astype("Int64")
    on_bad_row = row.isin(parsing["row"].astype("int64")).to_numpy()
    cell = pd.MultiIndex.from_arrays([row.fillna(-1).astype("int64"), later["column"].astype(str)])
    bad_cells = pd.MultiIndex.from_arrays([parsing["row"].astype("int64"), parsing["column"].astype(str)])
    drop = on_bad_row & (cell.isin(bad_cells) | marker.to_numpy(dtype=bool))
    return later[~drop].reset_index(drop=True)


def as_written(failures: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Each single-cell failure's value replaced by the cell as written in `data` (the input, before parsing)."""
    out = failures.astype({"value": object})
    known = out["row"].notna().to_numpy() & out["column"].isin(list(data.columns)).to_numpy()
    for column, group in out[known].groupby("column", sort=False):
        out.loc[group.index, "value"] = data[column].iloc[group["row"].to_numpy(dtype="int64")].to_numpy(dtype=object)
    return out


def with_lines(failures: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """`failures` with ``line``: the source line of each failure's row (null for a table-level failure)."""
    rows = failures["row"].to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(rows)
    line = np.full(len(rows), np.nan)
    line[known] = np.asarray(lines)[rows[known].astype("int64")]
    return failures.assign(line=pd.array(line, dtype="Float64").astype("Int64"))


def reasons_by_row(failures: pd.DataFrame) -> pd.Series:
    """``column: check (value=...)`` joined per row, indexed by row (rows with a failure only)."""
    column = failures["column"].astype(object).where(failures["column"].notna(), "<row>").astype(str)
    detail = column + ": " + failures["check"].astype(str) + " (value=" + failures["value"].map(repr) + ")"
    return detail.groupby(failures["row"].astype("int64").to_numpy()).agg("; ".join)
