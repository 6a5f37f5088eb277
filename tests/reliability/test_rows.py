"""Row conservation over seeded random corruptions: counts add up exactly, every bad row is quarantined
with its column, check, value, source file and line."""

from __future__ import annotations

import pytest
from harness.rows import corrupt_and_load


@pytest.mark.parametrize("seed", range(6))
def test_every_row_is_accepted_or_quarantined_with_its_reason(tmp_path, seed):
    result = corrupt_and_load(tmp_path, seed)
    assert result["problems"] == []
    t = result["totals"]
    assert t["in"] == t["accepted"] + t["quarantined"] and t["quarantined"] >= 1
