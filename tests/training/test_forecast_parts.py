"""Forecast series of a partitioned tenant: per-partition sums, added up, give the whole tenant's panels."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.aggregates import CELL, combine_sums, period_sums
from features.io import load_tenant
from features.partitioned import write_partitions
from features.settings import DEMO_DIR, DataSettings
from training.forecast_parts import (
    PARTITIONED_LEVELS,
    LazyPanels,
    combine_parts,
    data_stamp,
    sums_part,
    tenant_series,
)
from training.forecast_tenant import hierarchy, tenant_panel

FREQS = ("D", "M", "H")


@pytest.fixture(scope="module")
def demo():
    tables, _ = load_tenant(DEMO_DIR, tables=("customers", "readings", "interval_readings", "weather"))
    return tables


@pytest.fixture(scope="module")
def folders(demo, tmp_path_factory):
    return write_partitions(demo, tmp_path_factory.mktemp("parts"), 3)


@pytest.fixture(scope="module")
def combined(folders):
    return combine_parts([sums_part(str(f), i, freqs=FREQS) for i, f in enumerate(folders)], FREQS)


@pytest.mark.parametrize("freq", FREQS)
def test_partition_sums_give_the_whole_tenant_panel(demo, combined, freq):
    whole = tenant_panel(demo, freq, PARTITIONED_LEVELS)
    got = combined.panels[freq]
    assert got.ids == whole.ids and got.index.equals(whole.index)
    np.testing.assert_allclose(got.y, whole.y, rtol=1e-12, equal_nan=True)
    for name in whole.exog:
        np.testing.assert_allclose(got.exog[name], whole.exog[name], rtol=1e-12, equal_nan=True)
    pd.testing.assert_frame_equal(got.series, whole.series)
    assert combined.partitions == 3


def test_cells_are_the_bottom_of_a_coherent_hierarchy(combined):
    panel = combined.panels["D"]
    S, ids = hierarchy(panel, combined.attrs)
    assert S is not None and set(ids) == set(panel.ids)  # every series is in the hierarchy
    levels = panel.series.set_index("series_id")["level"]
    assert {levels[i] for i in ids} == set(PARTITIONED_LEVELS)
    kwh = panel.y * panel.exog["n_meters"]  # kWh per period: the cells add up to every aggregate
    rows = [panel.ids.index(i) for i in ids]
    bottom = kwh[[panel.ids.index(i) for i, lvl in zip(ids, (levels[i] for i in ids), strict=True) if lvl == CELL]]
    last = panel.last_observed()
    np.testing.assert_allclose(S @ np.nan_to_num(bottom[:, last]), np.nan_to_num(kwh[rows, last]), rtol=1e-9)
    covered = panel.series.set_index("level")["customers"]
    assert covered[CELL].sum() == covered["total"] == covered["region"].sum()


def test_combining_is_order_free_and_keeps_every_key(demo):
    """Sums of two halves (in either order) equal the sums of the whole, row for row."""
    readings, customers = demo["readings"], demo["customers"]
    ids = customers["customer_id"].to_numpy()
    halves = [readings[readings["customer_id"].isin(ids[::2])], readings[~readings["customer_id"].isin(ids[::2])]]
    parts = [period_sums(h, customers, freq="D", levels=PARTITIONED_LEVELS) for h in halves]
    whole = period_sums(readings, customers, freq="D", levels=PARTITIONED_LEVELS).sums
    for order in (parts, parts[::-1]):
        got = combine_sums(order).sums
        pd.testing.assert_frame_equal(got.drop(columns="kwh"), whole.drop(columns="kwh"))
        np.testing.assert_allclose(got["kwh"], whole["kwh"], rtol=1e-12)


def test_the_service_never_aggregates_a_partitioned_tenant_inside_a_request(folders, monkeypatch):
    """``cluster=False`` (the API): the version's own issue comes back and no cluster job is started."""
    import training.forecast_issue as issue

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster job was started")

    monkeypatch.setattr(issue, "tenant_series", no_cluster)
    bundle = SimpleNamespace(engines_={"D": {}}, meta_={})
    data = DataSettings(data_dir=folders[0].parent, tenant="parts")
    assert issue.refresh_bundle(bundle, data, cluster=False) is bundle
    with pytest.raises(AssertionError, match="cluster job"):  # the control: the CLI's path does aggregate
        issue.refresh_bundle(bundle, data)


def test_the_refresh_key_sees_a_change_inside_a_partition(folders):
    root = folders[0].parent
    before = data_stamp(root, partitioned=True)
    assert len(before) == sum(len([p for p in f.iterdir() if p.is_file()]) for f in folders)
    target = folders[1] / "readings.parquet"
    target.write_bytes(target.read_bytes())  # rewritten: a new mtime
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert data_stamp(root, partitioned=True) != before
    assert data_stamp(root) == ()  # the partition folders are not files of a plain tenant


def test_a_one_folder_tenant_builds_one_panel_at_a_time(demo):
    found = tenant_series(DataSettings(data_dir=DEMO_DIR, tenant="demo"), ("D", "H"))
    assert isinstance(found.panels, LazyPanels) and found.partitions == 0 and set(found.panels) == {"D", "H"}
    assert found.panels["D"] is not found.panels["D"]  # built when read, not kept
    assert found.panels["D"].ids == tenant_panel(demo, "D").ids  # all levels, customers included
    assert found.panels.get("M") is None  # not asked for
