"""Notebooks: stored without outputs, define no logic, and run top to bottom on the demo tenant.

The execution tests (``slow``) run each notebook with nbclient in its own kernel; any cell error
fails the test with the cell's traceback. Each notebook writes its MLflow runs to a throw-away store
(its setup cell), which is checked here too: the repository's own store must not change.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import nbformat  # dev extra, with nbclient and ipykernel
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = ("01_explore_tenant", "02_arrears_risk", "03_segments", "04_demand_forecast")
CELL_TIMEOUT_S = 600


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_every_expected_notebook_exists():
    assert [p.stem for p in NOTEBOOKS] == list(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_stripped_and_defines_no_logic(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"
        tree = ast.parse(cell.source)
        defined = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        assert not defined, f"{path.name} defines {defined}: move it into the package"
    setup = code[0].source
    assert "METERWISE_VAR_DIR" in setup and "tempfile" in setup, "first cell must point the store at a temp dir"


def _store_state() -> dict[str, float]:
    """mtimes of the repository's own MLflow store and fallback bundles (what a notebook must not touch)."""
    watched = [ROOT / "var" / "mlflow.db", *sorted((ROOT / "models").glob("*/model.joblib"))]
    return {str(p): p.stat().st_mtime for p in watched if p.exists()}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch, tmp_path: Path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's throw-away store lands here and is cleaned up
    before_store, before_files = _store_state(), set(os.listdir(NOTEBOOK_DIR))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:  # the message holds the failing cell and its traceback
        pytest.fail(f"{path.name}: {err}", pytrace=False)
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f}s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 2, f"{path.name} drew {images} figures"
    stores = list(tmp_path.glob("meterwise-notebook-*"))
    assert len(stores) == 1, f"expected one throw-away store under {tmp_path}, found {stores}"
    if "train_" in "".join(c.source for c in nb.cells):
        assert (stores[0] / "mlflow.db").exists(), "the notebook trained but not into its throw-away store"
    assert _store_state() == before_store, "a notebook wrote to the repository's MLflow store or models/"
    assert set(os.listdir(NOTEBOOK_DIR)) == before_files, "a notebook left files beside the notebooks"
