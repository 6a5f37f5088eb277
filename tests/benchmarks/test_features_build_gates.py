"""The features benchmark's gates come from the run's figures and fail the run when a figure misses."""

from __future__ import annotations

import json

import features_build
import pytest
from harness.results import finish

RUN = {"customers": 100_000, "profile_rows": 100_000, "peak_rss_mib": 1850.0, "ratio_to_floor": 1.1}


def test_a_run_within_limits_passes():
    assert all(features_build.default_gates(RUN).values())


@pytest.mark.parametrize(
    ("field", "value", "gate"),
    [
        ("peak_rss_mib", 2667.4, "peak_rss_under_2_gib"),  # the figure before this issue
        ("ratio_to_floor", 2.5, "within_2x_duckdb_floor"),
        ("profile_rows", 99_999, "one_row_per_customer"),
    ],
)
def test_a_missed_figure_fails_its_gate_and_exits_1(tmp_path, field, value, gate):
    gates = features_build.default_gates({**RUN, field: value})
    assert [k for k, ok in gates.items() if not ok] == [gate]
    with pytest.raises(SystemExit) as exc:
        finish("features_build", {**RUN, field: value}, gates, path=tmp_path / "f.json")
    assert exc.value.code == 1 and json.loads((tmp_path / "f.json").read_text())["gates_failed"] == [gate]
