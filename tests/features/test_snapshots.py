"""The one default ``as_of`` rule, shared by every command."""

from __future__ import annotations

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
