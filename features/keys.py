"""Key columns, fast: whether a multi-column key is unique, and set membership of text ids.

Both are checks the contracts run on every row of the largest tables (18 million readings per 50,000
customers): pandas' ``DataFrame.duplicated`` on text and dates and ``Series.isin`` (which walks the known
ids in Python) cost seconds there; these cost a fraction, and decide exactly the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.usage import customer_codes


def arrow_text(values: pd.Series) -> pa.Array:
    """The column as Arrow strings (no copy where it already is Arrow text)."""
    return pa.array(values.array, from_pandas=True).cast(pa.large_string())


def is_in(values: pd.Series, known: pa.Array) -> np.ndarray:
    """Whether each value is one of `known` (Arrow's hash set: ``Series.isin`` walks `known` in Python)."""
    found = pc.is_in(arrow_text(values), value_set=known)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def key_codes(values: pd.Series) -> np.ndarray | None:
    """Integer codes equal exactly where `values` are equal (dates as their instant); None where a value is
    missing (pandera then decides)."""
    if values.isna().any():
        return None
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return values.array.asi8 if isinstance(values.dtype, pd.DatetimeTZDtype) else values.to_numpy().view(np.int64)
    # text: runs of sorted ids without hashing, else factorised
    return customer_codes(values)[0].astype(np.int64)


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """`codes` shifted to start at 0, and divided by their common step (daily dates in microseconds: by a
    day), or factorised when still wider than the rows; with the number of values they may take."""
    if not len(codes):
        return codes, 1
    codes = codes - codes.min()
    width = int(codes.max()) + 1
    if width > 4 * len(codes):
        step = int(np.gcd.reduce(codes))
        if step > 1:
            codes //= step
            width = int(codes.max()) + 1
    if width > 4 * len(codes):
        codes = pd.factorize(codes)[0].astype(np.int64)
        width = int(codes.max()) + 1
    return codes, width


def surely_unique(df: pd.DataFrame, columns: list[str]) -> bool:
    """True when no two rows share the values of `columns` (False when unsure: pandera then checks).

    The key columns become one integer per row; rows stored in key order are checked in one pass, others by
    hashing the integers, both far cheaper than ``DataFrame.duplicated`` on text and dates."""
    key = np.zeros(len(df), dtype=np.int64)
    span = 1
    for column in columns:
        codes = key_codes(df[column])
        if codes is None:
            return False
        codes, width = _dense(codes)
        if span * width >= 2**62:  # the combined key could overflow: renumber it first
            key = pd.factorize(key)[0].astype(np.int64)
            span = int(key.max()) + 1 if len(key) else 1
            if span * width >= 2**62:
                return False
        key = key * width + codes
        span *= width
    if len(key) < 2 or (key[1:] > key[:-1]).all():
        return True
    if span <= 8 * len(key):  # a count per possible key: one pass, no hashing
        return int(np.bincount(key, minlength=span).max()) <= 1
    return not pd.Series(key).duplicated().any()
