"""One self-contained HTML report per training run: metrics, params, tables and every PNG figure.

- :func:`render_report` (pure): a :class:`RunReport` in, an HTML string out; images are base64-inlined
  so the file can be mailed or attached to a ticket as is.
- :func:`collect_figures` / :func:`collect_tables` (pure over a folder): the run's PNG and small CSV
  artifacts, wherever the job logged them (``report/``, ``plots/`` ...).
- :func:`write_folder_report`: the same HTML from a job's report folder, to log inside the run.
- :func:`write_run_report` (I/O): fetch the run through :mod:`training.registry`, render, write
  ``<var_dir>/reports/<tenant>/<run-id>.html``.
- ``meterwise report <run-id>`` is in :mod:`training.cli.reports`.

Each kind has figures a reader expects (:data:`EXPECTED_FIGURES`); a missing one is listed at the top
of the report instead of silently dropped. MLflow is reached only through :mod:`training.registry`.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import ModelNotReady
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)

# kind -> figure name prefixes (file stem starts with it) every run of that kind should have
EXPECTED_FIGURES: dict[str, tuple[str, ...]] = {
    "arrears": ("roc", "calibration", "lift", "grades"),
    "segments": ("centroids", "sizes"),
    "forecast": ("backtest_total", "error_by_horizon"),
}
MAX_TABLE_ROWS = 30
MAX_TABLE_BYTES = 200_000  # larger CSV artifacts are listed, not inlined


@dataclass(frozen=True)
class Figure:
    """One PNG: ``name`` is its artifact path (e.g. ``report/roc.png``)."""

    name: str
    png: bytes

    @property
    def stem(self) -> str:
        return Path(self.name).stem


@dataclass
class RunReport:
    """What a report shows about one run (all plain data; built by :func:`write_run_report`)."""

    run_id: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    title: str | None = None

    def select(self, *prefixes: str) -> list[Figure]:
        """Figures whose file name starts with one of `prefixes` (all figures when none are given)."""
        return [f for f in self.figures if not prefixes or f.stem.startswith(prefixes)]

    def missing_figures(self) -> list[str]:
        """Expected figure prefixes of this kind with no matching figure."""
        stems = [f.stem for f in self.figures]
        return [p for p in EXPECTED_FIGURES.get(self.kind, ()) if not any(s.startswith(p) for s in stems)]


# ------------------------------------------------------------------------------------------ pure core
def collect_figures(folder: Path) -> list[Figure]:
    """Every ``*.png`` under `folder` (recursively), sorted by artifact path."""
    folder = Path(folder)
    paths = sorted(folder.rglob("*.png"), key=lambda p: p.relative_to(folder).as_posix())
    return [Figure(p.relative_to(folder).as_posix(), p.read_bytes()) for p in paths]


def collect_tables(folder: Path, *, max_bytes: int = MAX_TABLE_BYTES) -> dict[str, pd.DataFrame]:
    """Small ``*.csv`` artifacts under `folder` (model folders skipped), keyed by artifact path."""
    folder = Path(folder)
    out: dict[str, pd.DataFrame] = {}
    for p in sorted(folder.rglob("*.csv")):
        rel = p.relative_to(folder).as_posix()
        if rel.startswith("model/") or p.stat().st_size > max_bytes:
            continue
        out[rel] = pd.read_csv(p)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _kv_table(rows: dict[str, Any], css: str) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="{css}">{body}</table>'


def _frame_html(df: pd.DataFrame, max_rows: int) -> str:
    shown = df.head(max_rows)
    table = shown.to_html(index=False, border=0, classes="frame", float_format=lambda v: f"{v:.4g}", na_rep="")
    more = f"<p class='note'>first {max_rows} of {len(df)} rows</p>" if len(df) > max_rows else ""
    return table + more


def _figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    name = html.escape(fig.name)
    return (
        f'<figure id="fig-{html.escape(fig.stem)}" data-artifact="{name}">'
        f'<img alt="{name}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{name}</figcaption></figure>"
    )


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0} th,td{padding:.15rem .6rem;text-align:left}
tr:nth-child(even){background:#f6f6f6} .frame th{background:#eee}
figure{display:inline-block;margin:.5rem;vertical-align:top} img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.75rem;color:#666} .warn{color:#b00020} .note{font-size:.75rem;color:#666}
"""


