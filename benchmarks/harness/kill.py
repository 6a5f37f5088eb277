"""kill -9 / SIGTERM during arrears training: the registry stays consistent (shared with the benchmark).

After every kill: the sqlite store passes ``PRAGMA integrity_check``; ``champion`` is unchanged unless
the kill came after its final write (then it names the new, admitted version); every version an alias
reaches loads and scores a canary with finite probabilities in [0, 1].
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.load import python_path

ROOT = Path(__file__).resolve().parents[2]
INSPECT = """
import json, sys
import numpy as np, pandas as pd
from training.registry import open_registry
from training.settings import TrainingSettings
argv = globals().get("ARGV") or sys.argv[1:]
registry = open_registry(TrainingSettings(var_dir=argv[0], models_dir=argv[1]), "kill")
out = {"aliases": {}, "bad": [], "running": 0, "versions": 0}
client = registry.client
try:
    rm = client.get_registered_model("meterwise-kill-arrears")
    aliases = dict(rm.aliases)
    out["versions"] = len(client.search_model_versions("name='meterwise-kill-arrears'"))
except Exception:
    aliases = {}
for alias, version in aliases.items():
    out["aliases"][alias] = str(version)
    try:
        bundle, _ = registry.load_version("arrears", alias)
        X = pd.DataFrame(np.zeros((4, len(bundle.feature_names_in_))), columns=bundle.feature_names_in_)
        p = np.asarray(bundle.predict_risk(X), dtype=float)
        if not (np.all(np.isfinite(p)) and p.min() >= 0 and p.max() <= 1):
            out["bad"].append(f"{alias}: canary {p[:2]}")
    except Exception as err:
        out["bad"].append(f"{alias}: {type(err).__name__}: {str(err)[:120]}")
exps = [e.experiment_id for e in client.search_experiments()]
if exps:
    out["running"] = len(client.search_runs(exps, filter_string="attributes.status = 'RUNNING'"))
print("STATE " + json.dumps(out))
"""


@dataclass
class Trial:
    delay_s: float
    sig: int
    completed: bool
    champion_before: str | None
    champion_after: str | None
    problems: list[str]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": python_path()}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    return env


def train(tenant: Path, var: Path, models: Path, seed: int = 0) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "harness.train_job",
        str(tenant),
        str(var),
        str(models),
        "--seed",
        str(seed),
    ]
    return subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def inspect(var: Path, models: Path, *, in_process: bool = False) -> dict:
    """Registry state (aliases, bad aliases, RUNNING runs) + sqlite integrity; a fresh process by default."""
    problems = []
    db = var / "mlflow.db"
    if db.exists():
        with sqlite3.connect(db) as con:
            verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            problems.append(f"integrity_check: {verdict}")
    if in_process:
        import contextlib
        import io

        from harness.service import isolated_mlflow

        buf = io.StringIO()
        with isolated_mlflow(), contextlib.redirect_stdout(buf):
            exec(INSPECT, {"__name__": "inspect", "ARGV": [str(var), str(models)]})
        stdout, stderr = buf.getvalue(), ""
    else:
        run = subprocess.run(
            [sys.executable, "-c", INSPECT, str(var), str(models)], cwd=ROOT, env=_env(), capture_output=True, text=True
        )
        stdout, stderr = run.stdout, run.stderr
    line = next((x for x in stdout.splitlines() if x.startswith("STATE ")), None)
    if line is None:
        return {"aliases": {}, "bad": [f"inspect failed: {stderr[-300:]}"], "running": 0, "problems": problems}
    state = json.loads(line[6:])
    state["problems"] = problems + state["bad"]
    return state


def run_to_completion(tenant: Path, var: Path, models: Path, seed: int = 0, timeout_s: float = 300) -> str:
    proc = train(tenant, var, models, seed)
    out, _ = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0 and "DONE" in out, f"training failed (rc {proc.returncode})"
    return out.split("DONE", 1)[1].strip()


def kill_trial(
    tenant: Path, var: Path, models: Path, delay_s: float, sig: int = signal.SIGKILL, *, in_process: bool = False
) -> Trial:
    """Start a training run, send `sig` after `delay_s`, then check the registry."""
    before = inspect(var, models, in_process=in_process)["aliases"].get("champion")
    proc = train(tenant, var, models)
    time.sleep(delay_s)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    completed = "DONE" in (out or "")
    state = inspect(var, models, in_process=in_process)
    after = state["aliases"].get("champion")
    problems = list(state["problems"])
    if after != before and not completed:
        latest = str(state.get("versions"))  # moved by the killed run: only after its final write
        if after != latest:
            problems.append(f"champion moved from {before} to {after}, not to the run's version {latest}")
    return Trial(delay_s, int(sig), completed, before, after, problems)
