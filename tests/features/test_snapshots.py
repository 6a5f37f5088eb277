"""The one default ``as_of`` rule, shared by every command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.snapshots import AS_OF_RULE, build_snapshot, default_as_of, latest_as_of, resolve_as_of


def test_default_as_of_is_the_last_reading_or_bill_issue_day(tenant):
    last_reading = tenant["readings"]["reading_date"].max()
    last_issue = tenant["bills"]["issue_date"].max()
    assert default_as_of(tenant) == max(last_reading, last_issue).normalize()
    later = tenant["bills"].iloc[[0]].assign(bill_id="late-one", issue_date=last_reading + pd.Timedelta(days=9))
    with_bill = {**tenant, "bills": pd.concat([tenant["bills"], later], ignore_index=True)}
    assert default_as_of(with_bill) == last_reading + pd.Timedelta(days=9)  # a later bill moves it
    pay = tenant["payments"].iloc[[0]].assign(payment_id="p-late", paid_at=pd.Timestamp("2030-01-01", tz="UTC"))
    with_payment = {**tenant, "payments": pd.concat([tenant["payments"], pay], ignore_index=True)}
    assert default_as_of(with_payment) == default_as_of(tenant)  # payments keep arriving: they do not move it
    with pytest.raises(ValueError, match="pass as_of"):
        default_as_of({"customers": tenant["customers"]})


def test_resolve_as_of_keeps_an_explicit_day(tenant):
    assert resolve_as_of(tenant, None) == default_as_of(tenant)
    assert resolve_as_of(tenant, pd.Timestamp("2024-01-31 15:00", tz="UTC")) == pd.Timestamp("2024-01-31")
    assert resolve_as_of(tenant, "2024-02-01") == pd.Timestamp("2024-02-01")


def test_every_job_defaults_to_the_same_rule(tenant):
    from training import arrears_job, segments_job

    day = default_as_of(tenant)
    assert arrears_job._latest_day(tenant) == day
    assert segments_job._latest_day(tenant) == day
    assert "reading" in AS_OF_RULE and "bill" in AS_OF_RULE


def test_build_snapshot_defaults_to_the_rule(tenant, tenant_dir: Path, tmp_path: Path):
    root = tmp_path / "features" / "t1"
    folder = build_snapshot(tenant_dir, root, tenant="t1")
    assert latest_as_of(root) == default_as_of(tenant) and folder.name == f"{default_as_of(tenant).date()}"


def test_snapshot_carries_the_segmenter_shapes_for_live_answers(tenant_dir: Path, tmp_path: Path):
    from features.shapes import WEEKLY_COLUMNS
    from serving.snapshots import read_snapshot_folder

    folder = build_snapshot(tenant_dir, tmp_path / "snap", tenant="t1")
    shapes = pd.read_parquet(folder / "shapes.parquet")
    assert shapes["customer_id"].is_unique and set(WEEKLY_COLUMNS) <= set(shapes.columns)
    snap = read_snapshot_folder(folder)  # what the service reads: profiles joined with the shapes by customer
    row = snap.frame.set_index("customer_id").loc[shapes["customer_id"].iloc[0], list(WEEKLY_COLUMNS)]
    assert row.to_numpy() == pytest.approx(shapes.loc[0, list(WEEKLY_COLUMNS)].to_numpy().astype(float))


def test_snapshot_flags_low_completeness_and_summarises_quality(tenant, tmp_path: Path):
    from features.io import write_table

    readings = tenant["readings"]
    gappy = readings["customer_id"].eq("C001") & readings["reading_date"].between("2023-07-01", "2023-09-30")
    folder = tmp_path / "data"
    for name, df in {**tenant, "readings": readings[~gappy]}.items():
        write_table(df, folder / f"{name}.parquet")
    snap = build_snapshot(folder, tmp_path / "snap", tenant="t1")
    profiles = pd.read_parquet(snap / "profiles.parquet").set_index("customer_id")
    assert profiles["low_completeness"].to_dict() == {c: c == "C001" for c in profiles.index}
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["quality"]["meters_per_issue"]["low_completeness"] == 1
    assert "low_completeness" in {f["name"] for f in manifest["features"]}
    meters = pd.read_parquet(snap / "quality" / "meters.parquet").set_index("customer_id")
    assert meters.loc["C001", "longest_gap_days"] == 92
