"""Reliability benchmark (issue 12): catalogue, auth matrix, fuzzing, admission, rows, kills, reload,
big batch, soak with a leak control, supply chain. Writes ``benchmarks/results/reliability.json`` (+ .md).

Run ONLY as ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/reliability.py`` from the
repository root. With no arguments it runs everything at full size (``meterwise demo`` into a temp
folder, a 10-minute soak, 20 kills + 5 SIGTERMs, >= 1,000 fuzz cases per operation: ~30 minutes on
2 CPUs). ``--quick`` is a smoke run (60 s soak, 2 kills + 1 SIGTERM, 100 cases) written to the
git-ignored ``benchmarks/out/reliability_quick.json`` (``"mode": "quick"``); only a full run writes
``results/``. All load targets 127.0.0.1 only, bounded by request counts and time.

Every gate is computed from this run's figures by :mod:`harness.gates` (the leak control must fail
the soak's RSS gate); the JSON carries ``gates`` and ``gates_failed`` and the script exits 1 when any
gate fails. Load clients, scenarios, server launchers and stubs live in ``benchmarks/harness/``, shared
with ``tests/reliability/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import httpx
from harness.gates import reliability_gates
from harness.load import served
from harness.results import finish
from harness.scenarios import bench_big_batch, bench_reload, bench_soak
from harness.service import ADMIN, API_KEYS, api_keys_env, make_client, stub_server_env, stub_settings, stub_store

logger = logging.getLogger("reliability")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "benchmarks" / "out"  # git-ignored: quick and partial runs


def section(name: str, fn, *args) -> dict:
    """Run one section; a crash is recorded (with its last lines) and fails the section's gates."""
    logger.info("%s ...", name)
    t = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as err:
        out = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-1500:]}
    out["wall_s"] = round(time.perf_counter() - t, 1)
    logger.info("%s: %s", name, json.dumps({k: v for k, v in out.items() if k != "trace"}, default=str)[:400])
    return out


# ---- in-process sections (stub models, TestClient) ------------------------------------------------


def stub_env(work: Path):
    root = Path(tempfile.mkdtemp(dir=work, prefix="stub-"))
    settings = stub_settings(root)
    return root, settings, stub_store(settings)


def bench_catalogue(work: Path) -> dict:
    from harness.catalogue import ROWS, build_clients, check_response, send

    _, settings, store = stub_env(work)
    clients, cleanup = build_clients(settings, store)
    failed = {}
    for row in ROWS:
        problems = check_response(row, send(clients[row.app], row))
        if problems:
            failed[row.id] = problems
    cleanup()
    return {"rows": len(ROWS), "failed": len(failed), "failures": failed}


