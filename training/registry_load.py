"""Loading one registered version for serving: only the files it needs, its signature read in C (pure I/O).

A reload happens beside live traffic, and its Python holds the GIL the requests need. Measured on the demo
arrears champion, loading a version spent about 75 ms in Python: MLflow copying all eight files of the
logged model (conda and pip environments, input examples, the pyfunc pickle), ``mlflow.models.Model.load``
and parsing ``MLmodel`` with PyYAML's pure-Python parser (about 20 ms). Here only the two files serving
reads (``MLmodel`` and the bundle) are downloaded, and ``MLmodel`` is parsed with libyaml when PyYAML has it.
Every load still asks the registry for the version and its storage location: nothing is cached between
loads, so a reload to a new version costs what a reload back to an old one does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature

from features.errors import ModelRejected

MLMODEL = "MLmodel"
BUNDLE = "bundle.joblib"
BUNDLE_PATH = f"artifacts/{BUNDLE}"  # inside the logged model
SIGNATURE_CONTEXT = frozenset({"customer_id", "days_observed", "kwh_mean_day"})  # logged, not model inputs
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: about 10x faster than the Python parser


def download_model_files(source: str, dst: Path, uri: str) -> Path:
    """``MLmodel`` and the bundle of the logged model at `source` into `dst` (their layout kept); `dst`.

    An ``MLmodel`` that cannot be fetched is left out, for :func:`check_signature` to refuse; any other
    failure propagates."""
    for rel in (MLMODEL, BUNDLE_PATH):
        folder = dst / Path(rel).parent
        folder.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.artifacts.download_artifacts(
                f"{source.rstrip('/')}/{rel}", dst_path=str(folder), tracking_uri=uri, registry_uri=uri
            )
        except MlflowException:
            if rel != MLMODEL:
                raise
    return dst


def logged_signature(model_dir: Path) -> ModelSignature | None:
    """The signature in ``model_dir/MLmodel`` (None when it has none), as ``mlflow.models.Model.load`` reads it."""
    doc = yaml.load((Path(model_dir) / MLMODEL).read_text(), Loader=_LOADER) or {}
    signature = doc.get("signature")
    return ModelSignature.from_dict(signature) if signature else None


def check_signature(kind: str, model_dir: Path, bundle: Any) -> None:
    """The logged ``MLmodel`` must exist and its signature inputs equal the bundle's ``feature_names_in_``.

    Raises :class:`ModelRejected` naming what is wrong (missing MLmodel, no signature, missing, extra
    or renamed features). Bundles without ``feature_names_in_`` (forecasts) only need the MLmodel file.
    """
    if not (Path(model_dir) / MLMODEL).exists():
        raise ModelRejected(kind, "missing MLmodel file in the logged model")
    names = [str(c) for c in getattr(bundle, "feature_names_in_", [])]
    if not names:
        return
    signature = logged_signature(model_dir)
    if signature is None or signature.inputs is None:
        raise ModelRejected(kind, "the logged model has no signature")
    logged = [str(c) for c in signature.inputs.input_names()]
    missing = [c for c in names if c not in logged]
    extra = [c for c in logged if c not in names and c not in SIGNATURE_CONTEXT]
    if missing or extra:
        raise ModelRejected(
            kind, f"signature does not match the bundle's features: missing {missing[:5]}, extra {extra[:5]}"
        )
