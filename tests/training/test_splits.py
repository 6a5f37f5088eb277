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
