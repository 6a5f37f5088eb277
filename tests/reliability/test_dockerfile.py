"""Static checks of the Dockerfile (no docker engine in CI): non-root user, `meterwise serve`, no secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    return steps[starts[-1] :]


def test_runs_as_non_root_and_serves():
    steps = final_stage(instructions((ROOT / "Dockerfile").read_text()))
    users = [arg for word, arg in steps if word == "USER"]
    assert users, "the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    assert [w for w, _ in steps].index("USER") < [w for w, _ in steps].index("CMD")
    cmd = json.loads(next(arg for word, arg in steps if word == "CMD"))  # exec form: signals reach the app
    assert cmd[:2] == ["meterwise", "serve"]
    env = " ".join(arg for word, arg in steps if word == "ENV")
    assert "METERWISE_HOST=0.0.0.0" in env  # reachable from outside the container
    assert not re.search(r"API_KEYS|SECRET|PASSWORD|TOKEN", env), "no secrets baked into the image"
    assert any(word == "HEALTHCHECK" and "/healthz" in arg for word, arg in steps)


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "var", "mlruns"} <= ignored
