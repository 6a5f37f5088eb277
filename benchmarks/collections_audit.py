"""What the guardrails and the decision audit trail add to an arrears answer, on a real server.

A 10,000-customer stub tenant (the serving stubs of ``harness``: no training) is served by two
``python -m serving.server`` processes at once: one with the audit trail (SQLite WAL,
``synchronous=NORMAL``, the default) and one with ``METERWISE_AUDIT_ENABLED=false`` (guardrails still on).
After a warm-up, 400 single answers (``GET /v1/arrears/{id}``) and 12 batches of 10,000 ids
(``POST /v1/arrears/score``), each sent to one server then the other (interleaved, so the shared machine's
load falls on both alike). Policy: a protected period covering the whole year in the north (a quarter of
the customers), so the guarded share does not depend on the day the benchmark runs. The guardrails alone
are timed in process on 10,000 rows (the vectorised policy, no I/O). Every acknowledged batch is then
looked up in the audit database (none may be missing).

Writes ``benchmarks/results/collections_audit.json``.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import numpy as np
import pandas as pd
from harness.load import launch, stop
from harness.results import finish
from harness.service import BILLING, api_keys_env, write_stub_models

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.collections_settings import CollectionsSettings, ProtectedPeriod
from training.decisions import DecisionLog
from training.guardrails import GuardrailPolicy

logger = logging.getLogger("collections_audit")
N = 10_000
SINGLES, BATCHES = 400, 12
IDS = [f"K{i:05d}" for i in range(N)]
TENANT = "bench"  # no data/bench/collections.json: the policy comes from the environment below
PERIODS = '[{"name": "north_all_year", "regions": ["north"], "start": "01-01", "end": "12-31"}]'


def write_var(var: Path) -> None:
    """Features for N customers and their protection flags (3 % medical, 2 % elderly, four regions)."""
    rng = np.random.default_rng(0)
    folder = var / "features" / TENANT / "2014-02-28"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": IDS,
            "kwh_mean_28d": rng.uniform(5, 40, N).round(2),
            "late_bills_12m": rng.integers(0, 6, N).astype(float),
        }
    ).to_parquet(folder / "profiles.parquet")
    pd.DataFrame(
        {
            "customer_id": IDS,
            "region": rng.choice(["north", "south", "east", "west"], N),
            "medical": pd.array(rng.random(N) < 0.03, dtype="boolean"),
            "elderly": pd.array(rng.random(N) < 0.02, dtype="boolean"),
        }
    ).to_parquet(folder / "protection.parquet")


def measure(bases: dict[str, str]) -> dict[str, dict]:
    """Interleaved A/B: each single request and each batch goes to every server in turn, so that the
    shared machine's load falls on both alike."""
    rng = np.random.default_rng(1)
    singles = {n: [] for n in bases}
    batches = {n: [] for n in bases}
    acked: dict[str, list] = {n: [] for n in bases}
    clients = {n: httpx.Client(base_url=b, headers=BILLING, timeout=60) for n, b in bases.items()}
    try:
        for client in clients.values():  # warm-up: live scores, reasons cache, audit schema
            for cid in IDS[:50]:
                client.get(f"/v1/arrears/{cid}").raise_for_status()
            client.post("/v1/arrears/score", json={"customer_ids": IDS}).raise_for_status()
        for cid in rng.choice(IDS, SINGLES):
            for name, client in clients.items():
                t = time.perf_counter()
                r = client.get(f"/v1/arrears/{cid}")
                singles[name].append(time.perf_counter() - t)
                r.raise_for_status()
        for _ in range(BATCHES):
            ids = list(rng.permutation(IDS))
            for name, client in clients.items():
                t = time.perf_counter()
                r = client.post("/v1/arrears/score", json={"customer_ids": ids})
                batches[name].append(time.perf_counter() - t)
                r.raise_for_status()
                body = r.json()
                acked[name].append((body.get("decision_batch_id"), body.get("guarded_count")))
    finally:
        for client in clients.values():
            client.close()
    ms = 1000.0
    return {
        name: {
            "single_p50_ms": float(np.percentile(singles[name], 50) * ms),
            "single_p99_ms": float(np.percentile(singles[name], 99) * ms),
            "batch_10k_median_ms": float(statistics.median(batches[name]) * ms),
            "batch_10k_p90_ms": float(np.percentile(batches[name], 90) * ms),
            "acked": acked[name],
        }
        for name in bases
    }


