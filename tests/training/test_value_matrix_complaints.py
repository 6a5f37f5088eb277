"""Repeat complainers get a named handling in the service strategy, ahead of every other rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.value_matrix import REPEAT_COMPLAINER_STRATEGY, ValueCreditMatrix


def test_repeat_complainers_get_the_named_strategy():
    seg = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(40)], "segment_name": "flat", "kwh_mean_day": np.linspace(1, 40, 40)}
    )
    matrix = ValueCreditMatrix().fit(seg["kwh_mean_day"])
    before = matrix.assign(seg)
    flagged = seg.assign(is_repeat_complainer=[i in (0, 39) for i in range(40)])
    after = matrix.assign(flagged)
    assert (after.loc[[0, 39], "strategy"] == REPEAT_COMPLAINER_STRATEGY).all()
    assert (after.loc[1:38, "strategy"].to_numpy() == before.loc[1:38, "strategy"].to_numpy()).all()
    assert REPEAT_COMPLAINER_STRATEGY not in set(before["strategy"])
