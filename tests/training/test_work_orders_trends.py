"""Emerging terms on synthetic counts: a planted rise is flagged in its period, steady rates are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.work_orders_trends import (
    benjamini_hochberg,
    class_keywords,
    emerging_terms,
    period_start,
    periodic_counts,
    term_counts,
)


def synthetic(spike: int = 0, weeks: int = 30, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """100 orders a week; 40 terms at steady rates (Binomial); term 'spike' jumps in week 20."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=weeks, freq="W-MON")
    rates = rng.uniform(0.02, 0.3, 40)
    counts = pd.DataFrame(rng.binomial(100, rates, (weeks, 40)), index=idx, columns=[f"t{i}" for i in range(40)])
    counts["spike"] = rng.binomial(100, 0.03, weeks)
    if spike:
        counts.loc[idx[20], "spike"] += spike
    return counts, pd.Series(100, index=idx)


def test_planted_rise_is_flagged_in_its_week_only():
    counts, totals = synthetic(spike=15)
    res = emerging_terms(counts, totals, window=8, alpha=0.01, min_count=5)
    flagged = res[res["emerging"]]
    assert flagged[["period", "term"]].values.tolist() == [[counts.index[20], "spike"]]


def test_steady_rates_raise_few_alarms_over_many_seeds():
    periods = alarms = 0
    for seed in range(20):
        counts, totals = synthetic(seed=seed)
        res = emerging_terms(counts, totals, window=8, alpha=0.01, min_count=5)
        per = res.groupby("period")["emerging"].any()
        periods, alarms = periods + len(per), alarms + int(per.sum())
    assert alarms / periods < 0.02


def test_the_minimum_count_and_ratio_guard_small_rises():
    counts, totals = synthetic(spike=15)
    res = emerging_terms(counts, totals, window=8, alpha=0.01, min_count=100)
    assert not res["emerging"].any()


def test_no_history_no_test():
    counts, totals = synthetic(weeks=5)
    assert emerging_terms(counts, totals, window=8).empty


def test_bh_matches_the_textbook():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    q = benjamini_hochberg(p)
    # sorted 0.01, 0.03, 0.04, 0.2 -> p*m/rank 0.04, 0.06, 0.0533, 0.2 -> running minimum from the top
    assert np.allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.2]) and np.isnan(q[4])


def test_period_start_and_counts_from_texts():
    when = pd.Series(pd.to_datetime(["2024-01-03", "2024-01-04", "2024-01-10", "2024-02-01"], utc=True))
    assert period_start(when, "week").dt.day.tolist() == [1, 1, 8, 29]
    assert period_start(when, "month").dt.month.tolist() == [1, 1, 1, 2]
    with pytest.raises(ValueError, match="freq"):
        period_start(when, "day")
    docs = ["停电 小区", "停电", "电费", "电费 小区"]
    counts, totals = periodic_counts(docs, when, "week", min_df=1, max_df=1.0)
    assert totals.tolist() == [2, 1, 0, 0, 1]
    assert counts.loc[pd.Timestamp("2024-01-01"), "停电"] == 2


def test_class_keywords_pick_distinctive_terms():
    docs = ["停电 小区 今天", "停电 抢修 今天", "停电 晚上", "电费 太高 今天", "电费 账单 今天", "电费 扣错"]
    groups = pd.Series(["outage"] * 3 + ["billing"] * 3)
    counts = term_counts(docs, groups, min_df=1, max_df=1.0)
    kw = class_keywords(counts, groups.value_counts(), top=1)
    assert dict(zip(kw["group"], kw["term"], strict=True)) == {"billing": "电费", "outage": "停电"}
