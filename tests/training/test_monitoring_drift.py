"""PSI, KS, share shift and migration counts against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.monitoring_drift import (
    binned_counts,
    drift_table,
    ks,
    migration_counts,
    psi,
    psi_from_counts,
    quantile_edges,
    share_psi,
    share_shift,
)

REF = pd.Series(np.arange(1.0, 11.0))  # 1..10: the median 5.5 splits it into 5 + 5


def test_two_quantile_bins_by_hand():
    # bins (-inf, 5.5], (5.5, inf), missing: reference 5/5/0, current 3/7/0
    cur = pd.Series([1.0, 2, 3, 7, 8, 9, 10, 11, 12, 13])
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert psi(REF, cur, n_bins=2) == pytest.approx(expected) == pytest.approx(0.169459, abs=1e-6)


def test_empty_bin_uses_the_stated_epsilon():
    cur = pd.Series([1.0] * 10)  # all in the lower bin: the upper bin's share 0 -> 1e-4
    expected = (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert psi(REF, cur, n_bins=2) == pytest.approx(expected) == pytest.approx(4.6043, abs=1e-4)


def test_identical_samples_have_zero_psi_and_ks():
    assert psi(REF, REF) == pytest.approx(0.0)
    assert ks(REF, REF)[0] == pytest.approx(0.0)


def test_a_value_on_an_edge_joins_the_lower_bin_and_missing_has_its_own():
    counts = binned_counts(REF, pd.Series([5.5, np.nan]), n_bins=2)
    assert counts["current"].tolist() == [1, 0, 1]
    assert counts["bin"].iloc[-1] == "missing"


def test_ties_give_fewer_bins_not_empty_duplicates():
    edges = quantile_edges(np.array([0.0] * 8 + [1.0, 2.0]), n_bins=10)
    assert np.all(np.diff(edges) > 0)


def test_categorical_psi_counts_unseen_categories_as_other():
    ref = pd.Series(["a"] * 5 + ["b"] * 5)
    counts = binned_counts(ref, pd.Series(["a"] * 5 + ["c"] * 5))
    assert counts.set_index("bin")["current"].to_dict() == {"a": 5, "b": 0, "other": 5}


def test_ks_by_hand():
    stat, pvalue = ks(pd.Series([1.0, 2, 3, 4]), pd.Series([3.0, 4, 5, 6]))
    assert stat == pytest.approx(0.5)
    assert 0 < pvalue <= 1


def test_psi_rejects_bad_inputs():
    with pytest.raises(ValueError, match="n_bins=1"):
        quantile_edges(np.arange(5.0), n_bins=1)
    with pytest.raises(ValueError, match="no finite values"):
        quantile_edges(np.array([np.nan]))
    with pytest.raises(ValueError, match="3 reference bins and 2 current"):
        psi_from_counts(np.ones(3), np.ones(2))


def test_drift_table_sorts_by_psi_and_names_missing_columns():
    ref = pd.DataFrame({"same": REF, "moved": REF})
    cur = pd.DataFrame({"same": REF, "moved": REF + 100})
    table = drift_table(ref, cur, ["same", "moved"])
    assert table["feature"].tolist() == ["moved", "same"]
    assert table.loc[0, "psi"] > 0.25 and table.loc[0, "ks"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="gone"):
        drift_table(ref, cur, ["gone"])


def test_grade_mix_shift_and_its_psi():
    shift = share_shift(pd.Series(list("AABB")), pd.Series(list("ABBB")))
    assert shift.set_index("label")["change"].to_dict() == pytest.approx({"A": -0.25, "B": 0.25})
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert share_psi(shift) == pytest.approx(expected)


def test_migration_counts_only_customers_in_both():
    prev = pd.Series({"c1": "x", "c2": "x", "c3": "y"})
    cur = pd.Series({"c1": "x", "c2": "y", "c4": "y"})
    out = migration_counts(prev, cur)
    assert out[["from_label", "to_label", "customers", "moved"]].values.tolist() == [
        ["x", "x", 1, False],
        ["x", "y", 1, True],
    ]
