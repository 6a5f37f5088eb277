import json

import numpy as np
import pytest
from harness.results import finish, write_result


def test_gates_failed_lists_failures_and_json_has_no_nan(tmp_path):
    out = tmp_path / "x.json"
    failed = write_result("x", {"a": float("nan"), "b": np.float64(1.5)}, {"ok": True, "bad": np.False_}, path=out)
    data = json.loads(out.read_text())
    assert failed == ["bad"] and data["gates_failed"] == ["bad"]
    assert data["a"] is None and data["b"] == 1.5


def test_finish_exits_non_zero_on_a_failed_gate(tmp_path):
    with pytest.raises(SystemExit) as exc:
        finish("x", {}, {"latency": False}, path=tmp_path / "x.json")
    assert exc.value.code == 1
    finish("x", {}, {"latency": True}, path=tmp_path / "y.json")  # returns
