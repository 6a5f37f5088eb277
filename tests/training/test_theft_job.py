"""train_theft: registered, promoted through training.promotion.decide, exported for serving."""

from __future__ import annotations

from features.settings import DEMO_DIR
from training import registry
from training.settings import TrainingSettings
from training.theft_job import KIND, train_theft


def test_first_version_becomes_champion_and_an_equal_retrain_stays_challenger(tmp_path):
    training = TrainingSettings(var_dir=tmp_path / "var", models_dir=tmp_path / "models")
    first = train_theft(DEMO_DIR, training)
    assert first.promoted and first.reason == "no champion yet"
    assert (tmp_path / "models" / "demo" / KIND / "model.joblib").exists()
    second = train_theft(DEMO_DIR, training)  # same labels, same score: no 1 % gain
    assert not second.promoted, second.reason
    reg = registry.open_registry(training, "demo")
    assert reg.champion_version(KIND) == first.version
    tags = reg.version_run(KIND, second.version)["tags"]
    assert tags["labels"] == "inspected-only (PU)" and tags["as_of"] == str(first.as_of.date())
