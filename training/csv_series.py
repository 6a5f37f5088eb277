"""The generic CSV series (``timestamp,load[,temperature]``): read, check, aggregate to a panel (I/O edge).

Blank loads are explicit gaps (NaN), never zeros; a non-numeric load or an unparseable timestamp is an
error naming the line and the value. A period holding a gap, or fewer readings than the series'
usual count per period, is a gap too (its sum would understate the energy).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.series import Panel, panel_from_long

logger = logging.getLogger(__name__)
PERIOD = {"H": "h", "D": "D", "M": "M", "Q": "15min"}
#: texts read as an explicit gap (never as zero)
BLANK = ("", "NA", "NaN", "nan", "null", "NULL")


class BadLoadFile(ValueError):
    """A generic CSV that cannot be read as a load series; names the line, column and value."""


def _bad(path: Path, column: str, rows: np.ndarray, values: pd.Series, what: str) -> BadLoadFile:
    first = [f"line {int(r) + 2}: {column}={values.iloc[int(r)]!r}" for r in rows[:3]]
    return BadLoadFile(f"{path}: {len(rows)} {what} in column {column!r}; first: {'; '.join(first)}")


def _blank(values: pd.Series) -> np.ndarray:
    return values.str.strip().isin(BLANK).to_numpy()


def _numeric(path: Path, values: pd.Series, column: str) -> pd.Series:
    """Numbers of a text column; blanks are NaN, anything else that is not a finite number is an error."""
    blank = _blank(values)
    out = pd.to_numeric(values.str.strip().where(~blank), errors="coerce")
    bad = np.flatnonzero((out.isna().to_numpy() | np.isinf(out.to_numpy(float))) & ~blank)
    if len(bad):
        raise _bad(path, column, bad, values, f"non-numeric {column} values")
    return out.astype(float)


def read_load_csv(path: Path, freq: str) -> pd.DataFrame:
    """Read the generic CSV and aggregate it to `freq` periods (load summed, temperature averaged).

    Returns ``timestamp`` (period start, UTC-naive), ``load`` (NaN where a period has a gap) and
    ``temperature_c`` when the file has ``temperature``.
    """
    path = Path(path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if {"ds", "y"} <= set(df.columns) and not {"timestamp", "load"} & set(df.columns):
        df = df.rename(columns={"ds": "timestamp", "y": "load"})  # the Prophet / Nixtla layout
    missing = {"timestamp", "load"} - set(df.columns)
    if missing:
        raise BadLoadFile(f"{path}: missing column(s) {sorted(missing)}; expected timestamp,load[,temperature]")
    if df.empty:
        raise BadLoadFile(f"{path}: no rows after the header; expected timestamp,load[,temperature] lines")
    raw_ts = df["timestamp"].str.strip()
    utc = raw_ts.str.contains(r"[+-]\d\d:?\d\d$|Z$").any()
    ts = pd.to_datetime(raw_ts, utc=utc, errors="coerce", format="mixed")
    bad = np.flatnonzero(ts.isna().to_numpy())
    if len(bad):
        raise _bad(path, "timestamp", bad, df["timestamp"], "unparseable timestamps")
    ts = pd.DatetimeIndex(ts)
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tz is not None else ts
    blank = _blank(df["load"])
    load = _numeric(path, df["load"], "load")
    if blank.any():
        logger.warning("%s: %d blank loads kept as gaps (not zeros)", path, int(blank.sum()))
    raw = pd.DataFrame({"ts": ts, "load": load.to_numpy(float), "_gap": blank})
    if "temperature" in df:
        raw["temperature_c"] = _numeric(path, df["temperature"], "temperature").to_numpy()
    if raw["ts"].duplicated().any():  # a repeated stamp (e.g. the DST hour) is one reading, not two
        logger.warning("%s: %d repeated timestamps averaged", path, int(raw["ts"].duplicated().sum()))
        raw = raw.groupby("ts", as_index=False).agg(
            {"load": "mean", "_gap": "max", **({"temperature_c": "mean"} if "temperature_c" in raw else {})}
        )
    period = pd.DatetimeIndex(raw["ts"]).to_period(PERIOD[freq]).to_timestamp()
    out = raw.drop(columns="ts").assign(timestamp=period)
    cols = {"load": ("load", "sum"), "n": ("load", "size"), "gaps": ("_gap", "sum")}
    if "temperature_c" in out:
        cols["temperature_c"] = ("temperature_c", "mean")
    agg = out.groupby("timestamp", as_index=False).agg(**cols)
    usual = agg["n"].mode().iloc[0] if len(agg) else 0
    short = (agg["n"] < usual) if freq != "M" else pd.Series(False, index=agg.index)
    gap = (agg["gaps"] > 0) | short
    if gap.any():
        logger.warning("%s: %d %s periods with gaps or missing readings are gaps", path, int(gap.sum()), freq)
    agg.loc[gap, "load"] = np.nan
    return agg.drop(columns=["n", "gaps"])


def csv_panel(df: pd.DataFrame, freq: str) -> Panel:
    """One-series panel (``input:series``) from :func:`read_load_csv` output, on a regular grid."""
    long = df.assign(series_id="input:series", level="input", key="series")
    exog = ("temperature_c",) if "temperature_c" in df else ()
    return panel_from_long(long, freq=freq, value="load", exog=exog, attrs=("level", "key"))
