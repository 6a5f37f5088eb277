"""The only door to MLflow: runs, logged models, registry versions and the ``champion`` alias, per tenant.

A :class:`Registry` is one tenant's view of one MLflow store: it holds an ``MlflowClient`` bound to a
tracking URI and never touches MLflow's process-global state (no ``mlflow.set_tracking_uri``, no
active run), so two registries on different stores or tenants work side by side in one process.
Build one with :func:`open_registry` from :class:`~training.settings.TrainingSettings`.

Names, per tenant (:func:`model_name`): each model kind is the registered model
``meterwise-<tenant>-<kind>`` (``meterwise-demo-arrears``) with its own ``champion`` / ``challenger``
aliases; runs go to the experiment ``<prefix>-<tenant>-<kind>``. A version's artifact is a pyfunc model
wrapping a joblib *bundle* (the fitted estimator), so ``mlflow models serve -m
models:/meterwise-demo-arrears@champion`` serves it as is, while meterwise's own service loads the bundle
directly. Invariant: the ``champion`` alias moves only in :meth:`Registry.promote_if_better`, after the
version is fully logged and registered.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.errors import ModelNotReady
from features.settings import bundle_dir, check_tenant
from training.exported import export_bundle, load_exported
from training.registry_load import (
    BUNDLE,
    BUNDLE_PATH,
    check_signature,
    download_model_files,
)
from training.runs import code_version, orphaned, owner_tags
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_ARTIFACT = "model"
#: signature columns that are context, not model features (ids and data-quality inputs of segments)


def model_name(kind: str, tenant: str) -> str:
    """Registered model name of one tenant's model kind: ``meterwise-<tenant>-<kind>``."""
    return f"meterwise-{check_tenant(tenant)}-{kind}"


def open_registry(training: TrainingSettings, tenant: str) -> Registry:
    """A :class:`Registry` for `tenant` on the settings' store (local sqlite + artifact folder by default)."""
    uri = training.resolved_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    local = uri.startswith(("sqlite:", "file:"))
    return Registry(
        MlflowClient(tracking_uri=uri, registry_uri=uri),
        tenant,
        experiment_prefix=training.experiment_prefix,
        artifact_root=training.artifact_root if local else None,  # a tracking server picks its own
        models_dir=training.models_dir,
    )


