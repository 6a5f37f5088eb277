"""The Dask engine: the same :func:`~features.profiles.build_profiles`, run per customer partition.

Every feature of a customer depends only on that customer's rows (plus its region's weather, which
every partition receives whole), so splitting customers into partitions and concatenating the
per-partition results gives exactly the pandas result (checked in ``tests/features/test_distributed.py``).

Two entry points:

- :func:`build_profiles_dask`: tables already in memory are hashed by ``customer_id`` into
  partitions, scattered to a cluster and built there;
- :func:`build_profiles_partitioned`: out of core. Each partition is a folder of Parquet files
  (``customers``, ``readings``, ``bills``, ``payments``, optional ``interval_readings``) next to a shared
  ``weather.parquet``; a worker reads one folder, builds, writes ``<out_dir>/part-*.parquet`` and
  returns only a row count, so no machine ever holds more than a partition per worker.

Invariants
----------
Same as :func:`features.profiles.build_profiles`: nothing dated after ``as_of`` is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from features.asof import as_of_day
from features.profiles import build_profiles

logger = logging.getLogger(__name__)

CUSTOMER_TABLES = ("customers", "readings", "interval_readings", "bills", "payments")
SHARED_TABLES = ("weather",)


def partition_of(customer_id: pd.Series, n_partitions: int) -> np.ndarray:
    """Stable partition number of each customer id (hash of the id string, modulo `n_partitions`)."""
    ids = customer_id.astype(str).to_numpy()
    return (pd.util.hash_array(ids, categorize=True) % np.uint64(n_partitions)).astype(np.int64)


def partition_tables(tables: dict[str, pd.DataFrame], n_partitions: int) -> list[dict[str, pd.DataFrame]]:
    """Split customer-keyed tables by ``customer_id`` into `n_partitions` tenants (pure).

    Shared tables (weather) go whole into every partition. Row order within a table is kept.
    """
    if n_partitions < 1:
        raise ValueError(f"n_partitions={n_partitions}; expected >= 1")
    parts: list[dict[str, pd.DataFrame]] = [{} for _ in range(n_partitions)]
    for name, df in tables.items():
        if name in SHARED_TABLES or "customer_id" not in df:
            for p in parts:
                p[name] = df
            continue
        which = partition_of(df["customer_id"], n_partitions)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(n_partitions + 1))
        for i, p in enumerate(parts):
            p[name] = df.iloc[order[bounds[i] : bounds[i + 1]]].reset_index(drop=True)
    return parts


@contextmanager
def local_client(n_workers: int = 2) -> Iterator[object]:
    """A throw-away ``LocalCluster`` of `n_workers` single-threaded worker processes and its client."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _build_part(part: dict[str, pd.DataFrame], as_of: pd.Timestamp, late_days: int) -> pd.DataFrame:
    return build_profiles(part, as_of=as_of, late_days=late_days)


def build_profiles_dask(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp,
    late_days: int = 30,
    n_partitions: int | None = None,
    client: object | None = None,
    n_workers: int = 2,
) -> pd.DataFrame:
    """:func:`~features.profiles.build_profiles` on a Dask cluster, partitioned by ``customer_id``.

    Parameters
    ----------
    client : distributed.Client, optional
        Cluster to use; by default a local cluster of `n_workers` processes is started and closed.
    n_partitions : int, optional
        Default: 2 per worker.

    Returns
    -------
    pandas.DataFrame
        Identical to ``build_profiles(tables, as_of=as_of, late_days=late_days)``.
    """
    day = as_of_day(as_of)
    if not isinstance(tables, dict):
        raise ValueError(f"tables is {type(tables).__name__}; expected a dict of DataFrames")
    if client is None:
        with local_client(n_workers) as own:
            return build_profiles_dask(tables, as_of=day, late_days=late_days, n_partitions=n_partitions, client=own)
    n_workers = len(client.scheduler_info().get("workers", {})) or n_workers
    parts = partition_tables(tables, n_partitions or 2 * n_workers)
    futures = client.map(_build_part, client.scatter(parts), as_of=day, late_days=late_days)
    frames = [f for f in client.gather(futures) if len(f)]
    if not frames:
        return build_profiles({k: v.iloc[:0] for k, v in tables.items()}, as_of=day, late_days=late_days)
    out = pd.concat(frames, ignore_index=True).sort_values("customer_id", kind="stable").reset_index(drop=True)
    logger.info("dask profiles as of %s: %d customers from %d partitions", day.date(), len(out), len(parts))
    return out


def _read_part(folder: Path, weather_path: Path | None) -> dict[str, pd.DataFrame]:
    tables = {}
    for name in CUSTOMER_TABLES:
        path = folder / f"{name}.parquet"
        if path.exists():
            tables[name] = pd.read_parquet(path)
    if weather_path is not None and weather_path.exists():
        tables["weather"] = pd.read_parquet(weather_path)
    return tables


def _build_partition_folder(
    folder: str, weather_path: str | None, out_path: str, as_of: pd.Timestamp, late_days: int
) -> int:
    tables = _read_part(Path(folder), Path(weather_path) if weather_path else None)
    profiles = build_profiles(tables, as_of=as_of, late_days=late_days)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    profiles.to_parquet(out_path, index=False, compression="zstd")
    return len(profiles)


def build_profiles_partitioned(
    partition_dirs: list[Path],
    out_dir: Path,
    *,
    as_of: pd.Timestamp,
    weather_path: Path | None = None,
    late_days: int = 30,
    client: object | None = None,
    n_workers: int = 2,
) -> int:
    """Out-of-core build: one task per partition folder, each writing ``out_dir/part-NNNNN.parquet``.

    Returns the number of profile rows written. Memory per worker is one partition.
    """
    day = as_of_day(as_of)
    if client is None:
        with local_client(n_workers) as own:
            return build_profiles_partitioned(
                partition_dirs, out_dir, as_of=day, weather_path=weather_path, late_days=late_days, client=own
            )
    out_dir = Path(out_dir)
    futures = [
        client.submit(
            _build_partition_folder,
            str(folder),
            str(weather_path) if weather_path else None,
            str(out_dir / f"part-{i:05d}.parquet"),
            day,
            late_days,
            key=f"profiles-part-{i:05d}",
            pure=False,
        )
        for i, folder in enumerate(partition_dirs)
    ]
    rows = int(sum(client.gather(futures)))
    logger.info(
        "out-of-core profiles as of %s: %d rows in %d partitions -> %s", day.date(), rows, len(futures), out_dir
    )
    return rows
