"""The reliability gates: computed from the run's figures, a failing figure fails its gate, and the
benchmark's exit path (:func:`harness.results.finish`) exits 1 with the gate named in ``gates_failed``."""

from __future__ import annotations

import copy
import json

import pytest
from harness.gates import reliability_gates
from harness.results import finish
from harness.scenarios import three_at_once_ok

PASSING = {
    "catalogue": {"rows": 54, "failed": 0},
    "auth": {"cells": 55, "failed": 0, "keys_in_logs": 0, "log_lines_checked": 111, "cors_allow_origin": None},
    "rows": {"in": 100, "accepted": 90, "quarantined": 10, "failed": 0},
    "broken_models": {"kinds": 13, "failed_kinds": [], "requests": 130, "failed_requests": 0},
    "fuzz": {
        "server_errors": 0,
        "schema_violations": 0,
        "undocumented_status": 0,
        "leaks": 0,
        "server_alive_after": True,
        "min_cases_per_operation": 1003,
        "cases_requested_per_mode": 1000,
    },
    "big_batch": {"ok": True, "seconds": 1.4, "extra_rss_mib": 570.0, "three_at_once_ok": True},
    "reload": {
        "swaps": 20,
        "swap_statuses_ok": 20,
        "requests": 4700,
        "failed_requests": 0,
        "versions_seen": ["1", "2"],
        "steady_p99_ms": 10.0,
        "swap_p99_ms": 15.5,
    },
    "soak": {
        "requests": 120_600,
        "errors": 0,
        "single_p99_ms": 5.7,
        "batch_p99_ms": 21.4,
        "rss_growth_pct": 0.04,
        "fds_threads_flat": True,
        "metrics_match": True,
        "leak_control_failed": True,
    },
    "kill": {"champion_corrupted": 0, "problems": [], "next_run_ok": True, "running_runs_left": 0},
    "supply_chain": {"status": "not_audited", "audited": 0, "vulnerable_packages": []},
}


def test_a_passing_run_passes_every_gate():
    gates = reliability_gates(PASSING)
    assert gates and all(gates.values()), [k for k, v in gates.items() if not v]
    assert not any(k.startswith("supply_chain") for k in gates)  # nothing audited: reported, not passed


@pytest.mark.parametrize(
    ("section", "field", "value", "gate"),
    [
        pytest.param("soak", "leak_control_failed", False, "soak.leak_control_caught", id="leak_missed"),
        pytest.param("soak", "rss_growth_pct", 177.0, "soak.rss_growth", id="soak_leaks"),
        pytest.param("reload", "swap_p99_ms", 122.3, "reload.swap_p99", id="reload_p99"),
        pytest.param("reload", "steady_p99_ms", 225.2, "reload.steady_p99", id="reload_slow_baseline"),
        pytest.param("big_batch", "three_at_once_ok", three_at_once_ok([503, 503, 503]), "big_batch.three_at_once"),
        pytest.param("broken_models", "failed_requests", 1, "broken_models.old_model_kept_answering", id="requests"),
        pytest.param("fuzz", "server_errors", 2, "fuzz.no_server_errors", id="fuzz_5xx"),
        pytest.param("kill", "champion_corrupted", 1, "kill.champion_intact", id="kill"),
    ],
)
def test_a_failing_figure_fails_its_gate_and_the_run_exits_1(tmp_path, section, field, value, gate):
    run = copy.deepcopy(PASSING)
    run[section][field] = value
    gates = reliability_gates(run)
    assert [k for k, ok in gates.items() if not ok] == [gate]
    out = tmp_path / "reliability.json"
    with pytest.raises(SystemExit) as exc:
        finish("reliability", run, gates, path=out)
    assert exc.value.code == 1
    assert json.loads(out.read_text())["gates_failed"] == [gate]


def test_a_crashed_or_incomplete_section_fails():
    run = copy.deepcopy(PASSING)
    run["soak"] = {"error": "RuntimeError: server exited", "wall_s": 3.0}
    del run["reload"]["swap_p99_ms"]
    failed = [k for k, ok in reliability_gates(run).items() if not ok]
    assert failed[0].startswith("reload.completed") and "soak.completed" in failed


@pytest.mark.parametrize(
    ("statuses", "ok"),
    [([200, 200, 200], True), ([200, 503, 503], True), ([503, 503, 503], False), ([200, 200, 500], False)],
)
def test_three_at_once_needs_an_answer_and_only_sheds_with_503(statuses, ok):
    assert three_at_once_ok(statuses) is ok
