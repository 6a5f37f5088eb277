"""Serving benchmark: meterwise's LIVE inference vs ``mlflow models serve`` on the same arrears champion.

Run from the repository root, alone on the machine (``flock /tmp/meterwise-heavy.lock``)::

    python benchmarks/serving_api.py          # writes benchmarks/results/serving_api.json (+ .md)

Both servers run as separate processes on 127.0.0.1 with the same registered champion
(``models:/meterwise-demo-arrears@champion``); the client is the lean keep-alive client of
``harness/serving_client.py``. Every meterwise figure is live inference:

- headline: one customer's features per request (``POST /v1/arrears/score`` with ``features``) at
  concurrency 1 (``single_p99_ms``), and a 10,000-row features batch (``live_batch_10k_ms``) against
  mlflow's ``/invocations`` with the same rows in the same run (``live_batch_throughput_ratio``);
- by id, on its own lines: ``GET /v1/arrears/{id}`` at concurrency 1 and 16 (``c16_req_per_s``,
  ``c16_p99_ms``) and a 10,000-id batch. Answers by id are computed live from the loaded champion on the
  current feature snapshot (cached per model version and snapshot, reasons included), not read from a
  batch-scoring file: the bench tenant has no scores file at all.
- scaling: the by-id c16 load again against ``uvicorn --workers 2`` (``serving.app:create_app`` factory).

The demo tenant has 300 customers; the *bench* data (a temporary var folder, served as tenant ``demo`` so
both servers load the demo champion) is the demo's real feature snapshot tiled to 20,000 customers under
new ids. ``METERWISE_BENCH_VAR=<dir>`` reads the demo outputs
(``mlflow.db``, ``mlartifacts``, ``features/demo``) from another ``var`` folder; without them the script runs
``meterwise demo --quick`` first. Gates (issue 17) are computed from this run's samples only; the script
exits 1 when one fails (``harness.results.finish``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
from harness.load import free_port
from harness.results import RESULTS, finish
from harness.serving_client import concurrent, sequential, start, stop, summary, wait_ready

logger = logging.getLogger("serving_api")
ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("METERWISE_BENCH_VAR", ROOT / "var"))
BIN = Path(sys.executable).parent
N_CUSTOMERS, BATCH = 20_000, 10_000
KEY = "bench-billing-key"
GATES = {  # issue 17, "What it must show"
    "single_p99_ms": 1.0,  # <=, live one-customer features request at c=1
    "c16_req_per_s": 4_000.0,  # >=, by id (computed live)
    "c16_p99_ms": 10.0,  # <
    "live_batch_10k_ms": 50.0,  # <
    "live_batch_throughput_ratio": 5.0,  # >= mlflow's rows/s, same rows, same run
}


# ---- fixtures: the champion, the bench tenant, the servers -----------------------------------------


def ensure_demo() -> None:
    if (VAR / "mlflow.db").exists() and (VAR / "features/demo/latest").exists():
        return
    logger.warning("no demo champion and snapshot in %s: running `meterwise demo --quick`", VAR)
    subprocess.run([str(BIN / "meterwise"), "demo", "--quick"], cwd=ROOT, check=True)


def write_bench_snapshot(var: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """The demo's feature snapshot tiled to N_CUSTOMERS under new ids, written as ``features build`` does."""
    demo = VAR / "features/demo"
    folder = demo / (demo / "latest").read_text().strip()
    profiles = pd.read_parquet(folder / "profiles.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    reps = -(-N_CUSTOMERS // len(profiles))
    ids = np.array([f"B{i:06d}" for i in range(N_CUSTOMERS)], dtype=object)
    tiled = pd.concat([profiles] * reps, ignore_index=True).iloc[:N_CUSTOMERS].assign(customer_id=ids)
    out = var / "features/demo" / folder.name  # tenant demo in a temporary var folder: the demo's champion
    out.mkdir(parents=True)
    tiled.to_parquet(out / "profiles.parquet")
    manifest.update(rows=N_CUSTOMERS, profile_hash=f"bench{N_CUSTOMERS}-{manifest.get('profile_hash', '')}")
    (out / "manifest.json").write_text(json.dumps(manifest))
    (var / "features/demo/latest").write_text(folder.name + "\n")
    return ids, tiled


def start_servers(bench_var: Path, logs: Path, workers: int = 1) -> tuple[dict[str, int], list]:
    """meterwise (``python -m serving.server``, or uvicorn ``--workers N``) and, with one worker, mlflow."""
    tracking = f"sqlite:///{VAR / 'mlflow.db'}"
    ports = {"meterwise": free_port(), "mlflow": free_port()}
    env = {
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": tracking,
        "METERWISE_TRACKING_URI": tracking,
        "METERWISE_VAR_DIR": str(bench_var),
        "METERWISE_TENANT": "demo",  # meterwise-demo-arrears; snapshots from the temporary var folder
        "METERWISE_PORT": str(ports["meterwise"]),
        "METERWISE_KINDS": '["arrears"]',
        "METERWISE_REQUIRED_KINDS": '["arrears"]',
        "METERWISE_API_KEYS": json.dumps({KEY: ["billing"]}),
        "METERWISE_RATE_LIMIT_PER_S": "0",
        "METERWISE_LOG_LEVEL": "warning",
        "MLFLOW_MODELS_WORKERS": "1",
    }
    if workers == 1:
        cmd = [sys.executable, "-m", "serving.server"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory", "--workers", str(workers)]
        cmd += ["--port", str(ports["meterwise"]), "--http", "httptools", "--loop", "uvloop", "--log-level", "warning"]
    procs = [start(cmd, env, ROOT, logs / f"meterwise-w{workers}.log")]
    if workers == 1:
        mlflow = [str(BIN / "mlflow"), "models", "serve", "-m", "models:/meterwise-demo-arrears@champion"]
        mlflow += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(ports["mlflow"])]
        procs.append(start(mlflow, {**env, "PATH": f"{BIN}:{os.environ['PATH']}"}, ROOT, logs / "mlflow.log"))
    try:
        wait_ready(f"http://127.0.0.1:{ports['meterwise']}/readyz", procs[0])
        if workers == 1:
            wait_ready(f"http://127.0.0.1:{ports['mlflow']}/ping", procs[1])
    except Exception:
        stop(procs)
        raise
    return ports, procs


# ---- payloads and answer checks --------------------------------------------------------------------


def bodies(ids: np.ndarray, feats: pd.DataFrame, n: int, offset: int) -> dict[str, bytes]:
    """The same `n` rows as meterwise features, mlflow ``dataframe_split`` and meterwise ids."""
    rows = feats.iloc[offset : offset + n]
    cols = {c: rows[c].astype(float).where(rows[c].notna(), None).tolist() for c in feats.columns}
    split = {"columns": list(feats.columns), "data": [list(r) for r in zip(*cols.values(), strict=True)]}
    return {
        "features": orjson.dumps({"features": cols}),
        "mlflow": orjson.dumps({"dataframe_split": split}),
        "ids": orjson.dumps({"customer_ids": ids[offset : offset + n].tolist()}),
    }


def check_answers(ports: dict[str, int], ids: np.ndarray, feats: pd.DataFrame) -> dict[str, float]:
    """Same rows three ways: meterwise features, meterwise by id (live), mlflow. Max |difference|."""
    b = bodies(ids, feats, 200, 0)
    h = {"X-API-Key": KEY, "content-type": "application/json"}
    mw = f"http://127.0.0.1:{ports['meterwise']}/v1/arrears/score"
    live = httpx.post(mw, content=b["features"], headers=h, timeout=60).json()["results"]
    by_id = httpx.post(mw, content=b["ids"], headers=h, timeout=60).json()["results"]
    ml = httpx.post(f"http://127.0.0.1:{ports['mlflow']}/invocations", content=b["mlflow"], headers=h, timeout=60)
    p = np.array(live["probability"], dtype=float)
    p_ml = np.array([r["probability"] for r in ml.json()["predictions"]], dtype=float)
    if by_id["reasons"][0][0] is None or set(by_id["status"]) != {"ok"}:
        raise RuntimeError(f"by-id answers incomplete: {by_id['status'][:3]} {by_id['reasons'][:1]}")
    return {
        "max_abs_diff_vs_mlflow": float(np.max(np.abs(p - p_ml))),
        "max_abs_diff_by_id_vs_features": float(np.max(np.abs(p - np.array(by_id["probability"], dtype=float)))),
    }


def warm_by_id(port: int, ids: np.ndarray) -> None:
    """Every customer's answer and reasons cached (what the background warm-up does after a load)."""
    h = {"X-API-Key": KEY, "content-type": "application/json"}
    for start_at in range(0, len(ids), 5_000):
        body = orjson.dumps({"customer_ids": ids[start_at : start_at + 5_000].tolist()})
        deadline = time.monotonic() + 300
        while True:  # a worker still loading (or filling reasons) answers 503 with Retry-After: honour it
            r = httpx.post(f"http://127.0.0.1:{port}/v1/arrears/score", content=body, headers=h, timeout=300)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(float(r.headers.get("retry-after", 1)))
        r.raise_for_status()


def wait_warm(port: int, timeout_s: float = 300) -> None:
    """Until every worker's live cache holds all reasons (its background warm-up is done): six answers in a
    row from ``/v1/models/arrears`` (any worker) showing ``reasons_computed == usable``."""
    deadline, streak = time.monotonic() + timeout_s, 0
    while streak < 6:
        if time.monotonic() > deadline:
            raise TimeoutError("live reasons not computed in time")
        live = httpx.get(f"http://127.0.0.1:{port}/v1/models/arrears", headers={"X-API-Key": KEY}).json()["live"]
        streak = streak + 1 if live and live["reasons_computed"] == live["usable"] else 0
        time.sleep(0.2 if streak else 1.0)


# ---- measurements ----------------------------------------------------------------------------------


async def measure_meterwise(port: int, ids: np.ndarray, feats: pd.DataFrame) -> dict:
    one = [bodies(ids, feats, 1, i)["features"] for i in range(256)]
    score, out = "/v1/arrears/score", {}

    def features(i: int):
        return "POST", score, one[i % 256]

    def by_id(i: int):
        return "GET", f"/v1/arrears/{ids[(i * 7919) % len(ids)]}", b""

    out["single_features"] = summary(await sequential(port, KEY, features, 3_000, warmup=500))
    out["single_by_id"] = summary(await sequential(port, KEY, by_id, 3_000, warmup=500))
    rps, lat = await concurrent(port, KEY, by_id, 16, seconds=6)
    out["c16_by_id"] = {"req_per_s": round(rps, 1), **summary(lat)}
    rps, lat = await concurrent(port, KEY, features, 16, seconds=4)
    out["c16_features"] = {"req_per_s": round(rps, 1), **summary(lat)}
    for n, reps in ((1_000, 40), (BATCH, 20)):
        batches = [bodies(ids, feats, n, (k * n) % (len(ids) - n)) for k in range(3)]
        for kind in ("features", "ids"):
            lat = await sequential(port, KEY, lambda i, b=batches, k=kind: ("POST", score, b[i % 3][k]), reps, 3)
            out[f"batch_{kind}_{n // 1000}k"] = {"rows_per_s": round(n / float(np.median(lat))), **summary(lat)}
    return out


async def measure_mlflow(port: int, ids: np.ndarray, feats: pd.DataFrame) -> dict:
    one = [bodies(ids, feats, 1, i)["mlflow"] for i in range(64)]
    out = {}

    def single(i: int):
        return "POST", "/invocations", one[i % 64]

    out["single"] = summary(await sequential(port, KEY, single, 300, warmup=30))
    rps, lat = await concurrent(port, KEY, single, 16, seconds=4)
    out["c16"] = {"req_per_s": round(rps, 1), **summary(lat)}
    for n, reps in ((1_000, 8), (BATCH, 6)):
        batches = [bodies(ids, feats, n, (k * n) % (len(ids) - n))["mlflow"] for k in range(3)]
        lat = await sequential(port, KEY, lambda i, b=batches: ("POST", "/invocations", b[i % 3]), reps, 2)
        out[f"batch_{n // 1000}k"] = {"rows_per_s": round(n / float(np.median(lat))), **summary(lat)}
    return out


async def measure_workers(port: int, ids: np.ndarray) -> dict:
    def by_id(i: int):
        return "GET", f"/v1/arrears/{ids[(i * 7919) % len(ids)]}", b""

    rps, lat = await concurrent(port, KEY, by_id, 16, seconds=6)
    return {"c16_by_id": {"req_per_s": round(rps, 1), **summary(lat)}}


def run() -> tuple[dict, dict[str, bool]]:
    ensure_demo()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="meterwise-bench-"))
    try:
        ids, tiled = write_bench_snapshot(tmp / "var")
        ports, procs = start_servers(tmp / "var", tmp)
        try:
            model = httpx.get(f"http://127.0.0.1:{ports['meterwise']}/v1/models/arrears", headers={"X-API-Key": KEY})
            model = model.json()
            feats = tiled[model["feature_names"]].reset_index(drop=True)
            checks = check_answers(ports, ids, feats)
            warm_by_id(ports["meterwise"], ids)
            wait_warm(ports["meterwise"])
            logger.info("servers up (arrears v%s); checks %s", model["version"], checks)
            mw = asyncio.run(measure_meterwise(ports["meterwise"], ids, feats))
            logger.info("meterwise %s", json.dumps(mw))
            ml = asyncio.run(measure_mlflow(ports["mlflow"], ids, feats))
            logger.info("mlflow %s", json.dumps(ml))
        finally:
            stop(procs)
        ports, procs = start_servers(tmp / "var", tmp, workers=2)
        try:
            warm_by_id(ports["meterwise"], ids)  # each worker process keeps its own cache
            wait_warm(ports["meterwise"])
            two = asyncio.run(measure_workers(ports["meterwise"], ids))
        finally:
            stop(procs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    headline = {
        "single_p99_ms": mw["single_features"]["p99_ms"],
        "single_p50_ms": mw["single_features"]["p50_ms"],
        "c16_req_per_s": mw["c16_by_id"]["req_per_s"],
        "c16_p99_ms": mw["c16_by_id"]["p99_ms"],
        "live_batch_10k_ms": mw["batch_features_10k"]["p50_ms"],
        "live_batch_10k_rows_per_s": mw["batch_features_10k"]["rows_per_s"],
        "by_id_single_p99_ms": mw["single_by_id"]["p99_ms"],
        "by_id_batch_10k_ms": mw["batch_ids_10k"]["p50_ms"],
    }
    ratio = round(mw["batch_features_10k"]["rows_per_s"] / ml["batch_10k"]["rows_per_s"], 2)
    result = {
        "meterwise": headline,
        "live_batch_throughput_ratio": ratio,
        "mlflow": {
            "single_p99_ms": ml["single"]["p99_ms"],
            "c16_req_per_s": ml["c16"]["req_per_s"],
            "batch_10k_ms": ml["batch_10k"]["p50_ms"],
            "batch_10k_rows_per_s": ml["batch_10k"]["rows_per_s"],
        },
        "workers": {
            "1": mw["c16_by_id"],
            "2": two["c16_by_id"],
            "c16_scaling": round(two["c16_by_id"]["req_per_s"] / mw["c16_by_id"]["req_per_s"], 2),
        },
        "detail": {"meterwise": mw, "mlflow": ml},
        "checks": checks,
        "context": {
            "model": f"meterwise-demo-arrears v{model['version']} ({len(model['feature_names'])} features)",
            "bench_customers": N_CUSTOMERS,
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "measured_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            "notes": "meterwise by id = live on the feature snapshot (cached per version and snapshot); features = "
            "scored per request; mlflow scores features only (no by-id mode, no reasons). One worker each unless "
            "stated; the client shares the same CPUs.",
        },
    }
    gates = {
        "single_p99_ms<=1": headline["single_p99_ms"] <= GATES["single_p99_ms"],
        "c16_req_per_s>=4000": headline["c16_req_per_s"] >= GATES["c16_req_per_s"],
        "c16_p99_ms<10": headline["c16_p99_ms"] < GATES["c16_p99_ms"],
        "live_batch_10k_ms<50": headline["live_batch_10k_ms"] < GATES["live_batch_10k_ms"],
        "live_batch_throughput_ratio>=5": ratio >= GATES["live_batch_throughput_ratio"],
        "same_probabilities_as_mlflow": checks["max_abs_diff_vs_mlflow"] <= 1e-9,
        "by_id_equals_features": checks["max_abs_diff_by_id_vs_features"] <= 1e-12,
    }
    return result, gates


def markdown(result: dict, gates: dict[str, bool]) -> str:
    mw, ml, w, ctx = result["meterwise"], result["mlflow"], result["workers"], result["context"]
    lines = [
        "# Serving benchmark: meterwise live inference vs `mlflow models serve`",
        "",
        f"{ctx['model']}; {ctx['bench_customers']} bench customers; {ctx['cpus']} CPUs shared with the client; "
        f"load average before {ctx['loadavg_before'][0]:.1f}, after {ctx['loadavg_after'][0]:.1f}; "
        f"{ctx['measured_at']}.",
        "",
        "| figure | meterwise | mlflow |",
        "|---|---:|---:|",
        f"| one customer's features, p99 at c=1 (ms) | {mw['single_p99_ms']} | {ml['single_p99_ms']} |",
        f"| 10k-row features batch, median (ms) | {mw['live_batch_10k_ms']} | {ml['batch_10k_ms']} |",
        f"| 10k-row features batch (rows/s) | {mw['live_batch_10k_rows_per_s']} | {ml['batch_10k_rows_per_s']} |",
        f"| by id (live), c=16 (req/s) | {mw['c16_req_per_s']} | - |",
        f"| by id (live), c=16 p99 (ms) | {mw['c16_p99_ms']} | - |",
        f"| by id (live), one customer p99 at c=1 (ms) | {mw['by_id_single_p99_ms']} | - |",
        f"| by id (live), 10k ids with reasons, median (ms) | {mw['by_id_batch_10k_ms']} | - |",
        "",
        f"live_batch_throughput_ratio: **{result['live_batch_throughput_ratio']}x**. Workers: c=16 by id "
        f"{w['1']['req_per_s']} req/s with 1, {w['2']['req_per_s']} with 2 ({w['c16_scaling']}x).",
        "",
        "Gates: " + ", ".join(f"{k} {'pass' if v else '**FAIL**'}" for k, v in gates.items()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result, gates = run()
    (RESULTS / "serving_api.md").write_text(markdown(result, gates))
    logger.info("%s", json.dumps({k: result[k] for k in ("meterwise", "live_batch_throughput_ratio", "workers")}))
    finish("serving_api", result, gates)


if __name__ == "__main__":
    main()
