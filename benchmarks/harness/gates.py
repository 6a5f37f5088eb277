"""The reliability benchmark's gates: pure functions from a section's live figures to ``{gate: passed}``.

Every gate reads figures measured in the same run (no constant passes), a section that crashed fails
its ``completed`` gate, and :func:`reliability_gates` prefixes each gate with its section
(``soak.leak_control_caught``) for :func:`harness.results.finish`, which exits non-zero when any fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

RSS_GROWTH_PCT_LIMIT = 10.0  # soak: RSS growth from minute 2 to the end [%]
SOAK_SINGLE_P99_MS = 25.0
SOAK_BATCH_P99_MS = 250.0
RELOAD_SWAP_P99_MS = 50.0  # p99 of requests answered while the champion is being swapped [ms]
RELOAD_STEADY_P99_MS = SOAK_SINGLE_P99_MS  # the baseline the swap is compared with must itself be sane [ms]
BIG_BATCH_SECONDS = 5.0  # one 100,000-row features batch [s]
BIG_BATCH_EXTRA_RSS_MIB = 1536.0
BROKEN_MODEL_KINDS = 13


def catalogue_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {"all_rows_answered_as_documented": s["failed"] == 0 and s["rows"] > 0}


def auth_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "matrix_holds": s["failed"] == 0 and s["cells"] > 0,
        "no_key_in_logs": s["keys_in_logs"] == 0 and s["log_lines_checked"] > 0,
        "cors_off": s["cors_allow_origin"] is None,
    }


def rows_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "rows_conserved": s["failed"] == 0 and s["in"] == s["accepted"] + s["quarantined"],
        "corruption_quarantined": s["quarantined"] > 0,
    }


def broken_models_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "every_kind_refused": s["kinds"] >= BROKEN_MODEL_KINDS and not s["failed_kinds"],
        "old_model_kept_answering": s["requests"] > 0 and s["failed_requests"] == 0,
    }


def fuzz_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "no_server_errors": s["server_errors"] == 0,
        "no_schema_violations": s["schema_violations"] == 0 and s["undocumented_status"] == 0,
        "no_leaks": s["leaks"] == 0,
        "server_alive_after": bool(s["server_alive_after"]),
        "cases_per_operation": s["min_cases_per_operation"] >= s["cases_requested_per_mode"],
    }


def big_batch_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "answered": bool(s["ok"]),
        "seconds": s["seconds"] < BIG_BATCH_SECONDS,
        "extra_rss": s["extra_rss_mib"] < BIG_BATCH_EXTRA_RSS_MIB,
        "three_at_once": bool(s["three_at_once_ok"]),
    }


def reload_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    steady, swap = s["steady_p99_ms"], s["swap_p99_ms"]
    return {
        "every_swap_ok": s["swaps"] > 0 and s["swap_statuses_ok"] == s["swaps"],
        "no_failed_request": s["requests"] > 0 and s["failed_requests"] == 0,
        "both_versions_served": len(s["versions_seen"]) >= 2,
        # a slow baseline would let a slow swap pass "within twice steady": the baseline is gated too
        "steady_p99": steady is not None and steady < RELOAD_STEADY_P99_MS,
        "swap_p99": swap is not None
        and steady is not None
        and swap <= max(2 * steady, 1.0)
        and swap < RELOAD_SWAP_P99_MS,
    }


def soak_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    gates = {
        "no_errors": s["requests"] > 0 and s["errors"] == 0,
        "single_p99": s["single_p99_ms"] is not None and s["single_p99_ms"] < SOAK_SINGLE_P99_MS,
        "rss_growth": s["rss_growth_pct"] < RSS_GROWTH_PCT_LIMIT,
        "fds_threads_flat": bool(s["fds_threads_flat"]),
        "metrics_match": bool(s["metrics_match"]),
        "leak_control_caught": bool(s["leak_control_failed"]),
    }
    if "batch_p99_ms" in s:
        gates["batch_p99"] = s["batch_p99_ms"] is not None and s["batch_p99_ms"] < SOAK_BATCH_P99_MS
    return gates


def kill_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "champion_intact": s["champion_corrupted"] == 0 and not s["problems"],
        "next_run_ok": bool(s["next_run_ok"]),
        "no_running_runs_left": s["running_runs_left"] == 0,
    }


def supply_chain_gates(s: Mapping[str, Any]) -> dict[str, bool]:
    """Gated only when something was audited (offline, pip-audit audits nothing: reported, not passed)."""
    if not s.get("audited"):
        return {}
    return {"no_vulnerable_packages": not s["vulnerable_packages"]}


SECTION_GATES: dict[str, Callable[[Mapping[str, Any]], dict[str, bool]]] = {
    "catalogue": catalogue_gates,
    "auth": auth_gates,
    "rows": rows_gates,
    "broken_models": broken_models_gates,
    "fuzz": fuzz_gates,
    "big_batch": big_batch_gates,
    "reload": reload_gates,
    "soak": soak_gates,
    "kill": kill_gates,
    "supply_chain": supply_chain_gates,
}


def section_gates(name: str, section: Mapping[str, Any]) -> dict[str, bool]:
    """Gates of one section; a crashed section (``error`` key) or one missing a figure fails ``completed``."""
    if "error" in section:
        return {"completed": False}
    try:
        return SECTION_GATES[name](section)
    except (KeyError, TypeError) as err:
        return {f"completed ({type(err).__name__}: {err})": False}


def reliability_gates(result: Mapping[str, Any]) -> dict[str, bool]:
    """``{"<section>.<gate>": passed}`` for every section present in `result` (``--only`` runs fewer)."""
    out: dict[str, bool] = {}
    for name in SECTION_GATES:
        if name in result:
            out |= {f"{name}.{gate}": bool(ok) for gate, ok in section_gates(name, result[name]).items()}
    return out
