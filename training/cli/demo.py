"""`meterwise demo`: the main job end to end, then a short summary on stdout (logs stay on stderr)."""

from __future__ import annotations

from typing import Annotated

import typer

from features.cli import AsOf, DataDir, Tenant, tenant_settings


def demo_cmd(
    as_of: AsOf = None,
    quick: Annotated[bool, typer.Option(help="daily forecasts only (skip monthly and hourly)")] = False,
    tenant: Tenant = None,
    data_dir: DataDir = None,
) -> None:
    """Run the main job (validate → features → train all → registry → predictions); the embedded demo by default."""
    import pandas as pd

    from training import pipeline

    summary = pipeline.run_pipeline(
        tenant_settings(tenant, data_dir),
        as_of=pd.Timestamp(as_of) if as_of else None,
        freqs=("D",) if quick else ("D", "M", "H"),
    )
    arrears, segments = pd.read_parquet(summary["score arrears"]), pd.read_parquet(summary["score segments"])
    typer.echo(pipeline.render_summary(summary, arrears, segments))