def guardrails_in_process() -> float:
    """Median ms of the vectorised guardrails on N rows (no I/O)."""
    rng = np.random.default_rng(2)
    winter = ProtectedPeriod(name="winter_moratorium", regions=("north",), start="11-15", end="03-15")
    policy = GuardrailPolicy(CollectionsSettings(protected_periods=(winter,)))
    actions = rng.choice(np.array(["none", "reminder SMS", "call", "field visit"], dtype=object), N)
    codes = (rng.random(N) < 0.05).astype(np.int8)
    regions = pd.Index(["north", "south", "east", "west"])
    region_codes = rng.integers(0, 4, N)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        policy.apply(actions, codes, region_codes, regions, pd.Timestamp("2024-12-01"))
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000.0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_var(root / "var")
        write_stub_models(root / "models", tenant=TENANT)
        db = root / "var" / "decisions.db"
        base_env = {
            "METERWISE_VAR_DIR": str(root / "var"),
            "METERWISE_MODELS_DIR": str(root / "models"),
            "METERWISE_USE_REGISTRY": "false",
            "METERWISE_TENANT": TENANT,
            "METERWISE_PROTECTED_PERIODS": PERIODS,
            "METERWISE_DATABASE_URL": f"sqlite:///{db}",
            "METERWISE_KINDS": '["arrears"]',
            "METERWISE_REQUIRED_KINDS": '["arrears"]',
            **api_keys_env({"rel-billing-7f3a9c2e": ["billing"]}),
        }
        procs, bases = [], {}
        try:
            for name, extra in (("audit", {}), ("no_audit", {"METERWISE_AUDIT_ENABLED": "false"})):
                proc, base = launch({**base_env, **extra})
                procs.append(proc)
                bases[name] = base
            runs = measure(bases)
        finally:
            for proc in procs:
                stop(proc)
        for name, run in runs.items():
            logger.info("%s: %s", name, {k: v for k, v in run.items() if k != "acked"})
        log = DecisionLog.open(f"sqlite:///{db}")
        with log.engine.connect() as conn:
            counts = dict(conn.exec_driver_sql("SELECT id, count FROM decision_batches").fetchall())
        log.close()
    acked = runs["audit"].pop("acked")
    runs["no_audit"].pop("acked")
    lost = sum(1 for batch_id, _ in acked if counts.get(batch_id) != N)
    guarded_share = statistics.mean(g / N for _, g in acked)
    result = {
        "customers": N,
        "singles": SINGLES,
        "batches": BATCHES,
        "store": "sqlite WAL synchronous=NORMAL",
        "with_audit": runs["audit"],
        "without_audit": runs["no_audit"],
        "audit_added_single_p50_ms": runs["audit"]["single_p50_ms"] - runs["no_audit"]["single_p50_ms"],
        "audit_added_single_p99_ms": runs["audit"]["single_p99_ms"] - runs["no_audit"]["single_p99_ms"],
        "audit_added_batch_10k_ms": runs["audit"]["batch_10k_median_ms"] - runs["no_audit"]["batch_10k_median_ms"],
        "guardrails_10k_ms": guardrails_in_process(),
        "guarded_share": guarded_share,
        "acknowledged_batches_missing": lost,
    }
    gates = {
        "guardrails_10k_ms<=5": result["guardrails_10k_ms"] <= 5,
        "audit_added_single_p50_ms<=1": result["audit_added_single_p50_ms"] <= 1.0,
        "no_acknowledged_batch_missing": lost == 0,
    }
    finish("collections_audit", result, gates)


if __name__ == "__main__":
    main()
