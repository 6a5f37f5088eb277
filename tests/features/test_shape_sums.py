"""The dense (sorted input) load-shape sums are bit-identical to the general grouped sums."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from features import shape_sums, shapes
from features.shape_sums import _bincount_sums, customer_sums
from tests.conftest import make_tenant

AS_OF = pd.Timestamp("2024-05-31")


def _adversarial() -> dict[str, pd.DataFrame]:
    """Gaps, NaN / zero / negative-zero kWh, readings after the cutoff, an unknown region, missing weather days."""
    tenant = make_tenant(n_customers=40, days=420, seed=3)
    rng = np.random.default_rng(7)
    r = tenant["readings"]
    r = r[rng.random(len(r)) > 0.15].copy()  # random missing days
    r.loc[rng.random(len(r)) < 0.02, "kwh"] = np.nan
    r.loc[rng.random(len(r)) < 0.05, "kwh"] = 0.0
    r.loc[r["customer_id"].eq("C004"), "kwh"] = -0.0  # a mean of zero: relative kWh is NaN
    r.loc[r["customer_id"].eq("C005"), "kwh"] *= 1e12  # large values: any change of order would show
    r = r[~(r["customer_id"].eq("C006") & (r.index % 50 != 0))]  # a handful of readings
    customers = tenant["customers"].copy()
    customers.loc[customers["customer_id"].eq("C007"), "region"] = "nowhere"  # no weather
    w = tenant["weather"]
    day = w["observed_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    w = w[~((day >= "2023-12-01") & (day < "2024-01-10") & w["region"].eq("north"))]  # a gap: NaN degree days
    return {"readings": r.reset_index(drop=True), "customers": customers, "weather": w.reset_index(drop=True)}


@pytest.mark.parametrize("block", [1, 7, 25_000])
def test_dense_sums_equal_grouped_sums_bit_for_bit(block):
    t = _adversarial()
    r = t["readings"].dropna(subset=["kwh"])
    codes, ids = shapes._sorted_codes(r["customer_id"], np.ones(len(r), dtype=bool), True)
    days = r["reading_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    first = int(days.max()) - 364
    keep = days >= first
    codes, days, kwh = codes[keep], days[keep], r["kwh"].to_numpy()[keep]
    rng = np.random.default_rng(0)
    dd = np.where(rng.random((3, 365)) < 0.1, np.nan, rng.uniform(0, 20, (3, 365)))
    degree_days = (dd, rng.integers(0, 3, len(ids)))
    got = customer_sums(codes, days, kwh, len(ids), first, 365, degree_days, block_customers=block)
    col = np.arange(first, first + 365)
    month = col.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    want = _bincount_sums(codes, days - first, kwh, len(ids), (col + 3) % 7, month, degree_days)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k, strict=True)
        assert got[k].flags.c_contiguous, k


@pytest.mark.parametrize("ids", ["str", "object", "category"])
def test_shapes_same_with_and_without_the_dense_path(monkeypatch, ids):
    t = _adversarial()
    t["readings"] = t["readings"].astype({"customer_id": ids})
    kwargs = {"as_of": AS_OF, "weather": t["weather"], "customers": t["customers"]}
    dense = shapes.build_shapes(t["readings"], **kwargs)
    monkeypatch.setattr(shapes, "customer_sums", functools.partial(shape_sums.customer_sums, block_customers=0))
    general = shapes.build_shapes(t["readings"], **kwargs)
    pd.testing.assert_frame_equal(dense, general, check_exact=True)
    assert dense["temp_slope_hdd"].notna().sum() > 30  # the degree-day sums are exercised
    assert np.isnan(dense.loc[["C004", "C007"], "temp_slope_hdd"]).all()  # zero mean; no weather for the region


def test_a_repeated_day_is_still_counted_twice():
    """Two readings of one customer on one day are not a dense grid cell: the general path sums both."""
    r = _adversarial()["readings"]
    extra = r[r["reading_date"].eq(AS_OF) & r["kwh"].notna()].iloc[[0]]
    twice = pd.concat([r, extra]).sort_values(["customer_id", "reading_date"], kind="stable")
    got = shapes.build_shapes(twice.reset_index(drop=True), as_of=AS_OF)["days_observed"]
    want = shapes.build_shapes(r, as_of=AS_OF)["days_observed"]
    assert (got - want).to_dict() == {c: int(c == extra["customer_id"].iloc[0]) for c in want.index}
