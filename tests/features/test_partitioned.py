"""Partitioned tenants: complete partition folders, schema-unifying streamed concatenation, cluster errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.io import load_tenant
from features.partitioned import (
    combined_hash,
    concat_parts,
    dask_client,
    part_path,
    partition_folders,
    run_partitions,
    write_partitions,
)


def test_each_partition_is_a_complete_valid_tenant_and_together_they_are_the_tenant(tenant, tmp_path):
    folders = write_partitions(tenant, tmp_path / "parts", 3)
    assert partition_folders(tmp_path / "parts") == folders
    assert partition_folders(tmp_path) == []  # a plain folder is not partitioned
    loaded = [load_tenant(f)[0] for f in folders]  # each validates on its own (references included)
    for name in ("customers", "readings", "bills", "payments"):
        ids = [set(part[name]["customer_id"]) for part in loaded]
        assert sum(len(i) for i in ids) == len(set().union(*ids))  # no customer in two partitions
        assert sum(len(part[name]) for part in loaded) == len(tenant[name])
    assert all(len(part["weather"]) == len(tenant["weather"]) for part in loaded)  # shared table copied


def test_concat_unifies_an_all_null_column_and_sorts_within_parts(tmp_path):
    a = pd.DataFrame({"customer_id": ["b", "a"], "x": [1.0, 2.0], "note": ["n1", "n2"]})
    b = pd.DataFrame({"customer_id": ["c"], "x": [3.0], "note": [None]})  # null-typed in its own file
    a.to_parquet(part_path(tmp_path, 0))
    b.to_parquet(part_path(tmp_path, 1))
    rows = concat_parts(
        [part_path(tmp_path, 0), part_path(tmp_path, 1)], tmp_path / "all.parquet", sort_by="customer_id"
    )
    out = pd.read_parquet(tmp_path / "all.parquet")
    assert rows == 3 and out["customer_id"].tolist() == ["a", "b", "c"]
    assert out["note"].tolist()[:2] == ["n2", "n1"] and out["note"].isna().tolist() == [False, False, True]
    assert not list(tmp_path.glob(".*tmp"))  # written under a temp name, then moved
    with pytest.raises(FileNotFoundError, match="no parts"):
        concat_parts([tmp_path / "missing.parquet"], tmp_path / "none.parquet")


def test_run_partitions_returns_results_in_partition_order(tmp_path):
    from distributed import Client

    folders = [tmp_path / f"part-{i:05d}" for i in range(4)]
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        out = run_partitions(client, _name_and_index, folders, "t", suffix="!")
    assert out == [f"part-{i:05d}:{i}!" for i in range(4)]


def _name_and_index(folder: str, index: int, *, suffix: str) -> str:
    return f"{folder.rsplit('/', 1)[1]}:{index}{suffix}"


def test_an_unreachable_scheduler_is_a_clear_error():
    with (
        pytest.raises(ValueError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"),
        dask_client("tcp://127.0.0.1:9", timeout_s=2),
    ):
        pass


def test_combined_hash_depends_on_every_part_and_its_order():
    assert combined_hash(["a", "b"]) != combined_hash(["b", "a"]) != combined_hash(["a", "c"])
    assert len(combined_hash(["a"])) == 16 and np.all([c in "0123456789abcdef" for c in combined_hash(["a"])])
