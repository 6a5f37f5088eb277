"""The Dask engine gives exactly the pandas result on the same input."""

from __future__ import annotations

import pandas as pd
import pytest

from features.distributed import build_profiles_dask, build_profiles_partitioned, local_client, partition_tables
from features.profiles import build_profiles
from tests.conftest import make_tenant

AS_OF = pd.Timestamp("2024-01-31")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return make_tenant(n_customers=10)


@pytest.fixture(scope="module")
def client():
    with local_client(n_workers=2) as c:  # LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
        yield c


def test_partitions_cover_every_row_once(tables):
    parts = partition_tables(tables, 3)
    for name in ("customers", "readings", "bills", "payments"):
        assert sum(len(p[name]) for p in parts) == len(tables[name])
        ids = [set(p[name]["customer_id"]) for p in parts]
        assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])
    assert all(p["weather"] is tables["weather"] for p in parts)


def test_dask_equals_pandas(tables, client):
    expected = build_profiles(tables, as_of=AS_OF)
    got = build_profiles_dask(tables, as_of=AS_OF, client=client, n_partitions=4)
    pd.testing.assert_frame_equal(got, expected)  # exact, not approximate


def test_out_of_core_partitions_equal_pandas(tables, client, tmp_path):
    folders = []
    for i, part in enumerate(partition_tables(tables, 3)):
        folder = tmp_path / "parts" / f"p{i}"
        folder.mkdir(parents=True)
        for name, df in part.items():
            if name != "weather":
                df.to_parquet(folder / f"{name}.parquet", index=False)
        folders.append(folder)
    tables["weather"].to_parquet(tmp_path / "weather.parquet", index=False)
    rows = build_profiles_partitioned(
        folders, tmp_path / "out", as_of=AS_OF, weather_path=tmp_path / "weather.parquet", client=client
    )
    got = pd.read_parquet(tmp_path / "out").sort_values("customer_id").reset_index(drop=True)
    expected = build_profiles(tables, as_of=AS_OF)
    assert rows == len(expected)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_bad_as_of_fails_before_starting_a_cluster(tables):
    with pytest.raises(ValueError, match="as_of"):
        build_profiles_dask(tables, as_of="2024-01-31")
