"""Fuzzing checks shared by the pytest fuzz test and the benchmark (schemathesis, OpenAPI-driven)."""

from __future__ import annotations

import contextlib
import re

import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.service import API_KEYS

#: a traceback, a server file path or any configured API key in a response body is a leak
LEAK = re.compile(
    "|".join(
        [r"Traceback \(most recent call last\)", r'File "[^"]+", line \d+', r"/(?:work|home|tmp|usr|opt)/[\w./-]+\.py"]
        + [re.escape(k) for k in API_KEYS]
    )
)


@schemathesis.check
def no_leaks(ctx, response, case) -> None:
    """No traceback, server file path or API key in any response."""
    found = LEAK.search(response.text or "")
    if found:
        raise AssertionError(f"response leaks {found.group(0)[:60]!r}")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    no_leaks,
]

KINDS = {
    "server_errors": [not_a_server_error],
    "schema_violations": [response_schema_conformance, content_type_conformance, response_headers_conformance],
    "undocumented_status": [status_code_conformance],
    "leaks": [no_leaks],
}


def _fuzz_operation(op, mode, stats: dict, base: str, cases: int, headers: dict[str, str], seed: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import Unsatisfiable

    @hseed(seed)
    @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case) -> None:
        stats["cases"] += 1
        response = case.call(base_url=base, headers=headers, timeout=30)
        for kind, checks in KINDS.items():
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except Exception as err:  # a failed check: count it, keep fuzzing
                stats[kind] += 1
                if len(stats["examples"]) < 3:
                    stats["examples"].append(f"{kind}: {str(err)[:300]}")

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (an operation without inputs)
        run()


def fuzz_url(base: str, cases: int, headers: dict[str, str], seed: int = 0) -> dict:
    """Fuzz every operation of the live schema at `base` (loopback) with `cases` positive and `cases`
    negative examples (hypothesis may stop early when an operation has fewer distinct inputs)."""
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    report: dict[str, dict] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        stats = {"cases": 0, **{k: 0 for k in KINDS}, "examples": []}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(op, mode, stats, base, cases, headers, seed)
        report[op.label] = stats
    return report
