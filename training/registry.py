"""The only door to MLflow: runs, logged models, registry versions and the ``champion`` alias.

Every model kind (``arrears``, ``segments``, ``forecast``) is one registered model named
``meterwise-<kind>``. A version's artifact is a pyfunc model wrapping a joblib *bundle* (the fitted
estimator), so ``mlflow models serve`` can serve it as is, while meterwise's own service loads the
bundle directly (no pyfunc overhead). Invariant: the ``champion`` alias moves only in
:func:`promote_if_better`, after the version is fully logged and registered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.errors import ModelNotReady, ModelRejected
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
BUNDLE = "bundle.joblib"
OWNER_HOST, OWNER_PID = "meterwise.host", "meterwise.pid"
#: signature columns that are context, not model features (ids and data-quality inputs of segments)
SIGNATURE_CONTEXT = frozenset({"customer_id", "days_observed", "kwh_mean_day"})
ORPHAN_AFTER_S = 24 * 3600  # a RUNNING run without owner tags counts as orphaned after this long


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fail_orphaned_runs(client: MlflowClient | None = None) -> list[str]:
    """Mark ``FAILED`` every run left ``RUNNING`` by a process that no longer exists; returns their ids.

    A run is orphaned when its ``meterwise.host`` is this host and its ``meterwise.pid`` is not alive
    (or is this very process, which is not inside that run), or when it has no owner tags and started
    more than a day ago. Called at service start and at the start of every training run.
    """
    client = client or MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    host, now_ms = socket.gethostname(), pd.Timestamp.now(tz="UTC").value // 1_000_000
    active = mlflow.active_run()
    failed = []
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if active is not None and run.info.run_id == active.info.run_id:
            continue
        if OWNER_PID in tags:
            if tags.get(OWNER_HOST) != host:
                continue  # another machine's job: it may be alive
            pid = int(tags[OWNER_PID])
            if pid != os.getpid() and _pid_alive(pid):
                continue
        elif now_ms - (run.info.start_time or now_ms) < ORPHAN_AFTER_S * 1000:
            continue
        client.set_terminated(run.info.run_id, "FAILED")
        failed.append(run.info.run_id)
    if failed:
        logger.warning("marked %d orphaned RUNNING run(s) FAILED: %s", len(failed), ", ".join(failed[:10]))
    return failed


def model_name(kind: str) -> str:
    return f"meterwise-{kind}"


def configure(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow at the settings' store (local sqlite + artifact folder by default)."""
    uri = settings.resolved_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment(settings: TrainingSettings, kind: str) -> str:
    name = f"{settings.experiment_prefix}-{kind}"
    client = MlflowClient()
    if client.get_experiment_by_name(name) is None:
        local = settings.resolved_tracking_uri().startswith(("sqlite:", "file:"))
        location = settings.artifact_root.as_uri() if local else None  # a tracking server picks its own
        client.create_experiment(name, artifact_location=location)
    return name


def code_version() -> str:
    """git commit of the working tree (``+dirty`` when it has changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
        return sha.stdout.strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@contextlib.contextmanager
def training_run(
    settings: TrainingSettings, kind: str, *, tags: dict[str, str], params: dict[str, Any]
) -> Iterator[str]:
    """Open an MLflow run tagged with kind, code version, host and pid; yields the run id.

    Runs a killed job left ``RUNNING`` are marked ``FAILED`` first (:func:`fail_orphaned_runs`).
    """
    configure(settings)
    fail_orphaned_runs()
    mlflow.set_experiment(_experiment(settings, kind))
    owner = {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}
    with mlflow.start_run(tags={"kind": kind, "code_version": code_version(), **owner, **tags}) as run:
        mlflow.log_params(params)
        yield run.info.run_id


def log_metrics(metrics: dict[str, float]) -> None:
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})


def log_artifacts(folder: Path, artifact_path: str | None = None) -> None:
    mlflow.log_artifacts(str(folder), artifact_path)


def log_table(df: pd.DataFrame, artifact_file: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        df.to_csv(path, index=False)
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent) if "/" in artifact_file else None)


class BundleModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper so ``mlflow models serve`` can serve a meterwise bundle."""

    def load_context(self, context) -> None:
        self.bundle = joblib.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        return self.bundle.predict_frame(model_input)