def render_report(report: RunReport, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The whole report as one HTML document (no external files, no scripts)."""
    title = report.title or f"meterwise {report.kind} run {report.run_id}"
    head_tags = {k: v for k, v in report.tags.items() if not k.startswith("mlflow.")}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _kv_table({"run_id": report.run_id, "kind": report.kind, **head_tags}, "meta"),
    ]
    missing = report.missing_figures()
    if missing:
        parts.append(f"<p class='warn'>missing expected figures: {html.escape(', '.join(missing))}</p>")
    parts.append(f"<h2>Figures ({len(report.figures)})</h2>")
    parts += [_figure_html(f) for f in report.figures] or ["<p class='note'>no figures logged</p>"]
    parts += ["<h2>Metrics</h2>", _kv_table(dict(sorted(report.metrics.items())), "metrics")]
    for name, df in report.tables.items():
        parts += [f"<h2>{html.escape(name)}</h2>", _frame_html(df, max_rows)]
    params = {k: v for k, v in sorted(report.params.items()) if not k.startswith("data_hash")}
    parts += ["<h2>Parameters</h2>", _kv_table(params, "params"), "</body></html>"]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------ I/O edge
def write_folder_report(folder: Path, *, run_id: str, kind: str, metrics: dict[str, float], **extra: Any) -> Path:
    """Write ``<folder>/report.html`` from the PNG and CSV files already in `folder` (no MLflow).

    For a job that wants the HTML report inside its run: call it on the report folder just before
    ``registry.log_artifacts(folder, "report")``. `extra` may hold ``params``, ``tags``, ``title``.
    """
    folder = Path(folder)
    report = RunReport(run_id, kind, metrics, figures=collect_figures(folder), tables=collect_tables(folder), **extra)
    path = folder / "report.html"
    path.write_text(render_report(report), encoding="utf-8")
    return path


def resolve_run_id(ref: str, reg: Any) -> str:
    """A run id as is, or the run behind ``<kind>@champion`` / ``<kind>:<version>`` of `reg`'s tenant.

    Raises
    ------
    ModelNotReady
        No champion / no such version of that kind.
    """
    from training import registry

    kind, sep, version = ref.partition("@") if "@" in ref else ref.partition(":")
    if not sep:
        return ref
    if not version.isdigit():
        if version != registry.CHAMPION:
            raise ValueError(f"ref={ref!r}; expected <run-id>, <kind>@champion or <kind>:<version>")
        version = reg.champion_version(kind)
        if version is None:
            raise ModelNotReady(kind, f"no {reg.model_name(kind)}@champion to report on")
    return reg.version_run(kind, version)["run_id"]


def load_run_report(run_id: str, training: TrainingSettings, *, tenant: str = "demo") -> RunReport:
    """Fetch a run of `tenant` (metrics, params, tags, figures, small tables) through the registry.

    Raises
    ------
    ModelNotReady
        When the store has no run `run_id`, or the run belongs to another tenant.
    """
    from training import registry

    reg = registry.open_registry(training, tenant)
    run_id = resolve_run_id(run_id, reg)
    info = reg.run_info(run_id)
    owner = info["tags"].get("tenant", tenant)
    if owner != tenant:
        raise ModelNotReady("run", f"run {run_id} belongs to tenant {owner!r}, not {tenant!r}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = reg.download_run_artifacts(run_id, Path(tmp))
        figures, tables = collect_figures(folder), collect_tables(folder)
    return RunReport(
        run_id=run_id,
        kind=info["tags"].get("kind", "unknown"),
        metrics=info["metrics"],
        params=info["params"],
        tags=info["tags"],
        figures=figures,
        tables=tables,
    )


def write_run_report(
    run_id: str,
    training: TrainingSettings,
    *,
    out: Path | None = None,
    tenant: str = "demo",
    var_dir: Path | None = None,
) -> Path:
    """Write ``<var_dir>/reports/<tenant>/<run-id>.html`` (or `out`); returns the path.

    `run_id` may also be ``<kind>@champion`` or ``<kind>:<version>`` (see :func:`resolve_run_id`).
    """
    from features.settings import reports_dir

    report = load_run_report(run_id, training, tenant=tenant)
    folder = reports_dir(var_dir if var_dir is not None else training.var_dir, tenant)
    path = Path(out) if out is not None else folder / f"{report.run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_report(report), encoding="utf-8")
    tmp.replace(path)
    if report.missing_figures():
        logger.warning("run %s (%s) lacks expected figures %s", run_id, report.kind, report.missing_figures())
    logger.info("report for %s run %s: %d figures -> %s", report.kind, run_id, len(report.figures), path)
    return path
