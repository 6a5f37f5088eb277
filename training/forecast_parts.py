"""The forecast series of a tenant: a one-folder tenant in this process, a partitioned one on the Dask cluster.

A partitioned tenant (:mod:`features.partitioned`, millions of customers) never meets in one process:
each task validates its partition and sums its readings per hierarchy key and period
(:func:`features.aggregates.period_sums`, with the customers covered per key); the client adds the sums up
(:func:`features.aggregates.combine_sums`) and builds the same panels as the one-process path
(:func:`training.forecast_tenant.panel_from_sums`). The hierarchy of a partitioned tenant stops above the
customers: total, region, category, socio_group and their ``cell`` bottom (one series per
region x category x socio_group), so reconciliation stays coherent without a series per customer.
Customer-level forecasts are for one-folder tenants.

Invariant: the panels equal those of :func:`training.forecast_tenant.tenant_panel` on the whole tenant
with :data:`PARTITIONED_LEVELS` (up to floating-point summation order; tested through a real cluster).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.aggregates import CELL, GROUPS, cell_keys, combine_sums, group_attrs, period_sums
from features.io import load_tenant
from features.partitioned import combined_hash, dask_client, partition_folders, run_partitions
from features.series import Panel
from features.settings import DataSettings
from training.forecast_tenant import covered_counts, interval_everyone, panel_from_sums, reading_source, tenant_panel

logger = logging.getLogger(__name__)
TABLES = ("customers", "readings", "interval_readings", "weather", "weather_forecasts")
SHARED = ("weather", "weather_forecasts")  # copied whole into every partition
#: the hierarchy of a partitioned tenant (no series per customer)
PARTITIONED_LEVELS = ("total", *GROUPS, CELL)


@dataclass
class TenantSeries:
    """Panels per freq (freqs without data left out), bottom attributes, data hash and partition count."""

    panels: Mapping[str, Panel]
    attrs: pd.DataFrame | None  # indexed by the bottom keys (customer ids, or cell keys), one column per group
    data_hash: str
    partitions: int = 0  # 0: a one-folder tenant


def tenant_series(data: DataSettings, freqs: tuple[str, ...]) -> TenantSeries:
    """The tenant's forecast panels for `freqs`, on the Dask cluster when the tenant is partitioned."""
    folders = partition_folders(data.data_dir)
    if folders:
        return _partitioned(data, folders, freqs)
    tables, report = load_tenant(data.data_dir, tables=TABLES)
    customers = tables["customers"].set_index("customer_id")
    attrs = group_attrs(customers)
    return TenantSeries(LazyPanels(tables, freqs), attrs, "-".join(report.hashes.get(t, "") for t in TABLES))


class LazyPanels(Mapping):
    """A one-folder tenant's panels, built when read and not kept: one frequency's panel in memory at a time
    (an hourly panel of every interval meter is the largest object of a forecast job)."""

    def __init__(self, tables: dict[str, pd.DataFrame], freqs: tuple[str, ...]):
        self.tables, self.freqs = tables, tuple(f for f in freqs if reading_source(tables, f) is not None)

    def __getitem__(self, freq: str) -> Panel:
        panel = tenant_panel(self.tables, freq) if freq in self.freqs else None
        if panel is None:
            raise KeyError(freq)
        return panel

    def __iter__(self) -> Iterator[str]:
        return iter(self.freqs)

    def __len__(self) -> int:
        return len(self.freqs)


def sums_part(folder: str, index: int, *, freqs: tuple[str, ...]) -> dict:
    """One partition's period sums, covered counts and interval coverage per freq, its cells and hashes.

    The first partition also returns the shared tables (weather), which every partition holds whole.
    """
    wanted = ("customers", "readings", "interval_readings", *(SHARED if index == 0 else ()))
    tables, report = load_tenant(Path(folder), tables=wanted)
    customers = tables["customers"]
    out: dict = {"freqs": {}, "hashes": dict(report.hashes), "shared": {t: tables.get(t) for t in SHARED}}
    for freq in freqs:
        source = reading_source(tables, freq)
        if source is not None:
            out["freqs"][freq] = (
                period_sums(source, customers, freq=freq, levels=PARTITIONED_LEVELS),
                covered_counts(source, customers, PARTITIONED_LEVELS),
                freq != "H" or interval_everyone(source, tables.get("readings")),
            )
    out["cells"] = group_attrs(customers).set_index(cell_keys(customers).rename("key"))
    return out


def _partitioned(data: DataSettings, folders: list[Path], freqs: tuple[str, ...]) -> TenantSeries:
    with dask_client(data.dask_scheduler, data.dask_workers) as client:
        parts = run_partitions(client, sums_part, folders, "forecast-sums", freqs=freqs)
    found = combine_parts(parts, freqs)
    logger.info(
        "forecast series of %d partitions: freqs %s, %d cells", len(parts), sorted(found.panels), len(found.attrs)
    )
    return found


def combine_parts(parts: list[dict], freqs: tuple[str, ...]) -> TenantSeries:
    """The tenant's series from the :func:`sums_part` results of all its partitions, in partition order."""
    shared = parts[0]["shared"]
    panels = {}
    for freq in freqs:
        found = [p["freqs"][freq] for p in parts if freq in p["freqs"]]
        if not found:
            continue
        sums = combine_sums([s for s, _, _ in found])
        covered = pd.concat([c for _, c, _ in found], ignore_index=True)
        everyone = all(e for _, _, e in found)
        panels[freq] = panel_from_sums(
            sums, freq, covered, everyone=everyone, weather=shared["weather"], forecasts=shared["weather_forecasts"]
        )
    cells = pd.concat([p["cells"] for p in parts])
    attrs = cells[~cells.index.duplicated()].sort_index()
    hashes = {t: combined_hash([p["hashes"].get(t, "") for p in parts]) for t in TABLES if t not in SHARED}
    hashes.update({t: parts[0]["hashes"].get(t, "") for t in SHARED})
    return TenantSeries(panels, attrs, "-".join(hashes[t] for t in TABLES), len(parts))


def data_stamp(data_dir: Path, *, partitioned: bool = False) -> tuple:
    """Name, mtime and size of the tenant's files (of every partition folder when `partitioned`): a cache key."""
    root = Path(data_dir)
    files = sorted(p for p in (root.glob("part-*/*") if partitioned else root.glob("*")) if p.is_file())
    return tuple((str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
