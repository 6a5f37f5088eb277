"""Meter-data quality, per meter: completeness, gaps, flatlines, duplicated days, negative values, spikes and
rollovers (pure, vectorised).

A data engineer hands the result back to the metering team; models and segments read ``low_completeness`` to
treat a customer with too few readings honestly. Checks on daily readings (``customer_id``, ``reading_date``,
``kwh``), one row per meter (the customer's daily series):

- **completeness**: distinct days read / days between the meter's first and last reading (or `as_of`);
- **gaps**: stretches of at least ``gap_days`` missing days (count; and the longest missing stretch in days);
- **flatlines**: runs of at least ``flatline_days`` consecutive days with the very same kWh (a stuck meter or an
  estimate copied forward; a run of zeros is a flatline too);
- **duplicated days**: more than one reading for the same day;
- **negative** readings and **spikes** (a day above ``spike_factor`` times the meter's median and above
  ``spike_min_kwh``);
- **cumulative** series: daily values that almost never decrease look like register indexes sent as daily kWh;
  their drops are counted as **rollovers** (the register wrapped or was reset).

Register reads (``meter_reads``: old and new index per visit) add **register rollovers**: a new index below the
old one where the old index was near the register's capacity (``99..9``) and the new one near zero, i.e. the
register wrapped; other backwards reads are **rollbacks** (a theft signal, see :mod:`features.theft`).

Thresholds live in :class:`QualitySettings` (``METERWISE_QUALITY_*``).

Invariants
----------
- No per-row Python loop: one sort, then numpy over the flat arrays with per-meter offsets.
- With `as_of`, only readings dated on or before it are used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: check name -> (unit, description) of each column of the per-meter table
QUALITY_COLUMNS: dict[str, tuple[str, str]] = {
    "first_day": ("date", "first day with a reading"),
    "last_day": ("date", "last day with a reading (or as_of)"),
    "days_expected": ("days", "days from the first reading to the last (or as_of), inclusive"),
    "days_observed": ("days", "distinct days with a reading"),
    "completeness": ("share", "days_observed / days_expected"),
    "gaps": ("count", "stretches of at least gap_days missing days"),
    "longest_gap_days": ("days", "longest stretch of missing days"),
    "duplicated_days": ("count", "readings beyond the first on the same day"),
    "flatlines": ("count", "runs of >= flatline_days consecutive days with the same kWh"),
    "longest_flatline_days": ("days", "longest run of consecutive days with the same kWh"),
    "negative_days": ("count", "readings below 0 kWh"),
    "spikes": ("count", "days above spike_factor x the meter's median kWh (and above spike_min_kwh)"),
    "cumulative_suspected": ("bool", "daily values almost never decrease: register indexes sent as daily kWh"),
    "rollovers": ("count", "drops of a cumulative-looking series, plus register rollovers in meter reads"),
    "register_rollbacks": ("count", "register reads going backwards without wrapping (a theft signal)"),
    "low_completeness": ("bool", "completeness below min_completeness"),
    "issues": ("text", "names of the checks this meter fails, comma-separated"),
}
#: checks counted in the summary: column -> predicate "this meter has the issue"
ISSUE_CHECKS = (
    "low_completeness",
    "gaps",
    "flatlines",
    "duplicated_days",
    "negative_days",
    "spikes",
    "rollovers",
    "cumulative_suspected",
    "register_rollbacks",
)
#: the profile column downstream models and segments read
PROFILE_FLAG = "low_completeness"
PROFILE_DESCRIPTION = {
    PROFILE_FLAG: ("bool", "meter data completeness below METERWISE_QUALITY_MIN_COMPLETENESS (see data quality)")
}


class QualitySettings(BaseSettings):
    """Thresholds of the meter-data quality checks (env prefix ``METERWISE_QUALITY_``)."""

    model_config = SettingsConfigDict(env_prefix="METERWISE_QUALITY_", env_file=".env", extra="ignore")

    min_completeness: float = Field(0.9, ge=0, le=1, description="share of days read below which a meter is flagged")
    gap_days: int = Field(3, ge=1, description="missing days in a row that make a gap (shorter ones: completeness)")
    flatline_days: int = Field(7, ge=2, description="consecutive days with the same kWh that make a flatline")
    spike_factor: float = Field(10.0, gt=1, description="a day above this times the meter's median kWh is a spike")
    spike_min_kwh: float = Field(1.0, ge=0, description="a spike is also above this many kWh (quiet meters)")
    cumulative_share: float = Field(0.95, gt=0.5, le=1, description="share of non-decreasing days of a cumulative")
    min_days: int = Field(14, ge=2, description="days a meter needs before cumulative is judged")
    rollover_capacity_share: float = Field(0.9, gt=0, lt=1, description="old index above this share of 10^digits")


def check_readings(
    readings: pd.DataFrame, settings: QualitySettings | None = None, *, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per meter (``customer_id``) with every check of the module docstring.

    Parameters
    ----------
    readings : pandas.DataFrame
        ``customer_id``, ``reading_date`` (day), ``kwh`` (kWh per day); duplicates and negatives are counted,
        not rejected, so this runs on raw exports too.
    settings : QualitySettings, optional
        Thresholds (default: from the environment).
    as_of : pandas.Timestamp, optional
        Cutoff: readings after it are ignored, and a meter silent since before it is incomplete up to it.
    """
    s = settings or QualitySettings()
    d = readings[["customer_id", "reading_date", "kwh"]]
    day_all = pd.to_datetime(d["reading_date"]).to_numpy("datetime64[D]").astype("int64")
    keep = np.ones(len(d), dtype=bool) if as_of is None else day_all <= _day(as_of)
    order = np.lexsort((day_all[keep], pd.factorize(d["customer_id"].to_numpy()[keep], sort=True)[0]))
    ids_all, uniques = pd.factorize(d["customer_id"].to_numpy()[keep], sort=True)
    code, day = ids_all[order], day_all[keep][order]
    kwh = d["kwh"].to_numpy(dtype="float64")[keep][order]
    n, meters = len(code), len(uniques)
    if n == 0:
        return pd.DataFrame(columns=["customer_id", *QUALITY_COLUMNS])
    first = np.r_[True, code[1:] != code[:-1]]
    step = np.r_[0, np.diff(day)]
    step[first] = 0
    cnt = lambda mask: np.bincount(code[mask], minlength=meters)  # noqa: E731  per-meter count of a mask
    dup = ~first & (step == 0)
    start_day = np.minimum.reduceat(day, np.flatnonzero(first))
    end_day = np.maximum.reduceat(day, np.flatnonzero(first))
    if as_of is not None:
        end_day = np.maximum(end_day, _day(as_of))
    expected = end_day - start_day + 1
    observed = np.bincount(code, minlength=meters) - cnt(dup)
    gap = ~first & (step > s.gap_days)
    trailing = end_day - np.maximum.reduceat(day, np.flatnonzero(first))  # silent days up to as_of
    gaps = cnt(gap) + (trailing >= s.gap_days)
    missing = ~first & (step > 1)
    longest_gap = np.maximum(_max_by(code[missing], step[missing] - 1, meters), trailing)
    # flatlines: consecutive days (step 1) with the same value
    same = ~first & (step == 1) & np.r_[False, kwh[1:] == kwh[:-1]]
    run_start = np.flatnonzero(~same)
    length = np.diff(np.r_[run_start, n])
    run_code = code[run_start]
    flat = length >= s.flatline_days
    flatlines = np.bincount(run_code[flat], minlength=meters)
    longest_flat = _max_by(run_code, length, meters)
    longest_flat = np.where(longest_flat >= 2, longest_flat, 0)
    # spikes against the meter's median
    median = pd.Series(kwh).groupby(code).median().reindex(range(meters)).to_numpy()
    spike = kwh > np.maximum(s.spike_factor * median[code], s.spike_min_kwh)
    # cumulative-looking series and their drops
    daily = ~first & (step >= 1)
    up = daily & np.r_[False, kwh[1:] >= kwh[:-1]]
    steps = cnt(daily)
    cumulative = (steps >= s.min_days) & (cnt(up) >= s.cumulative_share * np.maximum(steps, 1))
    drops = cnt(daily & ~up & np.r_[False, kwh[1:] < 0.5 * kwh[:-1]])
    out = pd.DataFrame(
        {
            "customer_id": uniques.astype(str),
            "first_day": start_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "last_day": end_day.astype("datetime64[D]").astype("datetime64[ns]"),
            "days_expected": expected,
            "days_observed": observed,
            "completeness": observed / expected,
            "gaps": gaps,
            "longest_gap_days": longest_gap,
            "duplicated_days": cnt(dup),
            "flatlines": flatlines,
            "longest_flatline_days": longest_flat,
            "negative_days": cnt(kwh < 0),
            "spikes": cnt(spike),
            "cumulative_suspected": cumulative,
            "rollovers": np.where(cumulative, drops, 0),
            "register_rollbacks": 0,
        }
    )
    return finish(out, s)


