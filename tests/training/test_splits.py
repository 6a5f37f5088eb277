"""Time splits never let a later period leak into an earlier one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.splits import time_split


@pytest.fixture
def bills() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    issue = pd.Timestamp("2023-01-05") + pd.to_timedelta(rng.integers(0, 500, 3000), unit="D")
    frame = pd.DataFrame({"issue_date": issue}).sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame["label_date"] = frame["issue_date"] + pd.Timedelta(days=21 + 31)
    return frame


def test_no_validation_period_bill_in_training(bills):
    split = time_split(bills["issue_date"])
    train = bills["issue_date"].iloc[split.train]
    cal = bills["issue_date"].iloc[split.calibration]
    val = bills["issue_date"].iloc[split.validation]
    assert train.max() < split.calibration_start <= cal.min()
    assert cal.max() < split.validation_start <= val.min()
    assert not set(split.train) & set(split.validation)
    assert not set(split.calibration) & set(split.validation)
    # every row lands in exactly one period (no embargo asked for)
    assert len(split.train) + len(split.calibration) + len(split.validation) == len(bills)
    assert len(split.validation) == pytest.approx(0.2 * len(bills), rel=0.05)


def test_one_date_is_never_cut_in_two():
    dates = pd.Series(pd.to_datetime(["2024-01-01"] * 5 + ["2024-02-01"] * 5 + ["2024-03-01"] * 5))
    split = time_split(dates, calibration_frac=0.3, validation_frac=0.3)
    for part in (split.train, split.calibration, split.validation):
        assert dates.iloc[part].nunique() <= 1


def test_embargo_drops_rows_whose_label_is_known_too_late(bills):
    split = time_split(bills["issue_date"], label_dates=bills["label_date"])
    assert split.embargoed > 0
    assert (bills["label_date"].iloc[split.train] < split.calibration_start).all()
    assert (bills["label_date"].iloc[split.calibration] < split.validation_start).all()
    assert len(split.train) + len(split.calibration) + len(split.validation) + split.embargoed == len(bills)


def test_explicit_validation_start(bills):
    start = pd.Timestamp("2024-03-01")
    split = time_split(bills["issue_date"], validation_start=start)
    assert split.validation_start == start
    assert (bills["issue_date"].iloc[split.validation] >= start).all()
    assert (bills["issue_date"].iloc[split.validation].size) == (bills["issue_date"] >= start).sum()
    assert split.summary()["validation_start"] == "2024-03-01"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"validation_frac": 0.0}, "validation_frac", id="no_validation"),
        pytest.param({"calibration_frac": 0.6, "validation_frac": 0.5}, "sum below 1", id="too_much"),
        pytest.param({"validation_start": pd.Timestamp("2000-01-01")}, "train period is empty", id="empty_train"),
    ],
)
def test_bad_split_requests_are_named(bills, kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_split(bills["issue_date"], **kwargs)


def test_early_stopping_calibration_and_validation_each_get_their_own_embargoed_slice(bills):
    cutoff = bills["issue_date"].max() - pd.Timedelta(days=20)
    split = time_split(
        bills["issue_date"],
        label_dates=bills["label_date"],
        early_stopping_frac=0.15,
        calibration_frac=0.15,
        label_cutoff=cutoff,
    )
    parts = (split.train, split.early_stopping, split.calibration, split.validation)
    assert all(p.size for p in parts)
    assert sum(p.size for p in parts) + split.embargoed == len(bills)
    assert len(set().union(*map(set, parts))) == sum(p.size for p in parts)  # disjoint
    starts = (split.early_stopping_start, split.calibration_start, split.validation_start)
    for rows, nxt in zip(parts[:3], starts, strict=True):
        assert (bills["label_date"].iloc[rows] < nxt).all()  # settled before the next slice starts
    assert (bills["label_date"].iloc[split.validation] <= cutoff).all()  # no censored validation label
    issue = bills["issue_date"]
    assert issue.iloc[split.train].max() < split.early_stopping_start <= issue.iloc[split.early_stopping].min()
    assert split.summary()["n_early_stopping"] == split.early_stopping.size


def test_label_cutoff_needs_label_dates(bills):
    with pytest.raises(ValueError, match="label_dates"):
        time_split(bills["issue_date"], label_cutoff=pd.Timestamp("2024-01-01"))
