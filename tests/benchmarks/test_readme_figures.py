"""The README's figures block says exactly what the committed result JSON files support."""

from __future__ import annotations

import json

from harness import readme


def test_readme_block_matches_the_committed_json():
    block = readme.current_block(readme.README.read_text())
    assert block is not None, "README.md has no figures block"
    assert block == readme.render(), "README figures differ from benchmarks/results: run python -m harness.readme"


def _results(tmp_path, files: dict) -> object:
    folder = tmp_path / "results"
    folder.mkdir()
    for name, data in files.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def test_failed_gates_missing_keys_renamed_and_absent_files_are_all_shown(tmp_path):
    results = _results(
        tmp_path,
        {
            "reliability": {"mode": "full", "soak": {"single_p99_ms": 2.94}, "gates": {"a": True, "b": False}},
            "features_build_v2": {"peak_rss_mib": 1800.0},  # renamed by someone else: still listed
        },
    )
    text = readme.render(results)
    assert "soak p99 2.94 ms" in text
    assert "1/2 passed; **failed: b**" in text
    assert "not in the JSON: fuzz.cases" in text
    assert "`features_build_v2.json` | (no headline figures declared) | no gates recorded" in text
    assert "`serving_api.json`" in text.split("renamed or not run")[1]


def test_an_edited_readme_fails_the_check_and_update_restores_it(tmp_path):
    results = _results(tmp_path, {"serving_api": {"meterwise": {"c16_req_per_s": 4861.0}, "gates": {"c16": True}}})
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{readme.BEGIN}\n{readme.END}\noutro\n")
    assert readme.update(page, results) is True
    assert "4,861 req/s at c16" in page.read_text()
    page.write_text(page.read_text().replace("4,861", "9,999"))  # a figure the JSON does not support
    assert readme.current_block(page.read_text()) != readme.render(results)
    readme.update(page, results)
    assert readme.current_block(page.read_text()) == readme.render(results)
    assert page.read_text().startswith("intro\n") and page.read_text().endswith("outro\n")
