"""Data contracts for what a utility exports, checked at the boundary.

The tables (``customers``, ``readings`` (daily), ``interval_readings``, ``bills``, ``payments``,
``weather``; optional ``weather_forecasts`` (region, issued_at, valid_at, temperature_c[, humidity]) and
``work_orders``; for revenue protection ``meter_reads`` and ``inspections``) are declared once here as
pandera schemas. :func:`validate` checks one table and
either raises :class:`~features.errors.ContractViolation` naming every bad row and field, or, with
``quarantine=True``, splits the input into accepted rows and rejected rows with their reasons.
:func:`check_references` checks the links between tables (payments for unknown bills, readings of
unknown customers). Nothing is ever dropped silently: accepted + rejected always equals the input.

Conventions: ``*_id`` are strings, ``*_date`` are timezone-naive calendar dates (midnight),
``*_at`` are timezone-aware UTC timestamps, energy is kWh and money is in the tenant's currency.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from features import failures as failures_of
from features.errors import ContractViolation
from features.keys import arrow_text, is_in, surely_unique
from features.parsing import column_kind, parse_column
from features.work_orders import work_orders_schema

CATEGORIES = ("residential", "commercial", "industrial", "agricultural", "public")
#: what an inspection found (``inspections.outcome``)
OUTCOMES = ("theft_confirmed", "no_irregularity", "not_reached")
#: prepaid meters and deposit accounts (``balances.account_type``)
ACCOUNT_TYPES = ("prepaid", "deposit")
CHANNELS = ("direct_debit", "bank_transfer", "card", "cash", "online", "mobile", "agent", "other")
DATE = "datetime64[ns]"
UTC = "datetime64[ns, UTC]"


def _not_future(now: pd.Timestamp, *, utc: bool) -> pa.Check:
    limit = now.tz_convert("UTC") if utc else now.tz_convert(None).normalize()
    return pa.Check(lambda s: s <= limit, name="not_in_future", error=f"not_in_future (<= {limit})")


def _finite_non_negative() -> list[pa.Check]:
    return [pa.Check.ge(0, error="non_negative"), pa.Check.lt(np.inf, error="finite")]


def _ends_after_start(d: pd.DataFrame) -> pd.Series:
    return d["end_date"].isna() | (d["end_date"] >= d["start_date"])


def _id(**kw) -> pa.Column:
    return pa.Column(str, nullable=False, coerce=True, checks=pa.Check.str_length(1, 64), **kw)


def _weather_values() -> dict[str, pa.Column]:
    """Temperature and optional humidity, shared by observed weather and issued weather forecasts."""
    return {
        "temperature_c": pa.Column(
            "float64", coerce=True, checks=pa.Check.in_range(-60, 60, error="plausible_temperature (-60..60 °C)")
        ),
        "humidity": pa.Column(
            "float64",
            nullable=True,
            coerce=True,
            required=False,
            checks=pa.Check.in_range(0, 1, error="humidity in 0..1"),
        ),
    }


def _protection_flags() -> dict[str, pa.Column]:
    """Optional vulnerable-customer flags (guardrails, issue 20) and the key-account flag; null = not set."""
    flag = lambda: pa.Column("boolean", nullable=True, coerce=True, required=False)  # noqa: E731
    return {
        "medical": flag(),  # medical / life-support register
        "priority_services": flag(),  # priority-services register
        "low_income": flag(),  # low-income assistance
        "elderly": flag(),
        "protection_other": pa.Column(str, nullable=True, coerce=True, required=False),  # free text
        "key_account": flag(),
    }


def schemas(now: pd.Timestamp | None = None) -> dict[str, pa.DataFrameSchema]:
    """The contract of every table; dates later than `now` (default: the current time) are rejected."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now
    day_ok, ts_ok = _not_future(now, utc=False), _not_future(now, utc=True)
    date = lambda nullable=False, checks=(): pa.Column(  # noqa: E731
        DATE, nullable=nullable, coerce=True, checks=list(checks)
    )
    return {
        "customers": pa.DataFrameSchema(
            {
                "customer_id": _id(unique=True),
                "category": pa.Column(str, pa.Check.isin(CATEGORIES), coerce=True),
                "tariff": pa.Column(str, coerce=True),
                "region": pa.Column(str, coerce=True),
                "area": pa.Column(str, nullable=True, coerce=True, required=False),
                "socio_group": pa.Column(str, nullable=True, coerce=True, required=False),
                **_protection_flags(),
                "start_date": date(checks=[day_ok]),
                "end_date": date(nullable=True),
            },
            checks=[pa.Check(_ends_after_start, name="end_date >= start_date")],
            strict=False,
        ),
        "readings": pa.DataFrameSchema(
            {
                "customer_id": _id(),
                "reading_date": date(checks=[day_ok]),
                "kwh": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
            },
            unique=["customer_id", "reading_date"],
            report_duplicates="all",
        ),
        "interval_readings": pa.DataFrameSchema(
            {
                "customer_id": _id(),
                "read_at": pa.Column(UTC, coerce=True, checks=[ts_ok]),
                "kwh": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
            },
            unique=["customer_id", "read_at"],
            report_duplicates="all",
        ),
        "bills": pa.DataFrameSchema(
            {
                "bill_id": _id(unique=True),
                "customer_id": _id(),
                "period_start": date(),
                "period_end": date(),
                "issue_date": date(checks=[day_ok]),
                "due_date": date(),
                "kwh": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
                "amount": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
            },
            checks=[
                pa.Check(lambda d: d["period_end"] >= d["period_start"], name="period_end >= period_start"),
                pa.Check(lambda d: d["due_date"] >= d["issue_date"], name="due_date >= issue_date"),
            ],
        ),
        "payments": pa.DataFrameSchema(
            {
                "payment_id": _id(unique=True),
                "bill_id": _id(),
                "customer_id": _id(),
                "paid_at": pa.Column(UTC, coerce=True, checks=[ts_ok]),
                "amount": pa.Column(
                    "float64",
                    coerce=True,
                    checks=[*_finite_non_negative(), pa.Check.gt(0, error="positive")],
                ),
                "channel": pa.Column(str, pa.Check.isin(CHANNELS), coerce=True),
            }
        ),
        "weather": pa.DataFrameSchema(
            {
                "region": pa.Column(str, coerce=True),
                "observed_at": pa.Column(UTC, coerce=True, checks=[ts_ok]),
                **_weather_values(),
            },
            unique=["region", "observed_at"],
            report_duplicates="all",
        ),
        # Meter register reads (one per visit or bill). new_index < old_index is allowed on purpose:
        # it is a rollback or a register turnover, a theft signal for features/theft.py, not bad data.
        "meter_reads": pa.DataFrameSchema(
            {
                "customer_id": _id(),
                "meter_id": _id(),
                "read_date": date(checks=[day_ok]),
                "old_index": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
                "new_index": pa.Column("float64", coerce=True, checks=_finite_non_negative()),
                "status": pa.Column(str, coerce=True),
                "remark": pa.Column(str, nullable=True, coerce=True),
                "multiplier": pa.Column(
                    "float64",
                    coerce=True,
                    checks=[pa.Check.gt(0, error="positive"), pa.Check.lt(np.inf, error="finite")],
                ),
                "billed_kwh": pa.Column(
                    "float64", nullable=True, coerce=True, required=False, checks=_finite_non_negative()
                ),
                "months": pa.Column(
                    "float64",
                    nullable=True,
                    coerce=True,
                    required=False,
                    checks=pa.Check.in_range(0, 120, error="months in 0..120"),
                ),
                "tariff": pa.Column(str, nullable=True, coerce=True, required=False),
                "meter_type": pa.Column(str, nullable=True, coerce=True, required=False),
            },
            unique=["customer_id", "meter_id", "read_date"],
            report_duplicates="all",
        ),
        "inspections": pa.DataFrameSchema(
            {
                "customer_id": _id(),
                "inspected_date": date(checks=[day_ok]),
                "outcome": pa.Column(str, pa.Check.isin(OUTCOMES), coerce=True),
                "recovered_kwh": pa.Column(
                    "float64", nullable=True, coerce=True, required=False, checks=_finite_non_negative()
                ),
                "recovered_amount": pa.Column(
                    "float64", nullable=True, coerce=True, required=False, checks=_finite_non_negative()
                ),
            },
            unique=["customer_id", "inspected_date"],
            report_duplicates="all",
        ),
        # prepaid / deposit balances as reported on a day (optional table; a negative balance is a debt)
        "balances": pa.DataFrameSchema(
            {
                "customer_id": _id(),
                "as_of": date(checks=[day_ok]),
                "balance": pa.Column(
                    "float64", coerce=True, checks=[pa.Check(np.isfinite, element_wise=False, error="finite")]
                ),
                "account_type": pa.Column(
                    str, pa.Check.isin(ACCOUNT_TYPES), nullable=True, coerce=True, required=False
                ),
            },
            unique=["customer_id", "as_of"],
            report_duplicates="all",
        ),
        "work_orders": work_orders_schema(ts_ok),  # complaints in free text (issue 22), optional per tenant
        # issued weather forecasts: what a planner knew at `issued_at` about `valid_at` (optional table)
        "weather_forecasts": pa.DataFrameSchema(
            {
                "region": pa.Column(str, coerce=True),
                "issued_at": pa.Column(UTC, coerce=True, checks=[ts_ok]),
                "valid_at": pa.Column(UTC, coerce=True),
                **_weather_values(),
            },
            checks=[pa.Check(lambda d: d["valid_at"] >= d["issued_at"], name="valid_at >= issued_at")],
            unique=["region", "issued_at", "valid_at"],
            report_duplicates="all",
        ),
    }


