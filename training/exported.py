"""Fallback bundles on disk, per tenant: ``<models_dir>/<tenant>/<kind>/model.joblib`` + ``meta.json``.

Written when a version becomes ``champion`` (through :class:`training.registry.Registry`), read by
``meterwise serve`` and the batch jobs when no registry is reachable. No MLflow here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib

from features.errors import ModelNotReady
from features.settings import bundle_dir


def export_bundle(
    kind: str, bundle: Any, version: str, models_dir: Path, meta: dict[str, Any], *, tenant: str = "demo"
) -> Path:
    """Write the fallback bundle ``<models_dir>/<tenant>/<kind>/model.joblib`` + ``meta.json``."""
    folder = bundle_dir(models_dir, tenant, kind)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.joblib.tmp"
    joblib.dump(bundle, tmp, compress=3)
    tmp.replace(folder / "model.joblib")  # atomic: a reader never sees half a file
    body = {"kind": kind, "tenant": tenant, "version": version, **meta}
    (folder / "meta.json").write_text(json.dumps(body, indent=2, default=str))
    return folder


def load_exported(kind: str, models_dir: Path, *, tenant: str = "demo") -> tuple[Any, str]:
    """The fallback bundle written by :func:`export_bundle`; returns ``(bundle, version)``.

    Raises :class:`ModelNotReady` when ``<models_dir>/<tenant>/<kind>/model.joblib`` does not exist.
    """
    folder = bundle_dir(models_dir, tenant, kind)
    if not (folder / "model.joblib").exists():
        raise ModelNotReady(kind, f"no fallback bundle models/{tenant}/{kind}/model.joblib")
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
    return joblib.load(folder / "model.joblib"), str(meta.get("version", "unknown"))