def bench_auth(work: Path) -> dict:
    from harness.auth_matrix import run_matrix

    _, settings, store = stub_env(work)
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Capture(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        cells, problems = run_matrix(make_client(settings, store))
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    leaked = [k[:6] + "..." for k in API_KEYS if any(k in r for r in records)]
    cors = make_client(settings, store).options(
        "/v1/arrears/score", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    return {
        "cells": cells,
        "failed": len(problems),
        "failures": problems[:20],
        "log_lines_checked": len(records),
        "keys_in_logs": len(leaked),
        "cors_allow_origin": cors.headers.get("access-control-allow-origin"),
    }


def bench_rows(work: Path, seeds: int) -> dict:
    from harness.rows import corrupt_and_load

    totals = {"in": 0, "accepted": 0, "quarantined": 0}
    problems = []
    for seed in range(seeds):
        out = corrupt_and_load(Path(tempfile.mkdtemp(dir=work, prefix="rows-")), seed)
        for k in totals:
            totals[k] += out["totals"][k]
        problems += out["problems"]
    return {**totals, "seeds": seeds, "failed": len(problems), "failures": problems[:10]}


def bench_broken_models(work: Path) -> dict:
    """The admission tests: each one a broken-model kind refused, then requests checked against the old
    model (each test records how many it sent and how many failed as junit properties)."""
    xml = work / "admission.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    run = subprocess.run([*cmd, "tests/reliability/test_admission.py"], cwd=ROOT, capture_output=True, text=True)
    kinds, failed, requests, failed_requests = [], [], 0, 0
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "")
        if "[" not in name and "alias" not in name:
            continue
        kinds.append(name.split("[")[-1].rstrip("]") if "[" in name else "alias_pointing_nowhere")
        props = {p.get("name"): int(p.get("value")) for p in case.iter("property")}
        requests += props.get("requests", 0)
        failed_requests += props.get("failed_requests", 0)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(kinds[-1])
    return {
        "kinds": len(kinds),
        "names": kinds,
        "failed_kinds": failed,
        "requests": requests,
        "failed_requests": failed_requests,
        "rc": run.returncode,
    }


# ---- servers on loopback ---------------------------------------------------------------------------


def bench_fuzz(work: Path, cases: int) -> dict:
    from harness.fuzz import fuzz_url

    with served(stub_server_env(Path(tempfile.mkdtemp(dir=work, prefix="stubsrv-")))) as (_, base):
        report = fuzz_url(base, cases, ADMIN)
        alive = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    with_inputs = {k: v for k, v in report.items() if v["cases"] > 2}
    total = lambda key: sum(v[key] for v in report.values())  # noqa: E731
    return {
        "target": "uvicorn on 127.0.0.1 (stub models)",
        "operations": len(report),
        "cases_requested_per_mode": cases,
        "min_cases_per_operation": min(v["cases"] for v in with_inputs.values()),
        "operations_without_inputs": sorted(k for k in report if k not in with_inputs),
        "cases": total("cases"),
        "server_errors": total("server_errors"),
        "schema_violations": total("schema_violations"),
        "undocumented_status": total("undocumented_status"),
        "leaks": total("leaks"),
        "server_alive_after": alive,
        "per_operation": {k: {kk: vv for kk, vv in v.items() if kk != "examples"} for k, v in report.items()},
        "examples": {k: v["examples"] for k, v in report.items() if v["examples"]},
    }


def run_demo(work: Path) -> dict[str, str]:
    var, models = work / "var", work / "models"
    env = {**os.environ, "METERWISE_VAR_DIR": str(var), "METERWISE_MODELS_DIR": str(models)}
    env.pop("MLFLOW_TRACKING_URI", None)
    meterwise = Path(sys.executable).parent / "meterwise"
    subprocess.run([str(meterwise), "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    # a second arrears version (same artifact) so reloads swap between two registered versions
    code = (
        "from training.registry import open_registry; from training.settings import TrainingSettings; "
        f"r = open_registry(TrainingSettings(var_dir={str(var)!r}, models_dir={str(models)!r}), 'demo'); "
        "mv = r.client.get_model_version('meterwise-demo-arrears', '1'); print(r.register('arrears', mv.source))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return {"METERWISE_VAR_DIR": str(var), "METERWISE_MODELS_DIR": str(models), **api_keys_env(API_KEYS)}


def bench_kill(work: Path, kills: int, sigterms: int, seed: int = 7) -> dict:
    from harness.kill import inspect, kill_trial, run_to_completion
    from harness.train_job import write_tenant

    tenant, var, models = write_tenant(work / "kill-tenant"), work / "kill-var", work / "kill-models"
    run_to_completion(tenant, var, models)
    rng = random.Random(seed)
    plan = [signal.SIGKILL] * kills + [signal.SIGTERM] * sigterms
    rng.shuffle(plan)
    trials = [kill_trial(tenant, var, models, rng.uniform(2.0, 16.0), sig) for sig in plan]
    final = run_to_completion(tenant, var, models)
    state = inspect(var, models)
    return {
        "kills": kills,
        "sigterms": sigterms,
        "completed_anyway": sum(t.completed for t in trials),
        "champion_moved_by_killed_run": sum(t.champion_after != t.champion_before and not t.completed for t in trials),
        "champion_corrupted": sum(bool(t.problems) for t in trials) + bool(state["problems"]),
        "problems": [p for t in trials for p in t.problems][:10] + state["problems"],
        "next_run_ok": state["aliases"].get("champion") == final,
        "running_runs_left": state["running"],
        "delays_s": [round(t.delay_s, 2) for t in trials],
    }


def bench_supply_chain(work: Path) -> dict:
    out = work / "audit.json"
    audit = Path(sys.executable).parent / "pip-audit"
    run = subprocess.run(
        [str(audit), "--progress-spinner", "off", "-f", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not out.exists():
        return {"status": "not_run", "reason": run.stderr[-300:]}
    deps = json.loads(out.read_text())["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    vulns = [d["name"] for d in audited if d.get("vulns")]
    status = "not_audited" if not audited else ("vulnerable" if vulns else "clean")
    return {
        "tool": "pip-audit",
        "status": status,
        "packages": len(deps),
        "audited": len(audited),
        "skipped": len(deps) - len(audited),
        "skip_reason_example": next((d["skip_reason"] for d in deps if "skip_reason" in d), None),
        "vulnerable_packages": vulns,
        "exceptions_doc": "docs/security.md",
    }


def write_markdown(res: dict, gates: dict[str, bool], path: Path) -> None:
    failed = [k for k, ok in gates.items() if not ok]
    lines = [
        "# Reliability benchmark",
        "",
        f"mode **{res['mode']}**; {res['machine']['cpus']} CPUs; {res['finished_at']}. Command: `{res['command']}`.",
        "",
        f"gates: {len(gates) - len(failed)} of {len(gates)} passed"
        + (f"; **failed: {', '.join(failed)}**" if failed else ""),
        "",
        "| section | key numbers |",
        "|---|---|",
    ]
    for name in ("catalogue", "auth", "fuzz", "broken_models", "rows", "kill", "reload", "big_batch", "soak"):
        sec = res.get(name, {})
        keep = {k: v for k, v in sec.items() if not isinstance(v, dict | list) or k in ("three_at_once_statuses",)}
        lines.append(f"| {name} | {', '.join(f'{k}={v}' for k, v in keep.items())[:600]} |")
    sec = res.get("supply_chain", {})
    lines.append(f"| supply_chain | {', '.join(f'{k}={v}' for k, v in sec.items() if k != 'trace')[:600]} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: short soak, 2 kills, 100 fuzz cases")
    ap.add_argument("--soak-seconds", type=float, default=None, help="soak duration [600; quick 60]")
    ap.add_argument(
        "--fuzz-cases", type=int, default=None, help="fuzz examples per operation and mode [1000; quick 100]"
    )
    ap.add_argument("--kills", type=int, default=None, help="SIGKILLs during training [20; quick 2]")
    ap.add_argument("--sigterms", type=int, default=None, help="SIGTERMs during training [5; quick 1]")
    ap.add_argument("--only", nargs="*", default=None, help="run only these sections")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path, .md beside it [full run: results/reliability.json; other: out/reliability_<mode>.json]",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    q = args.quick
    soak_s = args.soak_seconds or (60.0 if q else 600.0)
    fuzz_cases = args.fuzz_cases or (100 if q else 1_000)
    kills = args.kills if args.kills is not None else (2 if q else 20)
    sigterms = args.sigterms if args.sigterms is not None else (1 if q else 5)
    full = not q and soak_s >= 600 and fuzz_cases >= 1_000 and kills >= 20 and sigterms >= 5
    want = lambda name: args.only is None or name in args.only  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="meterwise-rel-"))
    res: dict = {
        "mode": "full" if full else "quick" if q else "custom",
        "command": " ".join(["benchmarks/reliability.py", *sys.argv[1:]]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {"soak_seconds": soak_s, "fuzz_cases": fuzz_cases, "kills": kills, "sigterms": sigterms},
    }
    if want("catalogue"):
        res["catalogue"] = section("catalogue", bench_catalogue, work)
    if want("auth"):
        res["auth"] = section("auth", bench_auth, work)
    if want("rows"):
        res["rows"] = section("rows", bench_rows, work, 6 if q else 40)
    if want("broken_models"):
        res["broken_models"] = section("broken_models", bench_broken_models, work)
    if want("fuzz"):
        res["fuzz"] = section("fuzz", bench_fuzz, work, fuzz_cases)
    if any(want(n) for n in ("big_batch", "reload", "soak")):
        env = run_demo(work)
        if want("big_batch"):
            res["big_batch"] = section("big_batch", bench_big_batch, env)
        if want("reload"):
            res["reload"] = section("reload", bench_reload, env, 20, 5.0 if q else 15.0)
        if want("soak"):
            res["soak"] = section("soak", bench_soak, env, soak_s, 30.0 if q else 120.0)
    if want("kill"):
        res["kill"] = section("kill", bench_kill, work, kills, sigterms)
    if want("supply_chain"):
        res["supply_chain"] = section("supply_chain", bench_supply_chain, work)
    res["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    default_out = (
        RESULTS / "reliability.json" if full else ROOT / "benchmarks" / "out" / f"reliability_{res['mode']}.json"
    )
    out = args.out or default_out
    gates = reliability_gates(res)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_markdown(res, gates, out.with_suffix(".md"))
    logger.info("writing %s (mode %s)", out, res["mode"])
    finish("reliability", res, gates, path=out)


if __name__ == "__main__":
    main()