def _day(ts: pd.Timestamp) -> int:
    ts = pd.Timestamp(ts)
    ts = ts.tz_convert(None) if ts.tzinfo is not None else ts
    return int(np.datetime64(ts.normalize(), "D").astype("int64"))


def _max_by(code: np.ndarray, values: np.ndarray, meters: int) -> np.ndarray:
    out = np.zeros(meters, dtype="int64")
    np.maximum.at(out, code, values.astype("int64"))
    return out


def check_register_reads(reads: pd.DataFrame, settings: QualitySettings | None = None) -> pd.DataFrame:
    """Per customer: register ``rollovers`` (the index wrapped past its capacity) and ``register_rollbacks``.

    A read with ``new_index < old_index`` is a rollover when the old index is above ``rollover_capacity_share``
    of the register's capacity (``10^digits`` of the old index) and the new one below the remaining share of it.
    """
    s = settings or QualitySettings()
    old, new = reads["old_index"].to_numpy(float), reads["new_index"].to_numpy(float)
    capacity = 10.0 ** np.ceil(np.log10(np.maximum(old, 1.0) + 1))
    back = new < old
    wrapped = back & (old >= s.rollover_capacity_share * capacity) & (new < (1 - s.rollover_capacity_share) * capacity)
    flags = pd.DataFrame({"customer_id": reads["customer_id"].astype(str), "rollovers": wrapped, "rb": back & ~wrapped})
    out = flags.groupby("customer_id", sort=True).sum().astype("int64")
    return out.rename(columns={"rb": "register_rollbacks"}).reset_index()


