"""build_profiles, snapshots and the `features build` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.errors import ContractViolation, SnapshotNotFound
from features.profiles import FEATURE_DESCRIPTIONS, FEATURE_VERSION, FEATURES, build_profiles
from features.snapshots import build_manifest, latest_as_of, list_snapshots, read_snapshot, write_snapshot
from features.training_sets import build_arrears_training_set
from tests.conftest import make_tenant

AS_OF = pd.Timestamp("2024-01-31")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    t = make_tenant(n_customers=8)
    extra = pd.DataFrame(
        {
            "customer_id": ["NEW", "EMPTY"],
            "category": "residential",
            "tariff": "std",
            "region": "north",
            "area": "F1",
            "start_date": [pd.Timestamp("2024-06-01"), pd.Timestamp("2023-01-01")],
            "end_date": pd.NaT,
        }
    )
    return {**t, "customers": pd.concat([t["customers"], extra], ignore_index=True)}


@pytest.fixture(scope="module")
def profiles(tables) -> pd.DataFrame:
    return build_profiles(tables, as_of=AS_OF)


def test_one_row_per_known_customer_with_flags(tables, profiles):
    assert list(profiles.columns) == ["customer_id", *FEATURES]
    assert "NEW" not in set(profiles["customer_id"])  # starts after as_of
    empty = profiles.set_index("customer_id").loc["EMPTY"]
    assert not empty["has_readings"] and not empty["has_bills"]
    assert np.isnan(empty["kwh_mean_30d"]) and np.isnan(empty["arrears_amount"])
    assert empty["category"] == "residential" and empty["tenure_months"] > 12
    assert profiles.loc[profiles["customer_id"] != "EMPTY", ["has_readings", "has_bills"]].all().all()


def test_anything_dated_after_as_of_never_changes_profiles(tables, profiles):
    day = AS_OF + pd.Timedelta(days=1)
    utc_day = day.tz_localize("UTC")
    cut = {
        **tables,
        "readings": tables["readings"][tables["readings"]["reading_date"] < day],
        "bills": tables["bills"][tables["bills"]["issue_date"] < day],
        "payments": tables["payments"][tables["payments"]["paid_at"] < utc_day],
        "weather": tables["weather"][tables["weather"]["observed_at"] < utc_day],
    }
    for name, col in (("readings", "reading_date"), ("bills", "issue_date"), ("payments", "paid_at")):
        assert len(cut[name]) < len(tables[name]), f"the fixture has no {name} after as_of ({col})"
    pd.testing.assert_frame_equal(profiles, build_profiles(cut, as_of=AS_OF))


def test_training_rows_share_names_and_values_with_profiles(tables):
    training = build_arrears_training_set(tables)
    shared = [c for c in training.columns if c in FEATURES and c not in ("category", "tariff")]
    assert len(shared) > 30
    bill = training.iloc[-20]
    profile = build_profiles(tables, as_of=bill["issue_date"]).set_index("customer_id").loc[bill["customer_id"]]
    pd.testing.assert_series_equal(
        training.set_index("bill_id").loc[bill["bill_id"], shared].astype(float),
        profile[shared].astype(float),
        check_names=False,
    )


def test_missing_tables_and_bad_inputs(tables):
    only_customers = build_profiles({"customers": tables["customers"]}, as_of=AS_OF)
    assert not only_customers["has_readings"].any() and not only_customers["has_bills"].any()
    with pytest.raises(ValueError, match="as_of"):
        build_profiles(tables, as_of="2024-01-31")
    with pytest.raises(ContractViolation, match="reading_date"):
        build_profiles({**tables, "readings": tables["readings"].drop(columns="reading_date")}, as_of=AS_OF)


def test_snapshot_roundtrip_with_manifest(tmp_path, profiles):
    manifest = build_manifest(
        profiles,
        as_of=AS_OF,
        descriptions=FEATURE_DESCRIPTIONS,
        source_hashes={"readings": "abc"},
        source_rows={"readings": 10},
        feature_version=FEATURE_VERSION,
    )
    with pytest.raises(SnapshotNotFound):
        read_snapshot(tmp_path)
    folder = write_snapshot(profiles, manifest, tmp_path)
    assert folder.name == "2024-01-31" and latest_as_of(tmp_path) == AS_OF and list_snapshots(tmp_path) == [AS_OF]
    back, meta = read_snapshot(tmp_path)
    pd.testing.assert_frame_equal(back, profiles)
    assert meta["as_of"] == "2024-01-31" and meta["rows"] == len(profiles)
    assert [f["name"] for f in meta["features"]] == list(FEATURES)
    assert all(f["unit"] and f["description"] for f in meta["features"])
    with pytest.raises(SnapshotNotFound):
        read_snapshot(tmp_path, as_of=pd.Timestamp("2020-01-01"))
    with pytest.raises(ValueError, match="description"):
        build_manifest(
            profiles.assign(mystery=1.0),
            as_of=AS_OF,
            descriptions=FEATURE_DESCRIPTIONS,
            source_hashes={},
            source_rows={},
            feature_version="1",
        )


def test_features_build_command(tmp_path, tenant_dir, monkeypatch):
    from typer.testing import CliRunner

    from features.cli import features_app
    from features.settings import get_data_settings

    monkeypatch.setenv("METERWISE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("METERWISE_TENANT", "t1")
    get_data_settings.cache_clear()
    try:
        result = CliRunner().invoke(features_app, ["build", "--as-of", "2024-01-31", "--data-dir", str(tenant_dir)])
        assert result.exit_code == 0, result.output
        root = tmp_path / "var" / "features" / "t1"
        assert (root / "latest").read_text().strip() == "2024-01-31"
        manifest = json.loads((root / "2024-01-31" / "manifest.json").read_text())
        assert set(manifest["source_hashes"]) >= {"customers", "readings", "bills", "payments"}
        assert manifest["source_rows"]["readings"] > 0 and manifest["tenant"] == "t1"
        bad = CliRunner().invoke(features_app, ["build", "--as-of", "yesterday-ish", "--data-dir", str(tenant_dir)])
        assert bad.exit_code != 0
    finally:
        get_data_settings.cache_clear()


def test_synthetic_tenant_is_valid_and_categorical_ids_change_nothing():
    from features.contracts import validate
    from features.synthetic import generate_tenant

    tables = generate_tenant(40, days=120, end=pd.Timestamp("2024-06-30"), seed=3)
    for name, df in tables.items():
        assert validate(name, df, now=pd.Timestamp("2030-01-01", tz="UTC")).rows_in == len(df)
    as_of = pd.Timestamp("2024-06-30")
    categorical = build_profiles(tables, as_of=as_of)
    plain = {k: v.assign(customer_id=v["customer_id"].astype(str)) for k, v in tables.items() if k != "weather"}
    pd.testing.assert_frame_equal(categorical, build_profiles({**plain, "weather": tables["weather"]}, as_of=as_of))
    assert categorical["has_readings"].all() and categorical["has_bills"].all()
    assert categorical["hdd_slope_365d"].notna().all()


@pytest.mark.parametrize("order", ["shuffled", "by_customer"])
@pytest.mark.parametrize("ids", ["categorical", "plain"])
@pytest.mark.parametrize("chunk", [1, 7, 39])
def test_usage_built_in_customer_blocks_equals_one_pass(ids, chunk, order):
    from features.synthetic import generate_tenant

    tables = generate_tenant(40, days=120, end=pd.Timestamp("2024-06-30"), seed=5)
    if ids == "plain":
        tables = {
            k: v.assign(customer_id=v["customer_id"].astype(str)) if "customer_id" in v else v
            for k, v in tables.items()
        }
    readings = tables["readings"].sample(frac=1.0, random_state=0)  # blocks must not rely on row order
    if order == "by_customer":  # stored customer by customer: blocks are slices of the readings
        readings = readings.sort_values(["customer_id", "reading_date"], kind="stable")
    tables["readings"] = readings
    as_of = pd.Timestamp("2024-06-30")
    one_pass = build_profiles(tables, as_of=as_of, chunk_customers=1_000)
    pd.testing.assert_frame_equal(build_profiles(tables, as_of=as_of, chunk_customers=chunk), one_pass)
    assert one_pass["has_readings"].all() and len(one_pass) == 40


def test_chunk_size_must_be_positive(tables):
    with pytest.raises(ValueError, match="chunk_customers=0"):
        build_profiles(tables, as_of=AS_OF, chunk_customers=0)
