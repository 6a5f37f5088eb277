"""``meterwise monitor`` (all I/O here): load the tenant and its champions, run the checks, write the status,
the report and the MLflow run, and (with ``retrain``) run the normal training jobs.

Files, per tenant (``<var_dir>/monitoring/<tenant>/``):

- ``latest.json`` (and ``<as_of>.json``): the status the service's ``GET /v1/monitoring`` returns -- per model
  kind its champion version, ``ok`` / ``warn`` / ``alert`` / ``unavailable``, metrics and breaches; input
  rejection rates; the recommendation; the outcome of any retrain;
- ``history.jsonl``: one line of headline metrics per run (the report's "over time" plots);
- ``report-<as_of>.html``: the HTML report (see :mod:`training.monitoring_report`).

A retrain triggered here is the same job as ``meterwise train <kind>``: its version is registered and
moves ``champion`` only through :func:`training.promotion.decide` (a worse model stays challenger).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import MeterwiseError, ModelNotReady
from features.io import load_tenant
from features.settings import DataSettings
from features.snapshots import default_as_of
from training import registry
from training.monitoring_checks import Section, arrears_section, forecast_section, segments_section
from training.monitoring_inputs import quarantine_history, rejection_rates
from training.monitoring_rules import MonitoringSettings, input_breaches, overall, retrain_kinds
from training.monitoring_status import monitoring_dir
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
KIND = "monitoring"
KINDS = ("arrears", "segments", "forecast")


@dataclass
class MonitorResult:
    status: dict[str, Any]
    sections: list[Section]
    inputs: pd.DataFrame
    path: Path
    report: Path | None = None
    retrained: dict[str, Any] = field(default_factory=dict)


def _arrears(tables, reg: registry.Registry, data: DataSettings, as_of, s: MonitoringSettings) -> Section:
    from features.training_sets import build_arrears_training_set

    bundle, version = reg.load_version("arrears")
    run = reg.version_run("arrears", version)
    bills = build_arrears_training_set(tables, late_days=data.late_days, label_as_of=as_of)
    return arrears_section(
        bills,
        bundle,
        version=version,
        trained_as_of=pd.Timestamp(run["params"]["as_of"]),
        validation_start=pd.Timestamp(run["params"]["validation_start"]),
        reference_auc=float(run["metrics"].get("roc_auc", np.nan)),
        as_of=as_of,
        settings=s,
        late_days=int(run["params"].get("late_days", data.late_days)),
    )


def _segments(tables, reg: registry.Registry, as_of, s: MonitoringSettings) -> Section:
    from training.segments_scoring import _shapes

    bundle, version = reg.load_version("segments")
    trained = pd.Timestamp(reg.version_run("segments", version)["params"]["as_of"])
    window = int(getattr(bundle, "window_days", 365))
    ref, cur = _shapes(tables, trained, window), _shapes(tables, as_of, window)
    return segments_section(ref, cur, bundle, version=version, settings=s)


def issued_frame(bundle: Any, *, skip_levels: tuple[str, ...] = ("customer",)) -> pd.DataFrame:
    """Every issued forecast of a :class:`~training.forecast_bundle.ForecastBundle` (aggregate levels) as a
    long frame ``level, key, freq, timestamp, p10, p50, p90`` (through its public ``forecast``)."""
    parts = []
    for freq, levels in bundle.freq_levels_.items():
        for level, keys in levels.items():
            if level in skip_levels:
                continue
            for key in keys:
                out = bundle.forecast(level, key, bundle.max_horizon_[freq], freq)
                parts.append(out.assign(level=level, key=key, freq=freq))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _forecast(tables, reg: registry.Registry, as_of, s: MonitoringSettings) -> Section:
    from training.forecast_tenant import history_frame, tenant_panel

    bundle, version = reg.load_version("forecast")
    issued = issued_frame(bundle)
    seen = dict(tables)
    seen["readings"] = tables["readings"][tables["readings"]["reading_date"] <= as_of]
    if "interval_readings" in tables:
        ir = tables["interval_readings"]
        seen["interval_readings"] = ir[ir["read_at"].dt.tz_localize(None) < as_of + pd.Timedelta(days=1)]
    actuals = []
    for freq in issued["freq"].unique() if len(issued) else []:
        panel = tenant_panel(seen, str(freq))
        if panel is not None:
            actuals.append(history_frame(panel, str(freq)))
    actual = pd.concat(actuals, ignore_index=True) if actuals else pd.DataFrame(columns=["level", "key", "freq"])
    history = pd.concat(
        [bundle.history(lvl, key, f) .assign(level=lvl, key=key, freq=f)
         for f, levels in bundle.freq_levels_.items() for lvl, keys in levels.items() if lvl != "customer"
         for key in keys],
        ignore_index=True,
    )  # fmt: skip
    backtest = pd.DataFrame(bundle.meta_.get("served", []))
    by_month = pd.DataFrame(bundle.meta_["served_by_month"]) if "served_by_month" in bundle.meta_ else None
    return forecast_section(issued, actual, history, backtest, version=version, settings=s, by_month=by_month)


def run_checks(
    tables: dict[str, pd.DataFrame],
    reg: registry.Registry,
    data: DataSettings,
    as_of: pd.Timestamp,
    settings: MonitoringSettings,
    kinds: tuple[str, ...] = KINDS,
) -> list[Section]:
    """One :class:`Section` per kind; a kind without a champion (or whose check cannot run) is ``unavailable``."""
    checks = {
        "arrears": lambda: _arrears(tables, reg, data, as_of, settings),
        "segments": lambda: _segments(tables, reg, as_of, settings),
        "forecast": lambda: _forecast(tables, reg, as_of, settings),
    }
    out = []
    for kind in kinds:
        try:
            out.append(checks[kind]())
        except (MeterwiseError, KeyError, ValueError) as err:
            reason = err.reason if isinstance(err, ModelNotReady) else str(err)
            logger.warning("monitor %s: %s", kind, reason)
            out.append(Section(kind, None, note=f"not checked: {reason}"))
    return out


def build_status(
    tenant: str, as_of: pd.Timestamp, sections: list[Section], inputs: pd.DataFrame, settings: MonitoringSettings
) -> dict[str, Any]:
    """The JSON status of one monitoring run (pure)."""
    inputs_breaches = input_breaches(inputs, settings)
    every = [b for sec in sections for b in sec.breaches] + inputs_breaches
    kinds = retrain_kinds(every)
    return {
        "tenant": tenant,
        "as_of": str(as_of.date()),
        "generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "status": overall(every),
        "models": {sec.kind: sec.summary() for sec in sections},
        "inputs": {
            "status": overall(inputs_breaches),
            "tables": inputs.to_dict("records"),
            "breaches": [b.as_dict() for b in inputs_breaches],
        },
        "retrain_recommended": kinds,
        "recommendation": f"retrain {', '.join(kinds)}" if kinds else "no action",
        "thresholds": settings.model_dump(),
    }


def write_status(folder: Path, status: dict[str, Any]) -> Path:
    """``<as_of>.json``, an atomic ``latest.json`` and one line of ``history.jsonl``; returns latest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(status, indent=2, default=str)
    (folder / f"{status['as_of']}.json").write_text(text)
    tmp = folder / f".latest.{os.getpid()}.json"
    tmp.write_text(text)
    os.replace(tmp, folder / "latest.json")
    line = {"as_of": status["as_of"], "status": status["status"]}
    for kind, model in status["models"].items():
        line |= {f"{kind}.{k}": v for k, v in model["metrics"].items()}
    with (folder / "history.jsonl").open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    return folder / "latest.json"