def add_register_reads(table: pd.DataFrame, register: pd.DataFrame, settings: QualitySettings) -> pd.DataFrame:
    """`table` with register rollovers and rollbacks of `register` (:func:`check_register_reads`) added."""
    merged = table.drop(columns="issues").merge(register, on="customer_id", how="outer", suffixes=("", "_reg"))
    merged["rollovers"] = merged["rollovers"].fillna(0) + merged.pop("rollovers_reg").fillna(0)
    merged["register_rollbacks"] = merged["register_rollbacks"].fillna(0) + merged.pop("register_rollbacks_reg").fillna(
        0
    )
    for col in ("rollovers", "register_rollbacks"):
        merged[col] = merged[col].astype("int64")
    return finish(merged, settings)


def finish(table: pd.DataFrame, settings: QualitySettings) -> pd.DataFrame:
    """Add ``low_completeness`` and ``issues`` (the names of the checks each meter fails)."""
    out = table.copy()
    out["low_completeness"] = out["completeness"].lt(settings.min_completeness).fillna(False).astype(bool)
    failing = pd.DataFrame({c: out[c].fillna(0).astype(float) > 0 for c in ISSUE_CHECKS})
    names = np.array(ISSUE_CHECKS, dtype=object)
    out["issues"] = [",".join(names[row]) for row in failing.to_numpy()]  # one join per meter, not per reading
    return out[["customer_id", *QUALITY_COLUMNS]]


def summarize(table: pd.DataFrame) -> dict:
    """Counts for a manifest or MLflow: meters, meters per issue, median and p10 completeness."""
    completeness = table["completeness"].dropna()
    return {
        "meters": len(table),
        "meters_with_issue": int(table["issues"].ne("").sum()),
        "meters_per_issue": {c: int((table[c].fillna(0).astype(float) > 0).sum()) for c in ISSUE_CHECKS},
        "completeness_median": round(float(completeness.median()), 4) if len(completeness) else None,
        "completeness_p10": round(float(completeness.quantile(0.1)), 4) if len(completeness) else None,
    }


def flag_profiles(profiles: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`profiles` with :data:`PROFILE_FLAG` (True where the customer's meter data is too incomplete; a customer
    with no readings at all is flagged too)."""
    low = table.set_index("customer_id")["low_completeness"]
    flag = profiles["customer_id"].astype(str).map(low)
    return profiles.assign(**{PROFILE_FLAG: flag.fillna(True).astype(bool).to_numpy()})