#: revenue-protection tables: optional, loaded only by the theft path (``load_tenant(..., tables=...)``)
REVENUE_TABLES = ("meter_reads", "inspections")
ALL_TABLES = tuple(schemas(pd.Timestamp("2000-01-01", tz="UTC")))
TABLES = tuple(t for t in ALL_TABLES if t not in REVENUE_TABLES)


@dataclass(frozen=True)
class Validated:
    """The outcome of checking one table: every input row is in exactly one of the two frames."""

    table: str
    accepted: pd.DataFrame
    rejected: pd.DataFrame  # input columns as written + `row`, `reasons`
    rows_in: int
    positions: np.ndarray  # input row position of each accepted row
    failures: pd.DataFrame | None = None  # one row per bad cell (see features.failures)

    def __post_init__(self) -> None:  # conservation is an invariant, not a hope
        assert len(self.accepted) + len(self.rejected) == self.rows_in, (self.table, self.rows_in)


def _missing_columns(schema: pa.DataFrameSchema, data: pd.DataFrame) -> pd.DataFrame:
    """Table-level failures for required columns absent from `data`, with a hint on the likely cause."""
    missing = [n for n, c in schema.columns.items() if c.required and n not in data.columns]
    if not missing:
        return failures_of.empty()
    found = [str(c) for c in data.columns]
    hint = f"columns found: {found[:12]}; expected {list(schema.columns)}"
    if len(found) == 1 and any(sep in found[0] for sep in (";", "\t", "|")):
        hint = f"one column named {found[0][:60]!r}: the file is not comma-separated; export it with ',' as separator"
    return failures_of.table_level([(c, "column_in_file", None, hint) for c in missing])


