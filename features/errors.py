"""Named errors. Every error meterwise raises on purpose derives from :class:`MeterwiseError`.

Each error carries the data a caller needs to act on it. HTTP status codes are assigned in one
place only (``serving/errors.py``); nothing here knows about HTTP.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


class MeterwiseError(Exception):
    """Root of every error meterwise raises on purpose."""

    code = "meterwise_error"


class ContractViolation(MeterwiseError, ValueError):
    """A table broke its data contract.

    Parameters
    ----------
    table : str
        Contract name (``customers``, ``readings``, ...).
    failures : pandas.DataFrame
        One row per failed cell or row with columns ``row`` (0-based position in the input,
        or the source line when read from a file), ``column``, ``check`` and ``value``.
    """

    code = "contract_violation"

    def __init__(self, table: str, failures: pd.DataFrame, *, source: str | None = None):
        self.table = table
        self.failures = failures
        self.source = source
        rows = failures["row"].dropna().unique()
        where = f" in {source}" if source else ""
        head = "; ".join(_describe(r) for r in failures.head(5).to_dict("records"))
        more = f" … and {len(failures) - 5} more" if len(failures) > 5 else ""
        hints = [h for h in dict.fromkeys(failures.get("hint", pd.Series(dtype=object)).dropna()) if h][:2]
        hint = f". Hint: {' / '.join(hints)}" if hints else ""
        count = f"{len(rows)} bad rows, {len(failures)} failures" if len(rows) else "table-level problem"
        super().__init__(f"{table}{where}: {count}: {head}{more}{hint}")

    def to_records(self, limit: int = 100) -> list[dict[str, Any]]:
        """The first `limit` failures as JSON-friendly dicts."""
        out = self.failures.head(limit).astype(object).where(self.failures.head(limit).notna(), None)
        return out.to_dict("records")


def _describe(failure: dict[str, Any]) -> str:
    """``line 11: reading_date date_day_first (value='31/12/2012')``: the line of a file, else the row."""
    line, row = failure.get("line"), failure.get("row")
    where = f"line {line}" if pd.notna(line) else (f"row {row}" if pd.notna(row) else "file")
    value = "" if failure.get("value") is None else f" (value={failure['value']!r})"
    column = failure.get("column") or "<row>"
    return f"{where}: {column} {failure['check']}{value}"


class UnknownCustomer(MeterwiseError, KeyError):
    """One or more customer ids are not in the tenant or feature snapshot."""

    code = "unknown_customer"

    def __init__(self, customer_ids: list[str]):
        self.customer_ids = list(customer_ids)
        shown = ", ".join(map(str, self.customer_ids[:10]))
        more = f" (+{len(self.customer_ids) - 10} more)" if len(self.customer_ids) > 10 else ""
        super().__init__(f"unknown customer_id: {shown}{more}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class UnknownSeries(MeterwiseError, KeyError):
    """No forecast for this (level, key, freq) in the bundle."""

    code = "unknown_series"

    def __init__(self, level: str, key: str, freq: str, available: dict[str, list[str]]):
        self.level, self.key, self.freq = level, key, freq
        self.field = "key" if level in available else "level"  # the request field that is wrong
        self.available = {lvl: keys[:20] for lvl, keys in available.items()}
        shown = {lvl: keys[:5] for lvl, keys in available.items()}
        super().__init__(f"no forecast for level={level!r} key={key!r} freq={freq!r}; available (first keys): {shown}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class SnapshotNotFound(MeterwiseError, FileNotFoundError):
    """No feature snapshot exists for the requested `as_of`."""

    code = "snapshot_not_found"

    def __init__(self, as_of: object, where: str):
        self.as_of, self.where = as_of, where
        super().__init__(f"no feature snapshot for as_of={as_of} under {where}; run `meterwise features build`")


class ModelNotReady(MeterwiseError, RuntimeError):
    """A model kind has not been loaded (yet), or no champion is registered."""

    code = "model_not_ready"

    def __init__(self, kind: str, reason: str = "not loaded"):
        self.kind, self.reason = kind, reason
        super().__init__(f"model {kind!r} is not ready: {reason}")


class ModelRejected(MeterwiseError, RuntimeError):
    """A candidate model failed admission (load, signature or canary check)."""

    code = "model_rejected"

    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason
        super().__init__(f"model {kind!r} refused: {reason}")