def log_model(kind: str, bundle: Any, input_example: pd.DataFrame) -> str:
    """Log `bundle` (must offer ``predict_frame(df) -> DataFrame``) with its signature; returns the model URI."""
    output = bundle.predict_frame(input_example)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / BUNDLE
        joblib.dump(bundle, path, compress=3)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(),
            artifacts={"bundle": str(path)},
            signature=infer_signature(input_example, output),
            input_example=input_example.head(5),
        )
    return info.model_uri


def register(kind: str, model_uri: str, *, tags: dict[str, str] | None = None) -> str:
    """Register `model_uri` as a new version of ``meterwise-<kind>``; returns the version."""
    version = mlflow.register_model(model_uri, model_name(kind), tags=tags).version
    logger.info("registered %s version %s", model_name(kind), version)
    return str(version)


def champion_version(kind: str) -> str | None:
    try:
        return str(MlflowClient().get_model_version_by_alias(model_name(kind), CHAMPION).version)
    except MlflowException:
        return None


def promote_if_better(
    kind: str,
    version: str,
    score: float,
    champion_score: float | None,
    *,
    margin: float = 0.0,
    force: bool = False,
) -> bool:
    """Move ``champion`` to `version` if `score` beats `champion_score` by `margin` (higher is better).

    Both scores must come from the same validation period. With no champion yet, or `force`, the
    version is promoted. Otherwise the version gets the ``challenger`` alias and the champion stays.
    """
    client = MlflowClient()
    name = model_name(kind)
    better = champion_score is None or score > champion_score + margin
    if better or force:
        client.set_registered_model_alias(name, CHAMPION, version)
        logger.info(
            "%s v%s is champion (score %.4f vs %s)%s",
            name,
            version,
            score,
            champion_score,
            " [forced]" if force and not better else "",
        )
        return True
    client.set_registered_model_alias(name, CHALLENGER, version)
    logger.info(
        "%s v%s stays challenger: %.4f does not beat champion %.4f + %.4f",
        name,
        version,
        score,
        champion_score,
        margin,
    )
    return False


def load_version(kind: str, version_or_alias: str = CHAMPION) -> tuple[Any, str]:
    """Download and unpickle a registered bundle; returns ``(bundle, version)``.

    Raises :class:`ModelNotReady` when no such version or alias exists.
    """
    name = model_name(kind)
    client = MlflowClient()
    try:
        mv = (
            client.get_model_version(name, version_or_alias)
            if version_or_alias.isdigit()
            else client.get_model_version_by_alias(name, version_or_alias)
        )
    except MlflowException as err:
        raise ModelNotReady(kind, f"no {name}@{version_or_alias} in the registry") from err
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}"))
    bundle = joblib.load(local / "artifacts" / BUNDLE)
    check_signature(kind, local, bundle)
    return bundle, str(mv.version)


def check_signature(kind: str, model_dir: Path, bundle: Any) -> None:
    """The logged ``MLmodel`` must exist and its signature inputs equal the bundle's ``feature_names_in_``.

    Raises :class:`ModelRejected` naming what is wrong (missing MLmodel, no signature, missing, extra
    or renamed features). Bundles without ``feature_names_in_`` (forecasts) only need the MLmodel file.
    """
    from mlflow.models import Model

    if not (Path(model_dir) / "MLmodel").exists():
        raise ModelRejected(kind, "missing MLmodel file in the logged model")
    names = [str(c) for c in getattr(bundle, "feature_names_in_", [])]
    if not names:
        return
    signature = Model.load(str(model_dir)).signature
    if signature is None or signature.inputs is None:
        raise ModelRejected(kind, "the logged model has no signature")
    logged = [str(c) for c in signature.inputs.input_names()]
    missing = [c for c in names if c not in logged]
    extra = [c for c in logged if c not in names and c not in SIGNATURE_CONTEXT]
    if missing or extra:
        raise ModelRejected(
            kind, f"signature does not match the bundle's features: missing {missing[:5]}, extra {extra[:5]}"
        )