def _relaxed(schema: pa.DataFrameSchema, parsing: pd.DataFrame) -> pa.DataFrameSchema:
    """`schema` with nulls allowed in the columns where a cell did not parse (:func:`_empty_cells` checks the rest):
    pandera's failure path for a few nulls in ten million rows costs more than the whole check."""
    columns = parsing["column"].unique().tolist() if len(parsing) else []
    return schema.update_columns({c: {"nullable": True} for c in columns}) if columns else schema


def _key_check(schema: pa.DataFrameSchema, typed: pd.DataFrame) -> pa.DataFrameSchema:
    """`schema` without its multi-column key check where the key is surely unique; pandera's check (and its
    failure report) otherwise."""
    if not schema.unique or not all(c in typed for c in schema.unique) or not surely_unique(typed, schema.unique):
        return schema
    fast = copy.copy(schema)
    fast.unique = None
    return fast


def _empty_cells(schema: pa.DataFrameSchema, typed: pd.DataFrame, parsing: pd.DataFrame) -> pd.DataFrame:
    """``not_nullable`` failures of the relaxed columns: empty cells, not the cells that did not parse."""
    out = []
    for column in parsing["column"].unique() if len(parsing) else []:
        if schema.columns[column].nullable:
            continue
        empty = typed[column].isna().to_numpy().copy()
        empty[parsing.loc[parsing["column"] == column, "row"].to_numpy(dtype="int64")] = False
        rows = np.flatnonzero(empty)
        out.append(pd.DataFrame({"row": rows, "column": column, "check": "not_nullable", "value": None, "hint": ""}))
    return pd.concat(out, ignore_index=True).astype({"row": "Int64"}) if out else failures_of.empty()


