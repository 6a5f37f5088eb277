"""``meterwise collections ...``: the day's alert list, an audit lookup, the audit schema; one sub-app to mount::

app.add_typer(collections_app, name="collections")
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pandas as pd
import typer

from features.cli import AsOf, DataDir, Tenant, tenant_settings
from features.errors import MeterwiseError

logger = logging.getLogger(__name__)
app = typer.Typer(help="collections: balance alerts, the decision audit trail, customer reports", no_args_is_help=True)


def _fail(err: Exception) -> None:
    logger.error("%s", err)
    raise typer.Exit(code=2) from None


@app.command("alerts")
def alerts_cmd(as_of: AsOf = None, data_dir: DataDir = None, tenant: Tenant = None) -> None:
    """Write the day's alert list: low balances (7 / 3 / 1 days of credit left) and bill-shock warnings."""
    from training.alerts_job import write_alerts

    data = tenant_settings(tenant, data_dir)
    try:
        path, alerts = write_alerts(data, as_of=pd.Timestamp(as_of) if as_of else None)
    except (MeterwiseError, ValueError) as err:
        _fail(err)
    counts = alerts["level"].value_counts().to_dict()
    typer.echo(f"{len(alerts)} alerts {json.dumps(counts)} -> {path} (+ .csv; GET /v1/alerts serves latest)")


@app.command("decisions")
def decisions_cmd(
    customer_id: Annotated[str, typer.Argument(help="customer whose decisions to show")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    tenant: Tenant = None,
) -> None:
    """Every arrears decision served for one customer (API and batch runs), newest first, as JSON lines."""
    from training.collections_settings import load_collections_settings
    from training.decisions import DecisionLog

    data = tenant_settings(tenant, None, writes=False)
    collections = load_collections_settings(data.data_dir)
    log = DecisionLog.open(collections.audit_url(data.var_dir), synchronous=collections.audit_synchronous)
    try:
        for row in log.for_customer(customer_id, limit=limit):
            typer.echo(json.dumps(row, default=str, ensure_ascii=False))
    finally:
        log.close()


@app.command("migrate")
def migrate_cmd(tenant: Tenant = None) -> None:
    """Create or upgrade the decision audit schema (Alembic) in METERWISE_DATABASE_URL or var/decisions.db."""
    from training.collections_settings import load_collections_settings
    from training.decisions import migrate, open_engine

    data = tenant_settings(tenant, None, writes=False)
    url = load_collections_settings(data.data_dir).audit_url(data.var_dir)
    engine = open_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    typer.echo(f"audit schema up to date in {engine.url.render_as_string(hide_password=True)}")


@app.command("views")
def views_cmd(as_of: AsOf = None, data_dir: DataDir = None, tenant: Tenant = None) -> None:
    """Write every customer's key-account view (load profiles, peak kW, load factor, key-account flag)."""
    from training.customer_views_job import write_customer_views

    data = tenant_settings(tenant, data_dir)
    try:
        path, views = write_customer_views(data, as_of=pd.Timestamp(as_of) if as_of else None)
    except (MeterwiseError, ValueError) as err:
        _fail(err)
    typer.echo(f"{len(views)} customers, {int(views['key_account'].sum())} key accounts -> {path}")


@app.command("report-customer")
def report_customer_cmd(
    customer_id: Annotated[str, typer.Argument(help="customer to report on")],
    as_of: AsOf = None,
    data_dir: DataDir = None,
    tenant: Tenant = None,
) -> None:
    """HTML report of one customer: load profiles with plots, peak kW, load factor, arrears, audit trail."""
    from training.customer_report import write_customer_report

    data = tenant_settings(tenant, data_dir)
    try:
        path = write_customer_report(data, customer_id, as_of=pd.Timestamp(as_of) if as_of else None)
    except (MeterwiseError, ValueError) as err:
        _fail(err)
    typer.echo(str(path))