def read_history(folder: Path) -> pd.DataFrame:
    """``history.jsonl`` as a frame (one row per run, last run per as_of kept); empty when absent."""
    path = Path(folder) / "history.jsonl"
    if not path.exists():
        return pd.DataFrame()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows).drop_duplicates("as_of", keep="last").sort_values("as_of", ignore_index=True)


def retrain(kinds: list[str], data: DataSettings, training: TrainingSettings, as_of: pd.Timestamp) -> dict[str, Any]:
    """Run the normal training job of each kind (promotion by :func:`training.promotion.decide`)."""
    out: dict[str, Any] = {}
    for kind in kinds:
        try:
            if kind == "arrears":
                from training.arrears_job import train_arrears

                res = train_arrears(data, training, as_of=as_of, promote=True)
                out[kind] = {"version": res.version, "promoted": res.promoted, "reason": res.decision.reason}
            elif kind == "segments":
                from training.segments_job import train_segments

                res = train_segments(data, training, as_of=as_of, promote=True)
                out[kind] = {"version": res.version, "promoted": res.promoted, "reason": res.reason}
            elif kind == "forecast":
                from training.forecast_job import train_forecast

                summary = train_forecast(data, training)
                keys = ("version", "promoted", "reason")
                out[kind] = {k: summary.get(k) for k in keys}
        except (MeterwiseError, ValueError) as err:
            logger.error("retrain %s failed: %s", kind, err)
            out[kind] = {"version": None, "promoted": False, "reason": f"failed: {err}"}
        logger.info("retrain %s: %s", kind, out[kind])
    return out


