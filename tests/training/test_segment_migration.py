"""Segment migration: who moved where, and the features whose change explains the move."""

from __future__ import annotations

import numpy as np

from features.shapes import ANNUAL_COLUMNS
from tests.training.test_segmentation import WINTER, make_shapes
from training.segment_migration import COLUMNS, migration_frame, top_reasons, transitions
from training.segmentation import LoadShapeSegmenter


def test_a_customer_whose_winter_peak_disappears_moves_because_of_the_annual_shape():
    before = make_shapes(n_per_group=30, seed=0)
    model = LoadShapeSegmenter(k_range=(3, 3), n_init=4, random_state=0).fit(before)
    after = before.copy()
    heater = before.index[before["group"] == "winter"][0]
    after.loc[heater, list(ANNUAL_COLUMNS)] = 1 / WINTER * WINTER.mean()  # now a summer peak instead
    after.loc[heater, "level_log1p_kwh"] = before.loc[heater, "level_log1p_kwh"]
    out = migration_frame(model, before, model, after, from_version="1", to_version="2").set_index("customer_id")
    assert list(out.reset_index().columns) == list(COLUMNS)
    assert out["moved"].sum() == 1 and bool(out.loc[heater, "moved"])
    row = out.loc[heater]
    assert row["cause"] == "usage" and row["feature_1"] in ANNUAL_COLUMNS and "→" in row["explanation"]
    assert (out.loc[~out["moved"], "cause"] == "-").all()
    table = transitions(out.reset_index()).set_index("from_segment")
    assert int(np.trace(table.loc[table.columns].to_numpy())) == len(out) - 1
    assert top_reasons(out.reset_index())["movers"].sum() == 1


def test_a_new_model_alone_moves_customers_for_model_reasons():
    shapes = make_shapes(n_per_group=30, seed=0)
    three = LoadShapeSegmenter(k_range=(3, 3), n_init=4, random_state=0).fit(shapes)
    two = LoadShapeSegmenter(k_range=(2, 2), n_init=4, random_state=0).fit(shapes)
    out = migration_frame(three, shapes, two, shapes, from_version="1", to_version="2")
    assert out["moved"].any() and set(out.loc[out["moved"], "cause"]) == {"model"}
    assert out.loc[out["moved"], "feature_1"].notna().all()
