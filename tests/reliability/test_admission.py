"""Model admission: every kind of broken model is refused with a named reason, requests keep being
answered by the old version, and the next good reload still works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from harness.service import API_KEYS, BILLING, isolated_mlflow, make_client, write_big_var
from harness.stubs import (
    OutOfRangeArrears,
    RaisingArrears,
    RenamedArrears,
    StubArrears,
    StubForecaster,
    StubLoader,
    StubSegmenter,
)

from features.errors import ModelRejected
from serving.model_store import ModelStore
from serving.settings import ServingSettings
from training import registry
from training.settings import TrainingSettings

FEATS = {"features": {"kwh_mean_28d": [10.0, 20.0], "late_bills_12m": [1, 2]}}
REQUESTS_AFTER_REFUSAL = 10  # each checked against the old version; counted for the benchmark


def requests_answered_by(client, version: str, record_property) -> list[str]:
    """Send the requests, record ``requests`` / ``failed_requests`` (junit properties), return the failures."""
    failures = []
    for i in range(REQUESTS_AFTER_REFUSAL):
        r = client.post("/v1/arrears/score", json=FEATS, headers=BILLING)
        if r.status_code != 200 or r.json().get("model_version") != version:
            failures.append(f"request {i}: {r.status_code} {r.text[:120]}")
    record_property("requests", REQUESTS_AFTER_REFUSAL)
    record_property("failed_requests", len(failures))
    return failures


def _log(kind: str, bundle, example) -> str:
    reg = registry.open_registry(TRAINING, "demo")
    with reg.training_run(kind, tags={}, params={}):
        uri = reg.log_model(kind, bundle, example)
    return reg.register(kind, uri)


TRAINING: TrainingSettings  # set by the fixture (module scope)


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory):
    """A sqlite registry with arrears v1 (champion) and v2 (good), plus a segments champion."""

    with isolated_mlflow():
        yield from _registry_env(tmp_path_factory)


def _registry_env(tmp_path_factory):
    global TRAINING
    import pandas as pd

    root = tmp_path_factory.mktemp("adm")
    write_big_var(root / "var")
    TRAINING = TrainingSettings(var_dir=root / "var", models_dir=root / "models")
    reg = registry.open_registry(TRAINING, "demo")
    example = pd.DataFrame({"kwh_mean_28d": [10.0, 12.0], "late_bills_12m": [1.0, 0.0]})
    for version in ("1", "2"):
        assert _log("arrears", StubArrears(bias=int(version) / 10), example) == version
    reg.promote_if_better("arrears", "1", 0.7, None)
    seg_example = pd.DataFrame({"share_night": [0.1, 0.4], "share_evening": [0.3, 0.2]})
    _log("segments", StubSegmenter(), seg_example)
    reg.promote_if_better("segments", "1", 0.7, None)
    settings = ServingSettings(
        var_dir=root / "var", models_dir=root / "models", api_keys=API_KEYS, rate_limit_per_s=0, kinds=("arrears",)
    )
    v2 = reg.client.get_model_version("meterwise-demo-arrears", "2").source
    yield settings, v2


def _model_dir(v2_source: str) -> Path:
    """The local folder of a registered version (its ``file://`` source, the run's ``model`` artifact)."""
    folder = Path(str(v2_source).removeprefix("file://"))
    assert (folder / "MLmodel").exists(), folder
    return folder


def _edit_signature(model_dir: Path, edit) -> None:
    path = model_dir / "MLmodel"
    doc = yaml.safe_load(path.read_text())
    import json

    inputs = json.loads(doc["signature"]["inputs"])
    doc["signature"]["inputs"] = json.dumps(edit(inputs))
    path.write_text(yaml.safe_dump(doc))


def _truncate(model_dir: Path) -> None:
    bundle = model_dir / "artifacts" / registry.BUNDLE
    bundle.write_bytes(bundle.read_bytes()[:100])


def _drop_signature(model_dir: Path) -> None:
    path = model_dir / "MLmodel"
    doc = yaml.safe_load(path.read_text())
    doc.pop("signature", None)
    path.write_text(yaml.safe_dump(doc))


BROKEN_FILES = {
    "truncated_file": (_truncate, r"registry failed \((EOFError|UnpicklingError)\)"),
    "missing_mlmodel": (lambda d: (d / "MLmodel").unlink(), "missing MLmodel"),
    "no_signature": (_drop_signature, "no signature"),
    "signature_missing_feature": (lambda d: _edit_signature(d, lambda cols: cols[:1]), r"missing \['late_bills_12m'\]"),
    "signature_renamed_feature": (
        lambda d: _edit_signature(d, lambda cols: [{**cols[0], "name": "kwh_avg_28d"}, *cols[1:]]),
        r"missing \['kwh_mean_28d'\], extra \['kwh_avg_28d'\]",
    ),
    "signature_extra_feature": (
        lambda d: _edit_signature(d, lambda cols: [*cols, {**cols[0], "name": "zzz"}]),
        r"extra \['zzz'\]",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_registry_version_is_refused_and_old_keeps_serving(registry_env, kind, tmp_path, record_property):
    settings, v2 = registry_env
    model_dir = _model_dir(v2)
    pristine = tmp_path / "pristine"
    shutil.copytree(model_dir, pristine)
    store = ModelStore(settings)
    store.load_all()
    assert store.get("arrears").version == "1"
    client = make_client(settings, store)
    breaker, reason = BROKEN_FILES[kind]
    try:
        breaker(model_dir)
        with pytest.raises(ModelRejected, match=reason):
            store.reload("arrears", "2")
        assert requests_answered_by(client, "1", record_property) == []
    finally:
        shutil.rmtree(model_dir)
        shutil.copytree(pristine, model_dir)
    assert store.reload("arrears", "2").version == "2"  # the next good reload works


def test_alias_pointing_nowhere_is_refused(registry_env, record_property):
    settings, _ = registry_env
    store = ModelStore(settings)
    store.load_all()
    with pytest.raises(ModelRejected, match="no meterwise-demo-arrears@challenger"):
        store.reload("arrears", "challenger")
    assert store.get("arrears").version == "1"
    assert requests_answered_by(make_client(settings, store), "1", record_property) == []


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        pytest.param(RaisingArrears(), "exploded on the canary", id="raises_on_canary"),
        pytest.param(StubArrears(broken=True), "not finite", id="nan_output"),
        pytest.param(OutOfRangeArrears(), r"in \[0, 1\]", id="probability_out_of_range"),
        pytest.param(RenamedArrears(), "not in the feature snapshot", id="renamed_feature"),
        pytest.param("not a model", "lacks", id="wrong_interface"),
        pytest.param(StubForecaster(), "lacks", id="wrong_kind"),
    ],
)
def test_broken_bundle_is_refused_with_a_named_reason(rel_settings, bundle, reason, record_property):
    loader = StubLoader()
    store = ModelStore(rel_settings, loader=loader)
    store.load_all()
    client = make_client(rel_settings, store)
    loader.bundles["arrears"] = (bundle, "9")
    with pytest.raises(ModelRejected, match=reason):
        store.reload("arrears")
    assert requests_answered_by(client, "1", record_property) == []
    loader.bundles["arrears"] = (StubArrears(bias=0.3), "10")
    assert store.reload("arrears").version == "10"
