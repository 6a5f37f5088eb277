"""Plot modules choose no matplotlib backend: importing them leaves the backend to the caller (the CLI sets
MPLBACKEND=Agg, a notebook keeps its inline backend)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "training.plots.common",
    "training.plots.arrears",
    "training.plots.forecast",
    "training.plots.segments",
    "training.work_orders_report",
)
PROBE = """
import matplotlib
calls = []
matplotlib.use = lambda *args, **kwargs: calls.append(args)
import importlib
for name in {modules!r}:
    importlib.import_module(name)
backend = matplotlib.rcParams._get_backend_or_none() if hasattr(matplotlib.rcParams, "_get_backend_or_none") else None
print(calls, backend)
"""


def test_importing_the_plot_modules_chooses_no_backend():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # a module would pick one only when unset
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=MODULES)], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "[] None", out.stdout + out.stderr


def test_the_cli_sets_agg_unless_told_otherwise(monkeypatch):
    from serving.cli import configure_logging

    monkeypatch.delenv("MPLBACKEND", raising=False)
    configure_logging(verbose=False)
    assert os.environ["MPLBACKEND"] == "Agg"
    monkeypatch.setenv("MPLBACKEND", "svg")
    configure_logging(verbose=False)
    assert os.environ["MPLBACKEND"] == "svg"
