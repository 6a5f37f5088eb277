"""`meterwise data ...` and `meterwise features ...`; also the tenant and ``--as-of`` options every command shares.

Every command takes ``--tenant`` (or ``METERWISE_TENANT``; default ``demo``): the tenant names every folder
it reads or writes and every registered model (see :mod:`features.settings`). :func:`tenant_settings` refuses
a ``--data-dir`` that is not the tenant's own folder unless the tenant was named, so another export is never
written under the demo tenant by accident.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.errors import ContractViolation
from features.io import load_tenant
from features.progress import step
from features.settings import DEMO_DIR, DataSettings, settings_error
from features.snapshots import AS_OF_RULE

logger = logging.getLogger(__name__)
data_app = typer.Typer(help="Check a tenant's exported tables against the data contracts.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option(help="folder with the tenant's tables (customers, readings, ...) (default: data/<tenant>/)"),
]
Tenant = Annotated[
    str | None,
    typer.Option(
        help="tenant: its folders (var/*/<tenant>/, models/<tenant>/) and models (meterwise-<tenant>-<kind>) "
        "(default: METERWISE_TENANT or demo)",
        show_default=False,
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Dask scheduler tcp://host:port to run on (implies --engine dask); default: a local cluster",
        envvar="METERWISE_DASK_SCHEDULER",
        show_default=False,
    ),
]
AsOf = Annotated[str | None, typer.Option(help=f"cutoff day YYYY-MM-DD (default: {AS_OF_RULE})", show_default=False)]


def tenant_settings(
    tenant: str | None = None, data_dir: Path | None = None, *, writes: bool = True, reads: bool = True, **updates
) -> DataSettings:
    """Data settings for a command: ``--tenant`` over ``METERWISE_TENANT``; ``--data-dir`` over the tenant's folder.

    Raises ``typer.BadParameter`` for an invalid tenant name; for a command that `writes`, when the data
    comes from another folder than the demo's while no tenant was named (its snapshots, models and scores
    would land in the demo tenant); for a command that `reads` the tables, when their folder does not exist.
    """
    try:
        base = DataSettings(**({"tenant": tenant} if tenant is not None else {}))
    except ValueError as err:
        raise typer.BadParameter(settings_error(err), param_hint="--tenant") from None
    named = tenant is not None or "tenant" in base.model_fields_set
    folder = Path(data_dir) if data_dir is not None else base.data_dir
    if writes and not named and folder.resolve() != DEMO_DIR.resolve():
        raise typer.BadParameter(
            f"{folder} is not the demo tenant's data; name its tenant with --tenant NAME (or METERWISE_TENANT) "
            "so its snapshots, models and scores do not overwrite the demo's",
            param_hint="--tenant",
        )
    if reads and not folder.is_dir():
        raise typer.BadParameter(
            f"{folder} does not exist: tenant {base.tenant!r} reads data/{base.tenant}/ unless --data-dir "
            "(or METERWISE_DATA_DIR) names its folder",
            param_hint="--data-dir",
        )
    return base.model_copy(update={"data_dir": folder, **{k: v for k, v in updates.items() if v is not None}})


@data_app.command("validate")
def validate_cmd(
    data_dir: DataDir = None,
    tenant: Tenant = None,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="write bad rows to files and go on")] = False,
    now: Annotated[str | None, typer.Option(help="dates after this are 'in the future' (default: now)")] = None,
) -> None:
    """Validate every table of a tenant; print row counts (read / accepted / quarantined) per table.

    Bad rows go to var/quarantine/<tenant>/ with --quarantine.
    """
    settings = tenant_settings(tenant, data_dir, writes=quarantine)
    folder = settings.data_dir
    try:
        _, report = load_tenant(
            folder,
            now=pd.Timestamp(now) if now else None,
            quarantine_dir=settings.quarantine_dir if quarantine else None,
        )
    except ContractViolation as err:
        logger.error("%s", err)
        typer.echo(err.failures.head(50).to_string(index=False), err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps({"counts": report.counts, "quarantine_files": report.quarantine_files}, indent=2))


@data_app.command("rebuild-demo")
def rebuild_demo_cmd(
    shared_data: Annotated[Path, typer.Option(help="the shared public data folder")] = Path("../shared/data"),
    out_dir: Annotated[Path, typer.Option(help="where to write the tenant")] = DEMO_DIR,
    households: Annotated[int, typer.Option(help="households to sample across ACORN groups")] = 300,
) -> None:
    """Rebuild the embedded demo tenant from ../shared/data (deterministic; prints table hashes)."""
    from features.demo import build_demo

    if not (shared_data / "london_smart_meters").is_dir():
        raise typer.BadParameter(
            f"{shared_data} has no london_smart_meters/ folder: rebuilding needs the shared public data; "
            f"the embedded demo in {DEMO_DIR} works without it",
            param_hint="--shared-data",
        )
    typer.echo(json.dumps(build_demo(shared_data, out_dir, n_households=households), indent=2))


@data_app.command("partition")
def partition_cmd(
    out: Annotated[Path, typer.Option(help="folder for the partitioned tenant (part-NNNNN/ folders)")],
    partitions: Annotated[int, typer.Option(min=1, help="partitions (by hash of customer_id)")] = 8,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """Validate a tenant and write it as partitions by customer, each a complete tenant folder.

    Every Dask command (``--engine dask`` / ``--scheduler``) then reads the partitions out of core:
    ``--data-dir OUT``.
    """
    from features.partitioned import write_partitions

    settings = tenant_settings(tenant, data_dir, writes=False)
    try:
        tables, _ = load_tenant(settings.data_dir)
    except ContractViolation as err:
        logger.error("%s", err)
        raise typer.Exit(code=2) from None
    folders = write_partitions(tables, out, partitions)
    typer.echo(json.dumps({"partitions": len(folders), "path": str(out)}))


features_app = typer.Typer(help="Build point-in-time feature snapshots and training sets.", no_args_is_help=True)


def _day(value: str | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"{name}={value!r}; expected a date like 2014-02-28") from None


@features_app.command("build")
def build_cmd(
    as_of: AsOf = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
    late_days: Annotated[int | None, typer.Option(help="days after due that make a bill late")] = None,
    engine: Annotated[
        str, typer.Option(help="pandas, or dask (partitioned by customer; a part-* tenant is read out of core)")
    ] = "pandas",
    workers: Annotated[int, typer.Option(help="Dask workers of the local cluster (without --scheduler)")] = 2,
    scheduler: Scheduler = None,
) -> None:
    """Build profiles as of a day and write var/features/<tenant>/<as_of>/{profiles.parquet,manifest.json}."""
    from features.snapshots import build_snapshot

    settings = tenant_settings(tenant, data_dir)
    with step("features build"):  # a ContractViolation: one line from the root CLI (`data validate` lists all)
        folder = build_snapshot(
            settings.data_dir,
            settings.snapshot_dir,
            as_of=_day(as_of, "as_of"),
            tenant=settings.tenant,
            late_days=settings.late_days if late_days is None else late_days,
            engine="dask" if scheduler else engine,
            n_workers=workers,
            scheduler=scheduler,
        )
    manifest = json.loads((folder / "manifest.json").read_text())
    typer.echo(
        json.dumps(
            {k: manifest[k] for k in ("as_of", "rows", "profile_hash", "source_hashes")} | {"path": str(folder)},
            indent=2,
        )
    )


@features_app.command("training-set")
def training_set_cmd(
    data_dir: DataDir = None,
    tenant: Tenant = None,
    label_as_of: Annotated[str | None, typer.Option(help="when outcomes are read (default: latest data)")] = None,
    late_days: Annotated[int | None, typer.Option(help="days after due that make a bill late")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Parquet file (default: var/features/<tenant>/arrears_training.parquet)")
    ] = None,
) -> None:
    """Write the arrears training set: one row per bill, features as of its issue date, label after."""
    from features.io import write_table
    from features.training_sets import build_arrears_training_set

    settings = tenant_settings(tenant, data_dir)
    tables, _ = load_tenant(settings.data_dir)
    frame = build_arrears_training_set(
        tables,
        late_days=settings.late_days if late_days is None else late_days,
        label_as_of=_day(label_as_of, "label_as_of"),
    )
    path = write_table(frame, out or settings.snapshot_dir / "arrears_training.parquet")
    typer.echo(json.dumps({"path": str(path), "rows": len(frame), "label_known": int(frame["label_known"].sum())}))
