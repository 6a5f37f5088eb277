"""kill -9 at two seeded moments of arrears training around one clean run: the registry stays consistent."""

from __future__ import annotations

import random
import signal

from harness.kill import inspect, kill_trial, run_to_completion
from harness.service import isolated_mlflow
from harness.train_job import write_tenant


def test_kill_during_training_never_corrupts_the_champion(tmp_path):
    tenant, var, models = write_tenant(tmp_path / "tenant"), tmp_path / "var", tmp_path / "models"
    rng = random.Random(12)
    first = kill_trial(tenant, var, models, rng.uniform(3.0, 10.0), signal.SIGKILL, in_process=True)
    assert first.problems == [], first
    version = run_to_completion(tenant, var, models)  # the next run succeeds after a kill
    state = inspect(var, models, in_process=True)
    assert state["problems"] == [] and state["aliases"]["champion"] == version
    assert state["running"] == 0  # the killed run was marked FAILED when the next run started
    second = kill_trial(tenant, var, models, rng.uniform(3.0, 12.0), signal.SIGKILL, in_process=True)
    assert second.problems == [], second
    assert second.completed or second.champion_after in (version, str(int(version) + 1))
    with isolated_mlflow():
        from training.registry import open_registry
        from training.settings import TrainingSettings

        open_registry(TrainingSettings(var_dir=var, models_dir=models), "kill").fail_orphaned_runs()  # as training does
    assert inspect(var, models, in_process=True)["running"] == 0