def export_bundle(kind: str, bundle: Any, version: str, models_dir: Path, meta: dict[str, Any]) -> Path:
    """Write the fallback bundle ``models/<kind>/model.joblib`` + ``meta.json`` for registry-less serving."""
    import json

    folder = Path(models_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.joblib.tmp"
    joblib.dump(bundle, tmp, compress=3)
    tmp.replace(folder / "model.joblib")  # atomic: a reader never sees half a file
    (folder / "meta.json").write_text(json.dumps({"kind": kind, "version": version, **meta}, indent=2, default=str))
    return folder


def load_exported(kind: str, models_dir: Path) -> tuple[Any, str]:
    """The fallback bundle written by :func:`export_bundle`; returns ``(bundle, version)``.

    Raises :class:`ModelNotReady` when ``models/<kind>/model.joblib`` does not exist.
    """
    import json

    folder = Path(models_dir) / kind
    if not (folder / "model.joblib").exists():
        raise ModelNotReady(kind, f"no fallback bundle models/{kind}/model.joblib")
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
    return joblib.load(folder / "model.joblib"), str(meta.get("version", "unknown"))


def load_or_exported(training: TrainingSettings, kind: str, ref: str = CHAMPION) -> tuple[Any, str]:
    """A registry version or alias; for the champion, the exported bundle when the registry has none."""
    try:
        configure(training)
        return load_version(kind, ref)
    except ModelNotReady:
        if ref != CHAMPION or not (Path(training.models_dir) / kind / "model.joblib").exists():
            raise
        logger.warning("no %s@%s in the registry: using the exported bundle in %s", kind, ref, training.models_dir)
        return load_exported(kind, training.models_dir)


def latest_version(kind: str) -> str | None:
    """The highest registered version number of ``meterwise-<kind>``, or None when there is none."""
    try:
        versions = MlflowClient().search_model_versions(f"name='{model_name(kind)}'")
    except MlflowException:
        return None
    return str(max(int(v.version) for v in versions)) if versions else None


def version_run(kind: str, version: str) -> dict[str, Any]:
    """``run_id``, ``params``, ``metrics`` and ``tags`` of the run that logged a registered version.

    Raises :class:`ModelNotReady` when the version does not exist.
    """
    client = MlflowClient()
    try:
        mv = client.get_model_version(model_name(kind), str(version))
    except MlflowException as err:
        raise ModelNotReady(kind, f"no {model_name(kind)} version {version} in the registry") from err
    run = client.get_run(mv.run_id)
    return {
        "run_id": mv.run_id,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(run.data.tags),
    }


def set_version_tags(kind: str, version: str, tags: dict[str, str]) -> None:
    """Attach tags (e.g. the promotion decision) to a registered version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name(kind), str(version), key, str(value))


def run_info(run_id: str) -> dict[str, Any]:
    """``run_id``, ``status``, ``params``, ``metrics`` and ``tags`` of one run; :class:`ModelNotReady` if absent."""
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as err:
        raise ModelNotReady("run", f"no run {run_id} in {mlflow.get_tracking_uri()}") from err
    return {
        "run_id": run_id,
        "status": run.info.status,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(run.data.tags),
    }


def download_run_artifacts(run_id: str, dst: Path, *, skip: tuple[str, ...] = ("model",)) -> Path:
    """Download a run's artifacts (without the model folder) into `dst`; returns `dst`."""
    client = MlflowClient()
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for item in client.list_artifacts(run_id):
        if item.path not in skip:
            client.download_artifacts(run_id, item.path, str(dst))
    return dst