def monitor(
    data: DataSettings,
    training: TrainingSettings,
    settings: MonitoringSettings | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    do_retrain: bool = False,
    report: bool = True,
    log_mlflow: bool = True,
    kinds: tuple[str, ...] = KINDS,
) -> MonitorResult:
    """Check every champion of the tenant as of `as_of` (default: the latest day in the data).

    Writes the status (and the report), logs a ``monitoring`` run to MLflow and, with `do_retrain`, retrains
    the kinds whose breaches recommend it; each retrain goes through the normal promotion rule.
    """
    settings = settings or MonitoringSettings()
    tables, load = load_tenant(data.data_dir, quarantine_dir=data.quarantine_dir)
    as_of = default_as_of(tables) if as_of is None else pd.Timestamp(as_of).tz_localize(None).normalize()
    reg = registry.open_registry(training, data.tenant)
    sections = run_checks(tables, reg, data, as_of, settings, kinds)
    inputs = rejection_rates(load.counts)
    status = build_status(data.tenant, as_of, sections, inputs, settings)
    folder = monitoring_dir(data.var_dir, data.tenant)
    result = MonitorResult(status, sections, inputs, folder / "latest.json")
    if do_retrain and status["retrain_recommended"]:
        result.retrained = retrain(status["retrain_recommended"], data, training, as_of)
        status["retrained"] = result.retrained
    result.path = write_status(folder, status)
    if report:
        from training.monitoring_report import write_monitoring_report

        history = read_history(folder)
        quarantine = quarantine_history(data.quarantine_dir)
        result.report = write_monitoring_report(
            folder / f"report-{as_of.date()}.html", status, sections, history, quarantine
        )
    if log_mlflow:
        _log_run(reg, status, result.report)
    logger.info("monitor %s as of %s: %s (%s)", data.tenant, as_of.date(), status["status"], status["recommendation"])
    return result


def _log_run(reg: registry.Registry, status: dict[str, Any], report: Path | None) -> None:
    """One ``monitoring`` run per check: headline metrics as ``<kind>.<metric>``, the status and report files."""
    tags = {"as_of": status["as_of"], "status": status["status"]}
    params = {
        "recommendation": status["recommendation"],
        **{f"version.{k}": m["version"] for k, m in status["models"].items()},
    }
    metrics = {f"{k}.{name}": v for k, m in status["models"].items() for name, v in m["metrics"].items()}
    metrics |= {f"inputs.rejection_rate.{t['table']}": t["rejection_rate"] for t in status["inputs"]["tables"]}
    with reg.training_run(KIND, tags=tags, params=params):
        reg.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "status.json").write_text(json.dumps(status, indent=2, default=str))
            if report is not None:
                shutil.copy(report, Path(tmp) / report.name)
            reg.log_artifacts(Path(tmp), "monitoring")
