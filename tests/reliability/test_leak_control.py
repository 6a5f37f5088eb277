"""The soak's leak control on a real server: a build that keeps 64 KiB per request fails the RSS gate.

Runs the benchmark's own :func:`harness.scenarios.soak` (same sampler, same gate) for a few seconds
against ``python -m harness.leaky_server`` over the stub service, so the control is shown failing in
the normal test command, not only in the 10-minute benchmark run.
"""

from __future__ import annotations

from harness.gates import RSS_GROWTH_PCT_LIMIT
from harness.scenarios import soak
from harness.service import stub_server_env

LEAK_KIB = 64
SECONDS = 12.0


def test_sampler_sees_a_leak_of_64_kib_per_request_and_the_gate_fails(tmp_path):
    env = {**stub_server_env(tmp_path), "METERWISE_LEAK_KB": str(LEAK_KIB)}
    out = soak(env, SECONDS, module="harness.leaky_server", batch=False)
    assert out["errors"] == 0 and out["requests"] >= 0.9 * 200 * SECONDS
    # growth is measured from SECONDS / 5 on: the requests sent after that kept LEAK_KIB each
    leaked_mib = LEAK_KIB / 1024 * out["requests"] * 4 / 5
    assert out["rss_end_mib"] - out["rss_start_mib"] >= 0.7 * leaked_mib, out
    assert out["rss_end_mib"] > 0 and out["fds_end"] > 0  # read from the running server, not a dying one
    assert out["rss_growth_pct"] >= RSS_GROWTH_PCT_LIMIT and out["rss_gate_ok"] is False
