"""The bad-input catalogue, one test per row: every wrong request gets its documented status and envelope."""

from __future__ import annotations

import pytest
from harness.catalogue import ROWS, Row, build_clients, check_response, send
from harness.service import BILLING


@pytest.fixture(scope="module")
def clients(rel_settings, rel_store):
    """One client per app variant a row may need."""
    out, cleanup = build_clients(rel_settings, rel_store)
    yield out
    cleanup()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_catalogue_row(clients, row: Row):
    r = send(clients[row.app], row)
    assert check_response(row, r) == []


def test_catalogue_covers_the_issue_list():
    ids = {r.id for r in ROWS}
    needed = {
        "missing_key", "unknown_key", "wrong_scope_arrears", "invalid_json", "wrong_content_type",
        "body_over_limit", "body_over_limit_chunked", "empty_batch", "oversized_batch", "unknown_route",
        "wrong_method", "missing_field", "mistyped_field", "nan", "infinity", "negative_feature",
        "unknown_extra_field", "duplicate_ids", "deeply_nested_json", "invalid_utf8", "unknown_customer",
        "batch_unknown_item", "batch_1000_mixed", "horizon_too_long", "not_loaded_scoring",
        "not_loaded_healthz", "not_loaded_readyz", "rate_limited", "overloaded", "deadline",
    }  # fmt: skip
    assert needed <= ids and len(ids) == len(ROWS)


def test_deadline_frees_the_gate_and_the_server_keeps_answering(clients):
    slow = clients["slow"]
    row = next(r for r in ROWS if r.id == "deadline")
    assert send(slow, row).status_code == 504
    assert slow.app.state.gate.in_flight == 0  # the late work finished and released its rows
    assert slow.get("/v1/arrears/K0001", headers=BILLING).status_code == 200
