"""`meterwise data ...` and `meterwise features ...`; also the tenant and ``--as-of`` options every command shares.

Every command takes ``--tenant`` (or ``METERWISE_TENANT``; default ``demo``): the tenant names every folder
it reads or writes and every registered model (see :mod:`features.settings`). :func:`tenant_settings` refuses
a ``--data-dir`` that is not the tenant's own folder unless the tenant was named, so another export is never
written under the demo tenant by accident.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.errors import ContractViolation
from features.io import find_table, load_tenant
from features.progress import step
from features.quarantine import format_summary, new_run_id, run_logging
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
    as_json: Annotated[bool, typer.Option("--json", help="print the run's summary as JSON")] = False,
) -> None:
    """Validate every table of a tenant; print read / accepted / quarantined per table and per reason.

    Bad cells are named by CSV line (header = line 1), column, check and value as written, with a hint. With
    --quarantine, bad rows go to var/quarantine/<tenant>/<run-id>/ beside the run's summary, and the load goes on.
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
        _contract_error(err)
    if as_json:
        _, reasons = report.summary()
        payload = {"run_id": report.run_id, "counts": report.counts, "reasons": reasons.to_dict("records")}
        typer.echo(json.dumps(payload | {"quarantine_files": report.quarantine_files}, indent=2))
    else:
        typer.echo(format_summary(report))


def _contract_error(err: ContractViolation) -> None:
    """Log the one-paragraph message, show the failures (line, column, check, value, hint), exit 2."""
    logger.error("%s", err)
    shown = [c for c in ("line", "row", "column", "check", "value", "hint") if c in err.failures.columns]
    if "line" in shown and err.failures["line"].notna().all():
        shown.remove("row")
    typer.echo(err.failures[shown].head(50).to_string(index=False), err=True)
    raise typer.Exit(code=2) from None


@data_app.command("quality")
def quality_cmd(
    data_dir: DataDir = None,
    tenant: Tenant = None,
    as_of: AsOf = None,
    out: Annotated[Path | None, typer.Option(help="report folder (default: var/quality/<tenant>/<run-id>/)")] = None,
    mlflow: Annotated[bool, typer.Option(help="log the summary and the report to MLflow")] = True,
) -> None:
    """Meter-data quality per meter: completeness, gaps, flatlines, duplicated days, negatives, spikes, rollovers.

    Writes a table (quality.parquet, quality.csv), summary.json and quality.html (plots) and logs them to MLflow
    (experiment meterwise-<tenant>-data-quality). Thresholds: METERWISE_QUALITY_* (see features/quality.py).
    Bad rows do not stop it: they are quarantined under var/quarantine/<tenant>/<run-id>/ and counted.
    """
    settings = tenant_settings(tenant, data_dir)
    run_id = new_run_id()
    with run_logging(run_id):  # the load, the report and the MLflow run: one run id on every line
        _quality(settings, run_id, _day(as_of, "as_of"), out, mlflow=mlflow)


def _quality(
    settings: DataSettings, run_id: str, as_of: pd.Timestamp | None, out: Path | None, *, mlflow: bool
) -> None:
    from features import quality
    from features.quality_report import write_report
    from features.snapshots import resolve_as_of

    thresholds = quality.QualitySettings()
    wanted = ("customers", "readings", "meter_reads") if find_table(settings.data_dir, "meter_reads") else None
    try:
        tables, report = load_tenant(
            settings.data_dir,
            quarantine_dir=settings.quarantine_dir,
            tables=wanted or ("customers", "readings"),
            run_id=run_id,
        )
    except ContractViolation as err:
        _contract_error(err)
    day = resolve_as_of(tables, as_of)
    table = quality.check_readings(tables["readings"], thresholds, as_of=day)
    if "meter_reads" in tables:
        table = quality.add_register_reads(table, quality.check_register_reads(tables["meter_reads"]), thresholds)
    summary = quality.summarize(table) | {"as_of": day.strftime("%Y-%m-%d"), "run_id": report.run_id}
    folder = out or settings.var_dir / "quality" / settings.tenant / report.run_id
    paths = write_report(
        folder,
        tables["readings"],
        table,
        summary,
        threshold=thresholds.min_completeness,
        title=f"Meter-data quality: {settings.tenant}, as of {summary['as_of']}",
    )
    if mlflow:
        from training.quality_run import log_quality  # the one MLflow door lives in training (lazy: CLI edge)

        summary["mlflow_run_id"] = log_quality(settings.tenant, summary, Path(folder))
    typer.echo(quality_text(summary, paths))


def quality_text(summary: dict, paths: dict[str, str]) -> str:
    """A short plain-text summary for the terminal."""
    issues = ", ".join(f"{k} {v}" for k, v in summary["meters_per_issue"].items() if v) or "none"
    return (
        f"{summary['meters']} meters as of {summary['as_of']}, {summary['meters_with_issue']} with an issue "
        f"({issues}); completeness median {summary['completeness_median']}, p10 {summary['completeness_p10']}\n"
        f"report: {paths['html']}\ntable:  {paths['table']}"
    )


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
    policy = settings.data_dir / "collections.json"  # the tenant's collections policy travels with its tables
    if policy.is_file():
        shutil.copyfile(policy, Path(out) / policy.name)
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
            {k: manifest[k] for k in ("as_of", "rows", "profile_hash", "source_hashes", "quality") if k in manifest}
            | {"path": str(folder)},
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
