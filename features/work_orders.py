"""The ``work_orders`` contract (complaints and requests in free text, any language) and labelled-export reading.

Columns: ``order_id`` (unique), ``customer_id`` (optional: counter walk-ins and anonymous app users have none),
``created_at`` (UTC, not in the future), ``channel`` (the tenant's own names: ``95598``, ``app``, ``counter``…;
no fixed list), ``category`` (optional, the tenant's own labels), ``text`` (non-blank, at most
:data:`MAX_TEXT_CHARS` characters), ``closed_at`` (optional, not before ``created_at``) and ``resolution``
(optional). :mod:`features.contracts` adds this schema to its tables, so :func:`features.io.load_tenant` reads
``work_orders.parquet`` / ``.csv`` with the same quarantine and row accounting as every other table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from features.errors import ContractViolation

logger = logging.getLogger(__name__)

TABLE = "work_orders"
MAX_TEXT_CHARS = 20_000
UTC = "datetime64[ns, UTC]"
COLUMNS = ("order_id", "customer_id", "created_at", "channel", "category", "text", "closed_at", "resolution")


def _closed_after_created(d: pd.DataFrame) -> pd.Series | bool:
    if "closed_at" not in d:  # optional column
        return True
    return d["closed_at"].isna() | (d["closed_at"] >= d["created_at"])


def work_orders_schema(not_future: pa.Check) -> pa.DataFrameSchema:
    """The contract; `not_future` is the shared "timestamp <= now" check of :func:`features.contracts.schemas`."""
    text_checks = [
        pa.Check(lambda s: s.str.strip().str.len() > 0, name="not_blank", element_wise=False),
        pa.Check.str_length(max_value=MAX_TEXT_CHARS, error=f"at most {MAX_TEXT_CHARS} characters"),
    ]
    optional_str = lambda: pa.Column(str, nullable=True, coerce=True, required=False)  # noqa: E731
    return pa.DataFrameSchema(
        {
            "order_id": pa.Column(str, nullable=False, coerce=True, unique=True, checks=pa.Check.str_length(1, 64)),
            "customer_id": pa.Column(
                str, nullable=True, coerce=True, required=False, checks=pa.Check.str_length(1, 64)
            ),
            "created_at": pa.Column(UTC, coerce=True, checks=[not_future]),
            "channel": pa.Column(str, nullable=False, coerce=True, checks=pa.Check.str_length(1, 64)),
            "category": optional_str(),
            "text": pa.Column(str, nullable=False, coerce=True, checks=text_checks),
            "closed_at": pa.Column(UTC, nullable=True, coerce=True, required=False),
            "resolution": optional_str(),
        },
        checks=[pa.Check(_closed_after_created, name="closed_at >= created_at", ignore_na=False)],
    )


def with_optional_columns(orders: pd.DataFrame) -> pd.DataFrame:
    """`orders` with every optional column present (missing ones as nulls), contract column order."""
    out = orders.copy()
    for col in ("customer_id", "category", "resolution"):
        if col not in out:
            out[col] = pd.Series(None, index=out.index, dtype=object)
    if "closed_at" not in out:
        out["closed_at"] = pd.Series(pd.NaT, index=out.index, dtype=UTC)
    return out[list(COLUMNS)]


def _read_text_table(path: Path, *, sep: str) -> pd.DataFrame:
    """A delimited text file as strings: UTF-8 (with or without BOM), else GB18030 (Chinese exports); a file
    that parses to one column with the expected separator is re-read with the separator sniffed."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
            if raw.shape[1] == 1:
                raw = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False, encoding=encoding)
            if encoding != "utf-8-sig":
                logger.info("%s: read as %s", path, encoding)
            return raw
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: not UTF-8 or GB18030 text")


def read_labelled(
    path: Path, *, text_col: str = "text", label_col: str = "category", date_col: str | None = None
) -> pd.DataFrame:
    """Read a labelled export (CSV, Parquet or XLSX) into ``text``, ``label`` and, with `date_col`, ``created_at``.

    Rows with a blank text or label are dropped and counted in the log; the rest are kept as read.

    Raises
    ------
    ContractViolation
        A named column is missing (the message lists the columns found).
    ValueError
        The file type is not CSV, Parquet or XLSX.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        raw = pd.read_parquet(path)
    elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        raw = _read_text_table(path, sep="\t" if name.endswith(".tsv") else ",")
    elif name.endswith((".xlsx", ".xls")):
        raw = pd.read_excel(path, dtype=str)
    else:
        raise ValueError(f"{path}: unsupported file type; expected .csv, .tsv, .txt, .parquet or .xlsx")
    wanted = [c for c in (text_col, label_col, date_col) if c is not None]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        failures = pd.DataFrame(
            {"row": [None] * len(missing), "column": missing, "check": "column_in_file", "value": None}
        )
        raise ContractViolation(
            f"labelled export (columns found: {list(raw.columns)[:20]})", failures, source=str(path)
        )
    out = pd.DataFrame(
        {"text": raw[text_col].astype("string").str.strip(), "label": raw[label_col].astype("string").str.strip()}
    )
    if date_col is not None:
        when = pd.to_datetime(raw[date_col].astype("string").str.strip(), format="mixed", errors="coerce")
        out["created_at"] = when.dt.tz_localize("UTC") if when.dt.tz is None else when.dt.tz_convert("UTC")
    ok = out["text"].fillna("").ne("") & out["label"].fillna("").ne("")
    if not ok.all():
        logger.warning("%s: %d of %d rows have a blank text or label and are left out", path, int((~ok).sum()), len(ok))
    return out.loc[ok].reset_index(drop=True).astype({"text": str, "label": str})
