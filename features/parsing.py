"""Parse exported cells into the contract's types, naming every cell that does not parse (vectorised).

A CSV export arrives as text. Each contract column has one of four kinds: a calendar ``date`` (``*_date``,
timezone-naive), a UTC instant (``*_at``, an offset is required), a ``number`` (float64) or ``text``. Cells are
parsed with Arrow casts chunk by chunk; a chunk that fails is split in halves until the failing slices are
small, and only those slices are parsed cell by cell (with Arrow's regex and cast kernels, no Python loop over
rows). A clean column therefore costs one cast, and a column with a hundred bad cells among millions costs
barely more: pandas' ``errors="coerce"`` path or pandera's dtype coercion would fall back to a per-element
path for the whole column (145 s instead of 6 s on 10 million readings).

A bad cell is one whose raw text is not empty (nor a null token such as ``NA``) but does not parse; it is
reported with its row, column, the check that failed, the raw value as written and a hint saying what to write
instead. Empty cells parse to null, so the contract's ``not_nullable`` check names them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

#: texts read as "no value" in a typed column (besides the empty cell)
NULL_TOKENS = ("NA", "N/A", "NaN", "nan", "NULL", "null", "None", "NaT", "#N/A")
#: a failing slice at most this long is parsed cell by cell; longer ones are split in halves
LEAF_ROWS = 32
#: cells cast at once; a chunk holding a bad cell is re-parsed by regex, so smaller chunks cost less per bad cell
CHUNK_ROWS = 1 << 13
#: failing leaves bisected per chunk before the chunk is parsed by regex instead (many bad cells)
MAX_LEAVES = 16

_OFFSET = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
_DAY_FIRST = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
_DECIMAL_COMMA = r"^\s*[+-]?\d{1,3}([. ]?\d{3})*,\d+\s*$"
_CURRENCY = r"[£$€¥₹]|\b(?:EUR|GBP|USD|CNY|RMB)\b"

HINTS = {
    "date_format": "write calendar dates as YYYY-MM-DD (ISO 8601), e.g. 2012-12-31",
    "date_day_first": "day/month order is ambiguous: write dates as YYYY-MM-DD, e.g. 2012-12-31",
    "date_has_offset": "a *_date column holds calendar days: drop the time zone offset (write 2012-12-31)",
    "timestamp_format": "write timestamps in ISO 8601 with an offset, e.g. 2012-12-31T08:00:00Z",
    "timestamp_without_timezone": "*_at columns are UTC instants: add the offset, e.g. 2012-12-31T08:00:00+00:00 "
    "(every value of the column, not only some)",
    "number_format": "write a plain number with '.' as the decimal mark, e.g. 12.5",
    "number_decimal_comma": "decimal comma: write 6.5, not 6,5 ('.' is the decimal mark)",
    "number_currency": "drop the currency sign and thousands separators: write the bare amount, e.g. 6.50",
}


@dataclass(frozen=True)
class Parsed:
    """One parsed column: typed values (nulls where a cell did not parse) and the bad cells."""

    values: pd.Series
    bad_rows: np.ndarray  # int64 positions of cells that did not parse
    bad_raw: list  # their raw values, as written
    checks: np.ndarray  # the failed check of each bad cell (a key of HINTS)


def column_kind(dtype: object) -> str:
    """Kind of a pandera column dtype: ``date``, ``utc``, ``number`` or ``text``."""
    name = str(dtype)
    if name.startswith("datetime64"):
        return "utc" if "UTC" in name else "date"
    if name.startswith(("float", "int")):
        return "number"
    return "text"


def _arrow_type(kind: str) -> pa.DataType:
    return {"date": pa.timestamp("ns"), "utc": pa.timestamp("ns", tz="UTC"), "number": pa.float64()}[kind]


def _typed_fast(series: pd.Series, kind: str) -> pd.Series | None:
    """`series` already of the right type (Parquet, in-memory frames): converted without parsing, else None."""
    dtype = series.dtype
    if kind == "number" and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return series.astype("float64")
    if kind in ("date", "utc") and isinstance(dtype, pd.DatetimeTZDtype):
        out = series.dt.tz_convert("UTC")
        return (out if kind == "utc" else out.dt.tz_localize(None)).astype(_pandas_dtype(kind))
    if kind in ("date", "utc") and pd.api.types.is_datetime64_dtype(dtype):
        out = series.astype("datetime64[ns]")
        return out.dt.tz_localize("UTC") if kind == "utc" else out
    if pd.api.types.is_object_dtype(dtype) and len(series):  # Python Timestamps or floats, or one odd value
        try:
            if kind == "number":
                return _typed_fast(pd.to_numeric(series, errors="raise"), kind)
            if series.map(type).isin([pd.Timestamp]).all():
                return _typed_fast(pd.to_datetime(series, utc=kind == "utc"), kind)
        except (ValueError, TypeError):
            return None
    return None


def _pandas_dtype(kind: str) -> str:
    return {"date": "datetime64[ns]", "utc": "datetime64[ns, UTC]", "number": "float64"}[kind]


def _as_text(series: pd.Series) -> pa.ChunkedArray:
    """The column as Arrow strings (nulls kept), without copying when it already is Arrow text."""
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    text = series.astype("string")  # mixed Python objects: str() of each value, nulls kept
    return pa.chunked_array([pa.array(text, type=pa.string(), from_pandas=True)])


_TIME = r"([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?"
#: text that Arrow's cast to the kind's type accepts (a value matching it that still fails is found by bisection)
VALID = {
    "number": r"(?i)^[+-]?((\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$",
    "date": rf"^\d{{4}}-\d{{2}}-\d{{2}}{_TIME}$",
    "utc": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$",
}


def _nulls(text: pa.Array) -> pa.Array:
    """True where a cell holds no value: null, empty, or a null token such as ``NA``."""
    token = pc.is_in(text, value_set=pa.array(NULL_TOKENS)) if len(text) else pa.array([], pa.bool_())
    return pc.fill_null(pc.or_(pc.equal(text, ""), token), True)


def _cast_cells(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    """Cell by cell, for a small slice only: (typed array, bool mask of cells that did not parse)."""
    target, out, bad = _arrow_type(kind), [], np.zeros(len(arr), dtype=bool)
    for i, cell in enumerate(arr.to_pylist()):  # at most LEAF_ROWS cells, only in a slice holding a bad cell
        cell = None if cell is None or cell.strip() in ("", *NULL_TOKENS) else cell.strip()
        try:
            out.append(None if cell is None else pc.cast(pa.array([cell], pa.string()), target)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out.append(None)
            bad[i] = True
    return pa.array(out, type=target), bad


class _Dense(Exception):
    """Too many failing slices in one chunk: parse it by regex instead of bisecting further."""


def _bisect(arr: pa.Array, kind: str, budget: list[int]) -> tuple[pa.Array, np.ndarray]:
    """Cast, splitting a failing slice in halves down to :data:`LEAF_ROWS` cells (at most `budget` leaves)."""
    try:
        return pc.cast(arr, _arrow_type(kind)), np.zeros(len(arr), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(arr) <= LEAF_ROWS:
            budget[0] -= 1
            if budget[0] < 0:
                raise _Dense from None
            return _cast_cells(arr, kind)
    half = len(arr) // 2
    (left, lbad), (right, rbad) = _bisect(arr.slice(0, half), kind, budget), _bisect(arr.slice(half), kind, budget)
    return pa.concat_arrays([left, right]), np.concatenate([lbad, rbad])


def _cast_chunk(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray | None]:
    """Cast one chunk (mask None when clean). A failing chunk is bisected down to its few bad cells (a cast costs
    less than a regex); a chunk with many bad cells is parsed by regex, then bisected for what the regex let by."""
    target = _arrow_type(kind)
    try:
        return pc.cast(arr, target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        half = len(arr) // 2  # the whole chunk just failed: start with its halves
        (left, lbad), (right, rbad) = (
            _bisect(arr.slice(0, half), kind, budget := [MAX_LEAVES]),
            _bisect(arr.slice(half), kind, budget),
        )
        return pa.concat_arrays([left, right]), np.concatenate([lbad, rbad])
    except _Dense:
        pass
    text = pc.utf8_trim_whitespace(arr)
    empty = _nulls(text)
    valid = pc.and_(pc.fill_null(pc.match_substring_regex(text, VALID[kind]), False), pc.invert(empty))
    kept = pc.if_else(valid, text, pa.scalar(None, pa.string()))
    typed, bad = _bisect(kept, kind, [len(arr)])  # a value the regex lets through that Arrow refuses (2012-02-30)
    bad |= ~(valid.to_numpy(zero_copy_only=False) | empty.to_numpy(zero_copy_only=False))
    return typed, bad


def _classify(raw: pd.Series, kind: str) -> np.ndarray:
    """The failed check of each bad raw value: a key of :data:`HINTS` (vectorised over the bad cells only)."""
    text = raw.astype(str).str.strip()
    if kind == "number":
        out = np.where(text.str.contains(_CURRENCY, regex=True), "number_currency", "number_format")
        return np.where(text.str.match(_DECIMAL_COMMA), "number_decimal_comma", out)
    has_offset = text.str.contains(_OFFSET, regex=True) & ~text.str.match(_DATE_ONLY)
    if kind == "utc":
        iso_like = text.str.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
        return np.where(iso_like & ~has_offset, "timestamp_without_timezone", "timestamp_format")
    out = np.where(text.str.match(_DAY_FIRST), "date_day_first", "date_format")
    return np.where(has_offset, "date_has_offset", out)


def _all_naive(text: pa.ChunkedArray, masks: list[np.ndarray]) -> bool:
    """True when no non-empty cell of a timestamp column carries an offset (a wholly naive export)."""
    filled = int(pc.sum(pc.invert(_nulls(text.combine_chunks()))).as_py() or 0)
    if sum(len(m) for m in masks) < filled:
        return False
    return not bool(pc.any(pc.match_substring_regex(text, _OFFSET)).as_py())


def parse_column(series: pd.Series, kind: str) -> Parsed:
    """Parse one column to `kind` (``date``, ``utc``, ``number``; ``text`` keeps strings and nulls).

    Returns the typed column (same index; bad cells null) and the bad cells with their raw values.
    """
    empty = np.array([], dtype="int64")
    if kind == "text":
        return Parsed(series, empty, [], np.array([], dtype=object))
    fast = _typed_fast(series, kind)
    if fast is not None:
        return Parsed(fast, empty, [], np.array([], dtype=object))
    text = _as_text(series)
    parts, masks, offset = [], [], 0
    for whole in text.chunks:
        for start in range(0, len(whole), CHUNK_ROWS):
            chunk = whole.slice(start, CHUNK_ROWS)
            typed, bad = _cast_chunk(chunk, kind)
            parts.append(typed)
            if bad is not None and bad.any():
                masks.append(np.flatnonzero(bad) + offset)
            offset += len(chunk)
    if kind == "utc" and masks and _all_naive(text, masks):
        logger.warning("%s: no value carries a time zone offset; read as UTC", series.name)
        date = parse_column(series, "date")
        return Parsed(date.values.dt.tz_localize("UTC"), date.bad_rows, date.bad_raw, date.checks)
    typed = pa.chunked_array(parts, type=_arrow_type(kind))
    values = pd.Series(typed.to_pandas(), index=series.index, name=series.name).astype(_pandas_dtype(kind))
    rows = np.concatenate(masks) if masks else empty
    raw = series.iloc[rows]
    return Parsed(values, rows.astype("int64"), raw.tolist(), _classify(raw, kind) if len(rows) else np.array([]))
