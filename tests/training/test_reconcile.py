"""Reconciliation: every method returns coherent forecasts (children sum to parents)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.reconcile import METHODS, projection, reconcile, shrink_covariance, summing_matrix


@pytest.fixture
def hierarchy():
    bottom = pd.DataFrame(
        {"key": [f"c{i}" for i in range(8)], "region": list("nnnsssww"), "socio_group": list("ABABABAB")}
    )
    return summing_matrix(bottom, levels=("region", "socio_group"))


def _base(ids, S, rng, h=5):
    truth = S @ rng.uniform(1, 5, (S.shape[1], h))
    noisy = truth + rng.normal(0, 0.5, truth.shape)
    stamps = pd.date_range("2024-01-01", periods=h, freq="D")
    long = pd.DataFrame(noisy, index=ids, columns=stamps).stack().rename("p50").reset_index()
    long.columns = ["series_id", "timestamp", "p50"]
    return long.assign(p10=long["p50"] - 1, p90=long["p50"] + 1)


def test_summing_matrix_layout(hierarchy):
    S, ids = hierarchy
    assert ids[:6] == ["total:all", "region:n", "region:s", "region:w", "socio_group:A", "socio_group:B"]
    assert S.shape == (6 + 8, 8)
    assert S[0].sum() == 8 and S[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("method", METHODS)
def test_reconciled_children_sum_to_parents(hierarchy, method):
    S, ids = hierarchy
    rng = np.random.default_rng(0)
    base = _base(ids, S, rng)
    resid = rng.normal(0, 1, (60, len(ids)))
    out = reconcile(base, S, ids, method=method, residuals=resid)
    wide = out.pivot(index="series_id", columns="timestamp", values="p50").reindex(ids).to_numpy()
    bottom = wide[-8:]
    np.testing.assert_allclose(S @ bottom, wide, atol=1e-6)
    # intervals keep their base width around the reconciled P50
    np.testing.assert_allclose(out["p90"] - out["p10"], 2.0, atol=1e-9)
    assert (
        base["p50"]
        .ne(
            out.set_index(["series_id", "timestamp"])
            .loc[list(zip(base["series_id"], base["timestamp"], strict=True)), "p50"]
            .to_numpy()
        )
        .any()
    )


def test_projection_keeps_coherent_forecasts_unchanged(hierarchy):
    S, _ = hierarchy
    coherent = S @ np.arange(1.0, 9.0)
    for method in ("ols", "wls_struct", "bottom_up"):
        np.testing.assert_allclose(projection(S, method) @ coherent, coherent, atol=1e-9)


def test_shrinkage_is_between_zero_and_one_and_handles_missing():
    rng = np.random.default_rng(3)
    e = rng.normal(0, 1, (40, 5))
    e[:10, 2] = np.nan
    W, lam = shrink_covariance(e)
    assert 0 <= lam <= 1 and np.all(np.linalg.eigvalsh(W) > 0)


def test_unknown_method_names_the_choices(hierarchy):
    S, _ = hierarchy
    with pytest.raises(ValueError, match="expected one of"):
        projection(S, "topdown")
