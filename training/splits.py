"""Time-based splits: train on older rows, calibrate on a later slice, validate on the newest one.

No shuffled folds across time. :func:`time_split` cuts on calendar dates (never in the middle of one
date) and, given the date each row's label becomes known, drops rows whose outcome would not yet be
observable when the next period starts (an embargo against look-ahead leakage).

Invariants
----------
- every train date < ``calibration_start`` <= every calibration date < ``validation_start`` <= every
  validation date;
- with ``label_dates``: every train label date < ``calibration_start`` and every calibration label date
  < ``validation_start``, so the model never learns from an outcome that happened after the period it
  is judged on began.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    """Row positions (into the frame that was split) of each period, and the period boundaries."""

    train: np.ndarray
    calibration: np.ndarray
    validation: np.ndarray
    calibration_start: pd.Timestamp
    validation_start: pd.Timestamp
    embargoed: int = 0  # rows dropped because their label was not yet known at the next period's start

    def summary(self) -> dict[str, object]:
        """JSON-friendly sizes and boundaries (logged as MLflow params)."""
        return {
            "n_train": int(self.train.size),
            "n_calibration": int(self.calibration.size),
            "n_validation": int(self.validation.size),
            "n_embargoed": int(self.embargoed),
            "calibration_start": str(self.calibration_start.date()),
            "validation_start": str(self.validation_start.date()),
        }


def _cut_dates(dates: pd.Series, calibration_frac: float, validation_frac: float) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Boundaries so that roughly the given fractions of rows fall in the later periods."""
    ordered = np.sort(dates.to_numpy())
    n = ordered.size
    validation_start = pd.Timestamp(ordered[int(np.floor(n * (1 - validation_frac)))])
    calibration_start = pd.Timestamp(ordered[int(np.floor(n * (1 - validation_frac - calibration_frac)))])
    return calibration_start, validation_start


def time_split(
    dates: pd.Series,
    *,
    label_dates: pd.Series | None = None,
    calibration_frac: float = 0.2,
    validation_frac: float = 0.2,
    calibration_start: pd.Timestamp | None = None,
    validation_start: pd.Timestamp | None = None,
) -> TimeSplit:
    """Split rows into train / calibration / validation periods by `dates`.

    Parameters
    ----------
    dates : pandas.Series of datetime64
        When each row happened (for bills: the issue date).
    label_dates : pandas.Series of datetime64, optional
        When each row's label became known (for bills: due date + late days). Train rows whose label
        date is on or after ``calibration_start`` and calibration rows whose label date is on or after
        ``validation_start`` are dropped (counted in ``embargoed``).
    calibration_frac, validation_frac : float
        Share of rows in the calibration and validation periods when the starts are not given.
    calibration_start, validation_start : pandas.Timestamp, optional
        Explicit boundaries; they override the fractions.

    Raises
    ------
    ValueError
        If the fractions are out of range, the boundaries are out of order, or a period is empty.
    """
    dates = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    if dates.isna().any():
        raise ValueError(f"dates holds {int(dates.isna().sum())} missing values; expected a date per row")
    if not (0 <= calibration_frac < 1 and 0 < validation_frac < 1 and calibration_frac + validation_frac < 1):
        raise ValueError(
            f"calibration_frac={calibration_frac}, validation_frac={validation_frac}; expected both in [0, 1) "
            "with a positive validation share and a sum below 1"
        )
    auto_cal, auto_val = _cut_dates(dates, calibration_frac, validation_frac)
    val_start = pd.Timestamp(validation_start) if validation_start is not None else auto_val
    cal_start = pd.Timestamp(calibration_start) if calibration_start is not None else min(auto_cal, val_start)
    if cal_start > val_start:
        raise ValueError(f"calibration_start={cal_start} is after validation_start={val_start}; expected before")
    d = dates.to_numpy()
    train, cal, val = d < cal_start.to_datetime64(), (d >= cal_start.to_datetime64()), d >= val_start.to_datetime64()
    cal &= ~val
    embargoed = 0
    if label_dates is not None:
        known = pd.to_datetime(pd.Series(label_dates)).reset_index(drop=True).to_numpy()
        late_train = train & ~(known < cal_start.to_datetime64())
        late_cal = cal & ~(known < val_start.to_datetime64())
        embargoed = int(late_train.sum() + late_cal.sum())
        train &= ~late_train
        cal &= ~late_cal
    for name, mask in (("train", train), ("validation", val)):
        if not mask.any():
            raise ValueError(
                f"the {name} period is empty (calibration_start={cal_start.date()}, "
                f"validation_start={val_start.date()}, {d.size} rows from {dates.min().date()} to {dates.max().date()})"
            )
    return TimeSplit(np.flatnonzero(train), np.flatnonzero(cal), np.flatnonzero(val), cal_start, val_start, embargoed)
