"""Time-based splits: train on older rows, then early-stop, calibrate and validate on later slices.

No shuffled folds across time. :func:`time_split` cuts on calendar dates (never in the middle of one
date) into up to four consecutive periods -- train, early stopping, calibration, validation -- and,
given the date each row's label becomes known, drops every row whose outcome would not yet be
observable when the next period starts (an embargo against look-ahead leakage), and every row whose
outcome is not yet known at ``label_cutoff`` (the training ``as_of``: no censored labels anywhere).

Invariants
----------
- every train date < ``early_stopping_start`` <= every early-stopping date < ``calibration_start`` <=
  every calibration date < ``validation_start`` <= every validation date;
- with ``label_dates``: the label date of every row is before the start of the period after its own
  (train < early-stopping start, early stopping < calibration start, calibration < validation start),
  and, with ``label_cutoff``, every kept row's label date is on or before ``label_cutoff`` -- so the
  model never learns from, stops on, calibrates on or is judged on an outcome that was not settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class TimeSplit:
    """Row positions (into the frame that was split) of each period, and the period boundaries."""

    train: np.ndarray
    calibration: np.ndarray
    validation: np.ndarray
    calibration_start: pd.Timestamp
    validation_start: pd.Timestamp
    embargoed: int = 0  # rows dropped because their label was not yet known when it was needed
    early_stopping: np.ndarray = field(default_factory=lambda: _EMPTY)
    early_stopping_start: pd.Timestamp | None = None

    def summary(self) -> dict[str, object]:
        """JSON-friendly sizes and boundaries (logged as MLflow params)."""
        out: dict[str, object] = {
            "n_train": int(self.train.size),
            "n_early_stopping": int(self.early_stopping.size),
            "n_calibration": int(self.calibration.size),
            "n_validation": int(self.validation.size),
            "n_embargoed": int(self.embargoed),
            "calibration_start": str(self.calibration_start.date()),
            "validation_start": str(self.validation_start.date()),
        }
        if self.early_stopping_start is not None:
            out["early_stopping_start"] = str(self.early_stopping_start.date())
        return out


def _quantile_date(ordered: np.ndarray, share_after: float) -> pd.Timestamp:
    """The date from which roughly `share_after` of the (sorted) rows lie."""
    return pd.Timestamp(ordered[min(int(np.floor(ordered.size * (1 - share_after))), ordered.size - 1)])


def time_split(
    dates: pd.Series,
    *,
    label_dates: pd.Series | None = None,
    calibration_frac: float = 0.2,
    validation_frac: float = 0.2,
    early_stopping_frac: float = 0.0,
    early_stopping_start: pd.Timestamp | None = None,
    calibration_start: pd.Timestamp | None = None,
    validation_start: pd.Timestamp | None = None,
    label_cutoff: pd.Timestamp | None = None,
) -> TimeSplit:
    """Split rows into train / early-stopping / calibration / validation periods by `dates`.

    Parameters
    ----------
    dates : pandas.Series of datetime64
        When each row happened (for bills: the issue date).
    label_dates : pandas.Series of datetime64, optional
        The day each row's label becomes known (for bills: due date + late days). A row whose label
        date is on or after the start of the next period is dropped (counted in ``embargoed``).
    calibration_frac, validation_frac, early_stopping_frac : float
        Share of rows in each later period when the starts are not given. ``early_stopping_frac = 0``
        (the default) gives no early-stopping period (``early_stopping`` is empty).
    early_stopping_start, calibration_start, validation_start : pandas.Timestamp, optional
        Explicit boundaries; they override the fractions.
    label_cutoff : pandas.Timestamp, optional
        The training ``as_of``: rows (of any period) whose label date is after it are dropped (needs
        `label_dates`).

    Raises
    ------
    ValueError
        If the fractions are out of range, the boundaries are out of order, or train or validation
        is empty.
    """
    dates = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    if dates.isna().any():
        raise ValueError(f"dates holds {int(dates.isna().sum())} missing values; expected a date per row")
    fracs = (early_stopping_frac, calibration_frac, validation_frac)
    if not (min(fracs) >= 0 and validation_frac > 0 and sum(fracs) < 1):
        raise ValueError(
            f"early_stopping_frac={early_stopping_frac}, calibration_frac={calibration_frac}, "
            f"validation_frac={validation_frac}; expected all in [0, 1) with a positive validation share "
            "and a sum below 1"
        )
    if label_cutoff is not None and label_dates is None:
        raise ValueError("label_cutoff needs label_dates (the day each row's label becomes known)")
    ordered = np.sort(dates.to_numpy())
    val_start = pd.Timestamp(validation_start) if validation_start is not None else _quantile_date(ordered, fracs[2])
    cal_start = (
        pd.Timestamp(calibration_start)
        if calibration_start is not None
        else min(_quantile_date(ordered, fracs[1] + fracs[2]), val_start)
    )
    es_start = (
        pd.Timestamp(early_stopping_start)
        if early_stopping_start is not None
        else min(_quantile_date(ordered, sum(fracs)), cal_start)
        if early_stopping_frac > 0
        else cal_start
    )
    if not es_start <= cal_start <= val_start:
        raise ValueError(
            f"early_stopping_start={es_start.date()}, calibration_start={cal_start.date()}, "
            f"validation_start={val_start.date()}; expected them in this order"
        )
    d = dates.to_numpy()
    starts = [es_start, cal_start, val_start]
    bounds = [np.datetime64("NaT"), *[s.to_datetime64() for s in starts]]
    period = np.searchsorted(np.array(bounds[1:]), d, side="right")  # 0 train, 1 es, 2 cal, 3 validation
    keep = np.ones(d.size, dtype=bool)
    if label_dates is not None:
        known = pd.to_datetime(pd.Series(label_dates)).reset_index(drop=True).to_numpy()
        next_start = np.array([*bounds[1:], np.datetime64("NaT")])[period]
        keep &= np.where(period < 3, known < next_start, True)
        if label_cutoff is not None:
            keep &= known <= pd.Timestamp(label_cutoff).to_datetime64()
    parts = [np.flatnonzero((period == p) & keep) for p in range(4)]
    for name, rows in (("train", parts[0]), ("validation", parts[3])):
        if not rows.size:
            raise ValueError(
                f"the {name} period is empty (calibration_start={cal_start.date()}, validation_start="
                f"{val_start.date()}, {d.size} rows from {dates.min().date()} to {dates.max().date()}, "
                f"{int((~keep).sum())} embargoed)"
            )
    return TimeSplit(
        train=parts[0],
        calibration=parts[2],
        validation=parts[3],
        calibration_start=cal_start,
        validation_start=val_start,
        embargoed=int((~keep).sum()),
        early_stopping=parts[1],
        early_stopping_start=es_start if early_stopping_frac > 0 or early_stopping_start is not None else None,
    )
