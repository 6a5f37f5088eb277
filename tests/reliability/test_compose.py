"""Static checks of deploy/compose.yaml and the Dockerfile against the package (no docker engine in CI).

Images pinned, no default secrets, entry points that exist, ports and env vars the settings know.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from features.settings import DataSettings
from serving.settings import ServingSettings
from tests.reliability.test_dockerfile import final_stage, instructions
from training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
EXPECTED = {"postgres", "mlflow", "api", "prometheus", "dask-scheduler", "dask-worker"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEYS(?!_FILE)|KEY$", re.I)
#: METERWISE_* variables read outside the three settings classes (by name, so a typo still fails)
OTHER_VARS = {"METERWISE_DATABASE_URL"}  # the decision audit trail's database (issue 20)


def load(text: str | None = None) -> dict:
    return yaml.safe_load(text if text is not None else COMPOSE.read_text())


def pinned(image: str) -> bool:
    """``name@sha256:...``, or ``name:tag`` naming a release: x.y.z (PostgreSQL numbers its releases x.y).

    ``latest``, no tag, or a release line (``python:3.11-slim``, ``postgres:16``) float and fail.
    """
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    release = r"\d+\.\d+(?![.\d])" if name.rsplit("/", 1)[-1] == "postgres" else r"\d+\.\d+\.\d+"
    return bool(name) and "/" not in tag and bool(re.search(rf"(^|[^.\d]){release}", tag))


def unpinned_images(spec: dict) -> list[str]:
    return [f"{n}: {s.get('image')}" for n, s in spec["services"].items() if not pinned(str(s.get("image", "")))]


def default_secrets(text: str) -> list[str]:
    """Secret-looking variables with a default or no required-marker, and literal secret values."""
    bad = [m.group(0) for m in re.finditer(r"\$\{(\w+)(:?-[^}]*)?\}", text) if SECRET_NAME.search(m.group(1))]
    bad += [m.group(0) for m in re.finditer(r"^\s*-?\s*(\w*(PASSWORD|SECRET|TOKEN)\w*)[:=]\s*(?!\$\{)\S+", text, re.M)]
    bad += [m.group(0) for m in re.finditer(r"postgresql://\w+:(?!\$\{)[^@]+@", text)]
    return bad


def settings_fields() -> set[str]:
    names = set()
    for cls in (ServingSettings, TrainingSettings, DataSettings):
        names |= {f"METERWISE_{f.upper()}" for f in cls.model_fields}
    return names


def test_compose_has_the_stack_with_pinned_images_and_no_default_secrets():
    spec = load()
    assert set(spec["services"]) == EXPECTED
    assert unpinned_images(spec) == []
    assert default_secrets(COMPOSE.read_text()) == []
    assert spec["secrets"]["api_keys"]["file"].startswith("${METERWISE_API_KEYS_PATH:?")
    for name, service in spec["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


@pytest.mark.parametrize(
    ("mutation", "found"),
    [
        (lambda t: t.replace("postgres:16.4-bookworm", "postgres:latest"), unpinned_images),
        (lambda t: t.replace("prom/prometheus:v2.54.1", "prom/prometheus"), unpinned_images),
        (lambda t: t.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (a long", "${POSTGRES_PASSWORD:-x (a"), None),
        (lambda t: t.replace("POSTGRES_USER: meterwise", "POSTGRES_USER: meterwise\n      DB_PASSWORD: hunter2"), None),
        (lambda t: t.replace("meterwise:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@", "meterwise:pw@", 1), None),
    ],
    ids=["latest_tag", "no_tag", "default_password", "literal_password", "password_in_url"],
)
def test_the_checks_catch_a_bad_compose_file(mutation, found):
    text = mutation(COMPOSE.read_text())
    assert text != COMPOSE.read_text()
    if found is unpinned_images:
        assert unpinned_images(load(text))
    else:
        assert default_secrets(text)


def test_entry_points_ports_and_env_vars_match_the_package():
    spec = load()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "meterwise" in scripts
    from serving.cli import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    api = spec["services"]["api"]
    assert api["command"][:2] == ["meterwise", "serve"] and "serve" in commands
    for name, service in spec["services"].items():
        if "command" in service and service.get("image", "").startswith("meterwise:"):
            assert service["command"][0] in {"meterwise", "mlflow", "dask"}, name

    env = api["environment"]
    unknown = {k for k in env if k.startswith("METERWISE_")} - settings_fields() - OTHER_VARS
    assert unknown == set(), f"the package reads no such settings: {unknown}"
    settings = ServingSettings(host="0.0.0.0", api_keys={"a-long-random-key-1": ["billing"]})
    port = int(env["METERWISE_PORT"])
    assert port == settings.port
    assert api["ports"] == [f"127.0.0.1:{port}:{port}"]
    mlflow_port = spec["services"]["mlflow"]["command"][spec["services"]["mlflow"]["command"].index("--port") + 1]
    assert env["METERWISE_TRACKING_URI"] == f"http://mlflow:{mlflow_port}"
    sched = spec["services"]["dask-scheduler"]["command"]
    assert env["METERWISE_DASK_SCHEDULER"] == f"tcp://dask-scheduler:{sched[sched.index('--port') + 1]}"
    assert spec["services"]["dask-worker"]["command"][2] == env["METERWISE_DASK_SCHEDULER"]
    assert spec["services"]["dask-worker"]["deploy"]["replicas"] >= 2

    prometheus = yaml.safe_load((COMPOSE.parent / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"api:{port}"]
    init_sql = (COMPOSE.parent / "postgres-init" / "01-meterwise.sql").read_text()
    assert env["METERWISE_DATABASE_URL"].rsplit("/", 1)[1] in init_sql


def test_dockerfile_base_images_pinned_and_port_matches_the_settings():
    steps = instructions((ROOT / "Dockerfile").read_text())
    bases = [arg.split()[0] for word, arg in steps if word == "FROM"]
    assert bases and all(pinned(b) for b in bases), bases
    final = final_stage(steps)
    exposed = [int(arg) for word, arg in final if word == "EXPOSE"]
    env = " ".join(arg for word, arg in final if word == "ENV")
    port = int(re.search(r"METERWISE_PORT=(\d+)", env).group(1))
    assert exposed == [port]
    assert load()["services"]["api"]["environment"]["METERWISE_PORT"] == str(port)
    assert not pinned("python:3.11-slim") and not pinned("python") and pinned("python@sha256:abc")
    assert not pinned("postgres:16") and not pinned("postgres:latest") and pinned("postgres:16.4")


def test_the_image_refuses_to_start_with_the_demo_keys(monkeypatch):
    """The Dockerfile binds 0.0.0.0 and sets no keys: its settings must refuse, whatever else is set."""
    final = final_stage(instructions((ROOT / "Dockerfile").read_text()))
    env = dict(re.findall(r"(METERWISE_\w+)=(\S+)", " ".join(arg for word, arg in final if word == "ENV")))
    monkeypatch.delenv("METERWISE_API_KEYS", raising=False)
    monkeypatch.delenv("METERWISE_API_KEYS_FILE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=r"refusing to serve on 0\.0\.0\.0"):
        ServingSettings()
