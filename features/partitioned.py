"""Partitioned tenants on a Dask cluster: layout, cluster connection, per-partition tasks, streamed outputs.

Layout of a partitioned tenant (written by :func:`write_partitions`, or by an export job directly)::

    <data_dir>/part-00000/{customers,readings,bills,payments,weather,...}.parquet
    <data_dir>/part-00001/...

Each partition folder is a complete, valid tenant of its own: every customer-keyed table holds only
the rows of the partition's customers (hash of ``customer_id``, :func:`features.distributed.partition_of`)
and the shared tables (weather) are copied whole into each. So every per-customer step (validate,
profiles, shapes, scores) runs unchanged on one partition, on one worker, and the union of the per-partition
results equals the whole-tenant result; no process ever holds more than one partition per worker.

Outputs are partitioned too (``<name>/part-NNNNN.parquet``); :func:`concat_parts` streams them into the
single file the service reads, one part at a time.

Invariants
----------
A task reads only its own partition folder; nothing dated after ``as_of`` is read (as in
:func:`features.profiles.build_profiles`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.distributed import local_client, partition_tables

logger = logging.getLogger(__name__)
PART_GLOB = "part-*"
#: env var naming the scheduler every heavy command connects to (``--scheduler`` overrides it)
SCHEDULER_ENV = "METERWISE_DASK_SCHEDULER"


def partition_folders(data_dir: Path) -> list[Path]:
    """The partition folders of a partitioned tenant, in order; ``[]`` for a plain (one-folder) tenant."""
    return sorted(p for p in Path(data_dir).glob(PART_GLOB) if p.is_dir())


def write_partitions(tables: dict[str, pd.DataFrame], out_dir: Path, n_partitions: int) -> list[Path]:
    """Split a tenant by ``customer_id`` into `n_partitions` complete tenant folders under `out_dir`."""
    folders = []
    for i, part in enumerate(partition_tables(tables, n_partitions)):
        folder = Path(out_dir) / f"part-{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in part.items():
            df.to_parquet(folder / f"{name}.parquet", index=False, compression="zstd")
        folders.append(folder)
    logger.info("%d partitions -> %s", n_partitions, out_dir)
    return folders


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """A client of the cluster at `scheduler` (``tcp://host:port``), else of a throw-away local cluster.

    The remote cluster is left running on exit; only the client closes. ``ValueError`` when the scheduler
    does not answer within `timeout_s` seconds.
    """
    if not scheduler:
        with local_client(n_workers) as client:
            yield client
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout=timeout_s)
    except OSError as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        logger.info("Dask scheduler %s: %d workers", scheduler, workers)
        yield client


def run_partitions(client: Any, task: Callable[..., Any], folders: list[Path], name: str, **kwargs) -> list[Any]:
    """``task(folder, index, **kwargs)`` for each partition on the cluster; the small results in order.

    Large arguments (a fitted model) should be passed as futures from ``client.scatter(..., broadcast=True)``.
    """
    futures = [
        client.submit(task, str(folder), i, **kwargs, key=f"{name}-{i:05d}-{os.getpid()}", pure=False)
        for i, folder in enumerate(folders)
    ]
    return client.gather(futures)


def part_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / f"part-{index:05d}.parquet"


def concat_parts(parts: list[Path], dest: Path, *, sort_by: str | None = None) -> int:
    """Stream Parquet parts into one file `dest` (written to a temp name, then moved); returns the rows.

    Schemas are unified first (a column all-null in one part takes the type it has elsewhere). One part
    is in memory at a time; with `sort_by` each part is sorted by that column before it is written.
    """
    parts = [Path(p) for p in parts if Path(p).exists()]
    if not parts:
        raise FileNotFoundError(f"no parts to concatenate into {dest}")
    schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
    schema = schema.remove_metadata()
    tmp = Path(dest).with_name(f".{Path(dest).name}.{os.getpid()}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for p in parts:
            table = pq.read_table(p)
            if sort_by is not None:
                table = table.sort_by(sort_by)
            table = table.select(schema.names).cast(schema)
            writer.write_table(table)
            rows += table.num_rows
    os.replace(tmp, dest)
    return rows


def combined_hash(hashes: list[str]) -> str:
    """One hash of a partitioned output: of its parts' hashes, in partition order (first 16 hex digits)."""
    return hashlib.sha256(",".join(hashes).encode()).hexdigest()[:16]


def read_parts(out_dir: Path) -> pd.DataFrame:
    """All parts of a partitioned output as one frame (for tests and small tenants only)."""
    return pd.read_parquet(Path(out_dir))