class Registry:
    """One tenant's runs, registered models and aliases in one MLflow store.

    Parameters
    ----------
    client : MlflowClient
        Bound to the store's tracking (and registry) URI; the only MLflow handle used.
    tenant : str
        Tenant slug (``[a-z0-9][a-z0-9_-]*``); names every registered model and experiment.
    experiment_prefix : str
        Experiments are ``<prefix>-<tenant>-<kind>``.
    artifact_root : Path, optional
        Artifact folder for new experiments of a local store (None: the server decides).
    models_dir : Path, optional
        Root of the exported fallback bundles, ``<models_dir>/<tenant>/<kind>/``.
    """

    CHAMPION, CHALLENGER = CHAMPION, CHALLENGER

    def __init__(
        self,
        client: MlflowClient,
        tenant: str = "demo",
        *,
        experiment_prefix: str = "meterwise",
        artifact_root: Path | None = None,
        models_dir: Path | None = None,
    ):
        self.client, self.tenant = client, check_tenant(tenant)
        self.experiment_prefix, self.artifact_root, self.models_dir = experiment_prefix, artifact_root, models_dir
        self._run_id: str | None = None  # the run opened by training_run (this object only, not global)
        self._model_runs: dict[str, str] = {}  # model URI logged by log_model -> its run id

    def __repr__(self) -> str:
        return f"Registry(tenant={self.tenant!r}, uri={self.uri!r})"

    @property
    def uri(self) -> str:
        return self.client.tracking_uri

    def model_name(self, kind: str) -> str:
        return model_name(kind, self.tenant)

    def experiment_name(self, kind: str) -> str:
        return f"{self.experiment_prefix}-{self.tenant}-{kind}"

    # ------------------------------------------------------------------------------------------ runs
    def _experiment_id(self, kind: str) -> str:
        name = self.experiment_name(kind)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = (Path(self.artifact_root) / name).as_uri() if self.artifact_root is not None else None
        return self.client.create_experiment(name, artifact_location=location, tags={"tenant": self.tenant})

    def fail_orphaned_runs(self) -> list[str]:
        """Mark ``FAILED`` this tenant's runs a killed job left ``RUNNING`` (see :func:`training.runs.orphaned`).

        Called at the start of every training run (never by the service); returns the run ids.
        """
        prefix = f"{self.experiment_prefix}-{self.tenant}-"
        experiments = [e.experiment_id for e in self.client.search_experiments() if e.name.startswith(prefix)]
        if not experiments:
            return []
        runs = self.client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000)
        failed = [
            r.info.run_id for r in runs if r.info.run_id != self._run_id and orphaned(r.data.tags, r.info.start_time)
        ]
        for run_id in failed:
            self.client.set_terminated(run_id, "FAILED")
        if failed:
            logger.warning("marked %d orphaned RUNNING run(s) FAILED: %s", len(failed), ", ".join(failed[:10]))
        return failed

    @contextlib.contextmanager
    def training_run(self, kind: str, *, tags: dict[str, str], params: dict[str, Any]) -> Iterator[str]:
        """Open a run tagged with kind, tenant, code version, host and pid; yields the run id.

        Runs a killed job left ``RUNNING`` are marked ``FAILED`` first (:meth:`fail_orphaned_runs`).
        The run ends ``FINISHED``, or ``FAILED`` when the block raises. Inside the block the ``log_*``
        methods default to this run.
        """
        if self._run_id is not None:
            raise RuntimeError(f"{self!r} already has run {self._run_id} open; one training run at a time")
        self.fail_orphaned_runs()
        all_tags = {"kind": kind, "code_version": code_version(), **owner_tags(), **tags, "tenant": self.tenant}
        run = self.client.create_run(self._experiment_id(kind), tags=all_tags)
        run_id = run.info.run_id
        self._run_id = run_id
        try:
            self.client.log_batch(run_id, params=[Param(str(k), str(v)) for k, v in params.items()])
            yield run_id
        except BaseException:
            self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
        else:
            self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        finally:
            self._run_id = None

    def _run(self, run_id: str | None) -> str:
        run_id = run_id or self._run_id
        if run_id is None:
            raise RuntimeError("no run: call inside `with registry.training_run(...)` or pass run_id")
        return run_id

    def log_metrics(self, metrics: dict[str, float], *, run_id: str | None = None) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        for start in range(0, len(batch), 1000):  # the store's batch limit
            self.client.log_batch(self._run(run_id), metrics=batch[start : start + 1000])

    def log_artifacts(self, folder: Path, artifact_path: str | None = None, *, run_id: str | None = None) -> None:
        self.client.log_artifacts(self._run(run_id), str(folder), artifact_path)

    def log_table(self, df: pd.DataFrame, artifact_file: str, *, run_id: str | None = None) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            df.to_csv(path, index=False)
            parent = str(Path(artifact_file).parent) if "/" in artifact_file else None
            self.client.log_artifact(self._run(run_id), str(path), parent)

    def log_model(self, kind: str, bundle: Any, input_example: pd.DataFrame, *, run_id: str | None = None) -> str:
        """Log `bundle` (``predict_frame(df) -> DataFrame``) as a pyfunc model with its signature.

        Saved to a temporary folder and uploaded as the run's ``model`` artifact; returns the
        model's artifact URI (the ``source`` of a registered version).
        """
        run_id = self._run(run_id)
        output = bundle.predict_frame(input_example)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / BUNDLE
            joblib.dump(bundle, path, compress=3)
            model_dir = Path(tmp) / MODEL_ARTIFACT
            mlflow.pyfunc.save_model(
                path=str(model_dir),
                python_model=BundleModel(),
                artifacts={"bundle": str(path)},
                signature=infer_signature(input_example, output),
                input_example=input_example.head(5),
            )
            self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
        uri = f"{self.client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
        self._model_runs[uri] = run_id
        return uri

    # -------------------------------------------------------------------------------------- registry
    def register(self, kind: str, model_uri: str, *, tags: dict[str, str] | None = None) -> str:
        """Register `model_uri` as a new version of ``meterwise-<tenant>-<kind>``; returns the version."""
        name = self.model_name(kind)
        try:
            self.client.create_registered_model(name, tags={"tenant": self.tenant, "kind": kind})
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        run_id = self._model_runs.get(model_uri) or _run_id_of(model_uri)
        mv = self.client.create_model_version(
            name, model_uri, run_id=run_id, tags={"tenant": self.tenant, **(tags or {})}
        )
        logger.info("registered %s version %s", name, mv.version)
        return str(mv.version)

    def champion_version(self, kind: str) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(self.model_name(kind), CHAMPION).version)
        except MlflowException:
            return None

    def latest_version(self, kind: str) -> str | None:
        """The highest registered version number of this tenant's `kind`, or None when there is none."""
        try:
            versions = self.client.search_model_versions(f"name='{self.model_name(kind)}'")
        except MlflowException:
            return None
        return str(max(int(v.version) for v in versions)) if versions else None

    def promote_if_better(
        self,
        kind: str,
        version: str,
        score: float,
        champion_score: float | None,
        *,
        margin: float = 0.0,
        force: bool = False,
    ) -> bool:
        """Move ``champion`` to `version` if `score` beats `champion_score` by `margin` (higher is better).

        Both scores must come from the same validation data. With no champion yet, or `force`, the
        version is promoted. Otherwise the version gets the ``challenger`` alias and the champion stays.
        """
        name = self.model_name(kind)
        better = champion_score is None or score > champion_score + margin
        if better or force:
            self.set_alias(kind, CHAMPION, version)
            forced = " [forced]" if force and not better else ""
            logger.debug("%s v%s -> champion alias%s", name, version, forced)  # the caller logs the decision
            return True
        self.set_alias(kind, CHALLENGER, version)
        logger.debug(
            "%s v%s stays challenger: %.4f does not beat champion %.4f + %.4f",
            name,
            version,
            score,
            champion_score,
            margin,
        )
        return False

    def set_alias(self, kind: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name(kind), alias, str(version))

    def set_version_tags(self, kind: str, version: str, tags: dict[str, str]) -> None:
        """Attach tags (e.g. the promotion decision) to a registered version."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name(kind), str(version), key, str(value))

    def load_version(self, kind: str, version_or_alias: str = CHAMPION) -> tuple[Any, str]:
        """Download and unpickle a registered bundle; returns ``(bundle, version)``.

        Raises :class:`ModelNotReady` when no such version or alias exists, :class:`ModelRejected`
        when its logged signature does not match the bundle.
        """
        name = self.model_name(kind)
        try:
            mv = (
                self.client.get_model_version(name, version_or_alias)
                if str(version_or_alias).isdigit()
                else self.client.get_model_version_by_alias(name, version_or_alias)
            )
        except MlflowException as err:
            raise ModelNotReady(kind, f"no {name}@{version_or_alias} in the registry") from err
        with tempfile.TemporaryDirectory() as tmp:
            source = self.client.get_model_version_download_uri(name, str(mv.version))
            local = download_model_files(source, Path(tmp), self.uri)
            bundle = joblib.load(local / BUNDLE_PATH)
            check_signature(kind, local, bundle)
        return bundle, str(mv.version)

    def version_run(self, kind: str, version: str) -> dict[str, Any]:
        """``run_id``, ``params``, ``metrics`` and ``tags`` of the run that logged a registered version.

        Raises :class:`ModelNotReady` when the version does not exist.
        """
        try:
            mv = self.client.get_model_version(self.model_name(kind), str(version))
        except MlflowException as err:
            raise ModelNotReady(kind, f"no {self.model_name(kind)} version {version} in the registry") from err
        return self.run_info(mv.run_id)

    def run_info(self, run_id: str) -> dict[str, Any]:
        """``run_id``, ``status``, ``params``, ``metrics`` and ``tags`` of one run; :class:`ModelNotReady` if absent."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException as err:
            raise ModelNotReady("run", f"no run {run_id} in {self.uri}") from err
        return {
            "run_id": run_id,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags),
        }

    def download_run_artifacts(self, run_id: str, dst: Path, *, skip: tuple[str, ...] = (MODEL_ARTIFACT,)) -> Path:
        """Download a run's artifacts (without the model folder) into `dst`; returns `dst`."""
        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        for item in self.client.list_artifacts(run_id):
            if item.path not in skip:
                self.client.download_artifacts(run_id, item.path, str(dst))
        return dst

    # ------------------------------------------------------------------------ exported fallback bundles
    def _models_dir(self, models_dir: Path | None) -> Path:
        folder = models_dir if models_dir is not None else self.models_dir
        if folder is None:
            raise ValueError("no models_dir: pass one, or build the registry with open_registry(settings, tenant)")
        return Path(folder)

    def export_bundle(
        self, kind: str, bundle: Any, version: str, models_dir: Path | None = None, meta: dict | None = None
    ) -> Path:
        """Write the fallback bundle ``<models_dir>/<tenant>/<kind>/model.joblib`` + ``meta.json``."""
        return export_bundle(kind, bundle, version, self._models_dir(models_dir), meta or {}, tenant=self.tenant)

    def load_exported(self, kind: str, models_dir: Path | None = None) -> tuple[Any, str]:
        return load_exported(kind, self._models_dir(models_dir), tenant=self.tenant)

    def load_or_exported(self, kind: str, ref: str = CHAMPION, models_dir: Path | None = None) -> tuple[Any, str]:
        """A registry version or alias; for the champion, this tenant's exported bundle when the registry has none."""
        try:
            return self.load_version(kind, ref)
        except ModelNotReady:
            folder = bundle_dir(self._models_dir(models_dir), self.tenant, kind)
            if ref != CHAMPION or not (folder / "model.joblib").exists():
                raise
            logger.warning("no %s@%s in the registry: using the exported bundle in %s", kind, ref, folder)
            return self.load_exported(kind, models_dir)


def _run_id_of(model_uri: str) -> str | None:
    """The run id in a ``runs:/<id>/...`` URI (None for other sources)."""
    if model_uri.startswith("runs:/"):
        return model_uri.removeprefix("runs:/").split("/", 1)[0]
    return None


class BundleModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper so ``mlflow models serve`` can serve a meterwise bundle."""

    def load_context(self, context) -> None:
        self.bundle = joblib.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        return self.bundle.predict_frame(model_input)
