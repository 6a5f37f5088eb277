"""Run as scripts, benchmarks have ``benchmarks/`` as ``sys.path[0]``: a benchmark named like a package
(``benchmarks/features.py``) would shadow it and force ``sys.path`` hacks."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_benchmark_shadows_a_package_or_module_of_the_repository():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {"harness"}
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    assert packages >= {"features", "training", "serving", "harness"}
    assert scripts & packages == set()


def test_no_benchmark_imports_from_tests():
    for script in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "benchmarks" / "harness").glob("*.py")]:
        text = script.read_text()
        assert "from tests" not in text and "import tests" not in text, script.name


def test_the_harness_benchmarks_need_no_sys_path_hacks():
    for name in (
        "reliability.py",
        "features_build.py",
        *(f"harness/{p.name}" for p in (ROOT / "benchmarks/harness").glob("*.py")),
    ):
        text = (ROOT / "benchmarks" / name).read_text()
        assert "sys.path.insert" not in text and "sys.modules.pop" not in text, name