def validate(
    table: str,
    df: pd.DataFrame,
    *,
    now: pd.Timestamp | None = None,
    quarantine: bool = False,
    source: str | None = None,
    lines: np.ndarray | None = None,
) -> Validated:
    """Check `df` against the contract of `table`.

    Cells are first parsed to the contract's types (:mod:`features.parsing`, vectorised): a cell that does not
    parse is one failure naming its row, column, check and raw value. pandera then runs the row checks on the
    typed frame, where such a cell is null (its dtype coercion never fails, so it never falls back to its slow
    per-element path); what the null alone causes (a comparison, a key) is not reported again.

    Parameters
    ----------
    table : str
        One of :data:`ALL_TABLES`.
    df : pandas.DataFrame
        The rows as exported (text, as read from a CSV, or typed); column order and extra columns do not
        matter (extra columns are kept for ``customers`` only, dropped elsewhere since no feature reads them).
    now : pandas.Timestamp, optional
        Dates after this are "in the future" and rejected. Default: the current UTC time.
    quarantine : bool
        False (default): any bad row raises :class:`ContractViolation`. True: bad rows are returned
        in ``rejected`` with a ``reasons`` column and the good ones carry on.
    source : str, optional
        File name for error messages.
    lines : numpy.ndarray, optional
        Source line of each row (a CSV file's 1-based line); failures then carry a ``line`` column.

    Raises
    ------
    ContractViolation
        Listing each bad cell (0-based row, and line when `lines` is given), column, failed check, raw value
        and a hint. Always raised for table-level problems (missing columns), which no quarantine can fix.
    """
    if table not in ALL_TABLES:
        raise ValueError(f"table={table!r}; expected one of {ALL_TABLES}")
    schema = schemas(now)[table]
    data = df.reset_index(drop=True)
    missing = _missing_columns(schema, data)
    if len(missing):
        raise ContractViolation(table, missing, source=source)
    parsed = {c: parse_column(data[c], column_kind(schema.columns[c].dtype)) for c in schema.columns if c in data}
    typed = data.assign(**{c: p.values for c, p in parsed.items()})
    parsing = failures_of.from_parsing(parsed)
    failures = pd.concat([parsing, _empty_cells(schema, typed, parsing)], ignore_index=True)
    checked = None
    try:  # on every row (no copy); a null cell's follow-on failures (comparisons, keys) are dropped
        checked = _key_check(_relaxed(schema, parsing), typed).validate(typed, lazy=True)
    except SchemaErrors as err:
        later = failures_of.from_pandera(err, data)
        failures = pd.concat([failures, failures_of.drop_follow_on(later, failures)], ignore_index=True)
    if lines is not None:
        failures = failures_of.with_lines(failures, lines)
    if len(failures):
        failures = failures.sort_values("row", kind="stable", na_position="first").reset_index(drop=True)
        if failures["row"].isna().any() or not quarantine:
            raise ContractViolation(table, failures, source=source)
        return _split(table, schema, data, typed, failures)
    accepted = _select(table, schema, checked if checked is not None else typed)
    return Validated(table, accepted, _empty_rejected(data), len(data), np.arange(len(data)), failures)


def _select(table: str, schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    if table == "customers":
        return df  # customers keep extra attributes (e.g. a socio-economic group)
    return df[[c for c in schema.columns if c in df.columns]]


def _empty_rejected(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[:0].assign(row=pd.Series(dtype="int64"), reasons=pd.Series(dtype="str"))


def _split(
    table: str, schema: pa.DataFrameSchema, data: pd.DataFrame, typed: pd.DataFrame, failures: pd.DataFrame
) -> Validated:
    """Bad rows (as written, with their reasons) apart from the typed good rows."""
    reasons = failures_of.reasons_by_row(failures)
    bad = np.zeros(len(data), dtype=bool)
    bad[reasons.index.to_numpy()] = True
    rejected = data.loc[bad].assign(row=np.flatnonzero(bad))
    rejected["reasons"] = reasons.reindex(rejected["row"]).to_numpy()
    accepted = _select(table, schema, typed.loc[~bad].reset_index(drop=True))
    return Validated(table, accepted, rejected.reset_index(drop=True), len(data), np.flatnonzero(~bad), failures)


def check_references(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Cross-table checks; returns failures (``table``, ``row``, ``column``, ``check``, ``value``).

    - readings / interval_readings / bills / payments of a customer missing from ``customers``;
    - payments whose ``bill_id`` is not a known bill, or whose customer differs from the bill's.
    """
    out: list[pd.DataFrame] = []
    known = arrow_text(tables["customers"]["customer_id"]) if "customers" in tables else None

    def fail(table: str, mask: np.ndarray, column: str, check: str, values: pd.Series) -> None:
        if mask.any():
            idx = np.flatnonzero(mask)
            out.append(
                pd.DataFrame(
                    {
                        "table": table,
                        "row": idx,
                        "column": column,
                        "check": check,
                        "value": values.iloc[idx].to_numpy(),
                    }
                )
            )

    if known is not None:
        for name in (
            "readings",
            "interval_readings",
            "bills",
            "payments",
            "work_orders",
            "meter_reads",
            "inspections",
            "balances",
        ):
            if name in tables:
                ids = tables[name]["customer_id"]
                fail(name, ids.notna().to_numpy() & ~is_in(ids, known), "customer_id", "known_customer", ids)
    if "payments" in tables and "bills" in tables:
        pay, bills = tables["payments"], tables["bills"]
        owner = pd.Series(bills["customer_id"].to_numpy(), index=bills["bill_id"].to_numpy())
        bill_owner = pay["bill_id"].map(owner)
        fail("payments", bill_owner.isna().to_numpy(), "bill_id", "known_bill", pay["bill_id"])
        mismatch = bill_owner.notna().to_numpy() & (bill_owner.to_numpy() != pay["customer_id"].to_numpy())
        fail("payments", mismatch, "customer_id", "same_customer_as_bill", pay["customer_id"])
    cols = ["table", "row", "column", "check", "value"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
