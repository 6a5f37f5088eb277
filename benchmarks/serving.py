"""Serving benchmark: meterwise vs ``mlflow models serve`` on the same arrears champion, on loopback.

Run ONLY as ``flock /tmp/meterwise-bench.lock .venv/bin/python benchmarks/serving.py``.

Both servers run as separate processes with one worker each on 127.0.0.1. The client is a lean raw
asyncio HTTP/1.1 client (keep-alive connections, one per concurrent stream) so it takes as little of
the shared CPU as possible; httpx checks the answers once before timing. Numbers:

- single: one customer per request at concurrency 1 (p50/p99) and 16 (req/s, p99). meterwise answers
  ``GET /v1/arrears/{id}`` (precomputed snapshot: probability, grade, action, reasons); mlflow scores a
  one-row ``dataframe_split`` (its only mode). The one-row *features* POST of meterwise is reported too.
- batches of 1,000 and 10,000 customers: meterwise by id (with grade, action, reasons) and with features
  supplied (live model, no reasons); mlflow with features (it has no by-id mode and returns no reasons).

The demo tenant has 300 customers; to batch 10,000 distinct ids the benchmark writes the demo tenant's
scores and features into a temporary var folder, its real rows tiled to 20,000 customers under new ids
(served as tenant ``demo``, so both servers load the demo champion ``meterwise-demo-arrears``). The model,
the registry and the values are the real demo ones. Results: ``benchmarks/results/serving.json``
(+ ``serving.md``). ``METERWISE_BENCH_VAR=<dir>`` reads the demo outputs from another ``var`` folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before benchmarks/, whose features.py would shadow the package

from tests.reliability.load import RawConn  # noqa: E402 (the lean HTTP/1.1 client, shared with the soak)

VAR = Path(os.environ.get("METERWISE_BENCH_VAR", ROOT / "var"))  # override only to try the harness
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
BIN = Path(sys.executable).parent
N_CUSTOMERS = 20_000
KEY = "bench-billing-key"


async def timed(conn: RawConn, method: str, path: str, body: bytes) -> float:
    t = time.perf_counter()
    status, payload = await conn.request(method, path, body)
    dt = time.perf_counter() - t
    if status != 200:
        raise RuntimeError(f"{method} {path} -> {status}: {payload[:300]!r}")
    return dt


async def sequential(port: int, make, n: int, warmup: int) -> np.ndarray:
    conn = await RawConn(port, KEY).open()
    try:
        for i in range(warmup):
            await timed(conn, *make(i))
        return np.array([await timed(conn, *make(i)) for i in range(n)])
    finally:
        conn.close()


async def concurrent(port: int, make, concurrency: int, seconds: float, max_requests: int) -> tuple[float, np.ndarray]:
    conns = [await RawConn(port, KEY).open() for _ in range(concurrency)]
    for c in conns:  # warm every connection
        await timed(c, *make(0))
    lat: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(c: RawConn, w: int) -> None:
        i = w
        while time.perf_counter() < deadline and len(lat) < max_requests:
            lat.append(await timed(c, *make(i)))
            i += concurrency

    t = time.perf_counter()
    await asyncio.gather(*(worker(c, w) for w, c in enumerate(conns)))
    elapsed = time.perf_counter() - t
    for c in conns:
        c.close()
    return len(lat) / elapsed, np.array(lat)


def ms(x: float) -> float:
    return round(1000 * float(x), 3)


# ---- fixtures: demo models, bench tenant, servers ------------------------------------------------


def ensure_demo() -> None:
    if (VAR / "mlflow.db").exists() and (VAR / "scores/demo/arrears/latest.parquet").exists():
        return
    print("no arrears champion + scores yet: running `meterwise demo` ...", flush=True)
    subprocess.run([str(BIN / "meterwise"), "demo"], cwd=ROOT, check=True)


def build_bench_tenant(folder: Path, feature_names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Tile the demo's real scores and profiles to N_CUSTOMERS under new ids; returns (ids, features)."""
    from features.snapshots import read_snapshot

    scores = pd.read_parquet(VAR / "scores/demo/arrears/latest.parquet")
    profiles, _ = read_snapshot(VAR / "features/demo")
    reps = -(-N_CUSTOMERS // len(scores))
    ids = np.array([f"B{i:06d}" for i in range(N_CUSTOMERS)], dtype=object)
    tiled = pd.concat([scores] * reps, ignore_index=True).iloc[:N_CUSTOMERS].assign(customer_id=ids)
    (folder / "scores/demo/arrears").mkdir(parents=True)
    tiled.to_parquet(folder / "scores/demo/arrears/latest.parquet")
    feats = pd.concat([profiles[feature_names]] * reps, ignore_index=True).iloc[:N_CUSTOMERS]
    snap = folder / "features/demo" / str(pd.Timestamp(scores["as_of"].max()).date())
    snap.mkdir(parents=True)
    feats.assign(customer_id=ids).to_parquet(snap / "profiles.parquet")
    return ids, feats.reset_index(drop=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def start_servers(bench_var: Path, log_dir: Path) -> tuple[dict[str, int], list[subprocess.Popen]]:
    tracking = f"sqlite:///{VAR / 'mlflow.db'}"
    ports = {"meterwise": free_port(), "mlflow": free_port()}
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "METERWISE_TRACKING_URI": tracking,
        "METERWISE_VAR_DIR": str(bench_var),
        "METERWISE_TENANT": "demo",  # the demo champion; snapshots and scores from the temporary var folder
        "METERWISE_PORT": str(ports["meterwise"]),
        "METERWISE_KINDS": '["arrears"]',
        "METERWISE_REQUIRED_KINDS": '["arrears"]',
        "METERWISE_API_KEYS": json.dumps({KEY: ["billing"]}),
        "METERWISE_RATE_LIMIT_PER_S": "1000000",
        "METERWISE_RATE_LIMIT_BURST": "1000000",
        "METERWISE_LOG_LEVEL": "warning",
    }
    env.pop("MLFLOW_MODELS_WORKERS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "serving.server"],
            cwd=ROOT,
            env=env,
            stdout=open(log_dir / "meterwise.log", "wb"),  # noqa: SIM115 (the child process owns it)
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                "models:/meterwise-demo-arrears@champion",
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "-p",
                str(ports["mlflow"]),
            ],
            cwd=ROOT,
            env={**env, "PATH": f"{BIN}:{os.environ['PATH']}"},
            stdout=open(log_dir / "mlflow.log", "wb"),  # noqa: SIM115 (the child process owns it)
            stderr=subprocess.STDOUT,
        ),
    ]
    wait_ready(f"http://127.0.0.1:{ports['meterwise']}/readyz", procs[0])
    wait_ready(f"http://127.0.0.1:{ports['mlflow']}/ping", procs[1])
    return ports, procs


# ---- the measurements ----------------------------------------------------------------------------


def payloads(ids: np.ndarray, feats: pd.DataFrame, n: int, offset: int = 0) -> dict[str, bytes]:
    rows = feats.iloc[offset : offset + n]
    cols = {c: rows[c].astype(float).where(rows[c].notna(), None).tolist() for c in feats.columns}
    split = {
        "columns": list(feats.columns),
        "data": [[None if pd.isna(v) else float(v) for v in r] for r in rows.itertuples(index=False)],
    }
    return {
        "ids": orjson.dumps({"customer_ids": ids[offset : offset + n].tolist()}),
        "features": orjson.dumps({"features": cols}),
        "mlflow": orjson.dumps({"dataframe_split": split}),
    }


def check_answers(ports: dict[str, int], ids: np.ndarray, feats: pd.DataFrame) -> float:
    """Same rows through both servers: meterwise's live probabilities must match mlflow's."""
    p = payloads(ids, feats, 50)
    h = {"X-API-Key": KEY, "content-type": "application/json"}
    mw = httpx.post(f"http://127.0.0.1:{ports['meterwise']}/v1/arrears/score", content=p["features"], headers=h).json()
    ml = httpx.post(f"http://127.0.0.1:{ports['mlflow']}/invocations", content=p["mlflow"], headers=h).json()
    ml_p = np.array([r["probability"] for r in ml["predictions"]], dtype=float)
    by_id = httpx.post(f"http://127.0.0.1:{ports['meterwise']}/v1/arrears/score", content=p["ids"], headers=h).json()
    assert by_id["status_counts"]["unknown_customer"] == 0 and by_id["results"]["reasons"][0][0] is not None
    return float(np.max(np.abs(np.array(mw["results"]["probability"], dtype=float) - ml_p)))


async def measure_server(name: str, port: int, ids: np.ndarray, feats: pd.DataFrame, quick: bool) -> dict:
    single_n = 300 if name == "mlflow" else 2000
    if name == "meterwise":

        def one(i: int):
            return "GET", f"/v1/arrears/{ids[i % len(ids)]}", b""

        one_feat_bodies = [payloads(ids, feats, 1, i)["features"] for i in range(64)]

        def one_features(i: int):
            return "POST", "/v1/arrears/score", one_feat_bodies[i % 64]
    else:
        bodies = [payloads(ids, feats, 1, i)["mlflow"] for i in range(64)]

        def one(i: int):
            return "POST", "/invocations", bodies[i % 64]

        one_features = None
    out: dict = {}
    lat = await sequential(port, one, single_n, warmup=100)
    out["single_p50_ms"], out["single_p99_ms"] = ms(np.percentile(lat, 50)), ms(np.percentile(lat, 99))
    if one_features:
        lat = await sequential(port, one_features, single_n, warmup=100)
        out["single_features_p50_ms"] = ms(np.percentile(lat, 50))
        out["single_features_p99_ms"] = ms(np.percentile(lat, 99))
    rps, lat = await concurrent(port, one, 16, seconds=3 if quick else 5, max_requests=50_000)
    out["c16_req_per_s"], out["c16_p99_ms"] = round(rps, 1), ms(np.percentile(lat, 99))
    out["c16_p50_ms"], out["c16_requests"] = ms(np.percentile(lat, 50)), len(lat)
    for n, reps in ((1_000, 30), (10_000, 12)):
        bodies = [payloads(ids, feats, n, k * n % (len(ids) - n)) for k in range(3)]
        if name == "meterwise":
            lat = await sequential(port, lambda i, b=bodies: ("POST", "/v1/arrears/score", b[i % 3]["ids"]), reps, 3)
            lat_f = await sequential(
                port, lambda i, b=bodies: ("POST", "/v1/arrears/score", b[i % 3]["features"]), max(5, reps // 2), 2
            )
        else:
            lat = lat_f = await sequential(
                port, lambda i, b=bodies: ("POST", "/invocations", b[i % 3]["mlflow"]), max(5, reps // 3), 2
            )
        key = "1k" if n == 1_000 else "10k"
        out[f"batch_{key}_ms"] = ms(np.median(lat))
        out[f"batch_features_{key}_ms"] = ms(np.median(lat_f))
        if n == 10_000:
            out["batch_10k_p99_ms"] = ms(np.percentile(lat, 99))
            out["batch_10k_rows_per_s"] = round(n / float(np.median(lat)))
            out["batch_features_10k_rows_per_s"] = round(n / float(np.median(lat_f)))
    return out


TARGETS = {
    "single_p99_ms": "< 2",
    "c16_req_per_s": ">= 2000",
    "c16_p99_ms": "< 15",
    "batch_10k_ms": "< 100",
    "batch_10k_rows_per_s": ">= 4x mlflow",
    "batch_features_10k_rows_per_s": ">= 2x mlflow",
}


def markdown(report: dict) -> str:
    """A table of both servers side by side, with the targets."""
    mw, ml, ctx = report["meterwise"], report["mlflow"], report["context"]
    lines = [
        "# Serving benchmark: meterwise vs `mlflow models serve`",
        "",
        f"{ctx['model']}; {ctx['bench_customers']} bench customers; {ctx['cpus']} CPUs shared with the client; "
        f"load average after the run {', '.join(f'{x:.1f}' for x in ctx['loadavg_after'])}; {ctx['measured_at']}.",
        "",
        "| metric | meterwise | mlflow | target |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {k} | {mw[k]} | {ml.get(k, '')} | {TARGETS.get(k, '')} |" for k in mw]
    lines += [
        "",
        f"batch_throughput_ratio (by id vs mlflow): **{report['batch_throughput_ratio']}x**; "
        f"batch_features_throughput_ratio: **{report['batch_features_throughput_ratio']}x**; "
        f"c16 throughput ratio {report['c16_throughput_ratio']}x.",
        "",
        ctx["notes"],
        "",
    ]
    return "\n".join(lines)


def main(quick: bool = False) -> dict:
    ensure_demo()
    from training.registry import open_registry
    from training.settings import TrainingSettings

    reg = open_registry(TrainingSettings(tracking_uri=f"sqlite:///{VAR / 'mlflow.db'}"), "demo")
    bundle, version = reg.load_version("arrears", "champion")
    names = list(bundle.feature_names_in_)
    n_trees = bundle.booster_.num_trees()
    tmp = Path(tempfile.mkdtemp(prefix="meterwise-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        ids, feats = build_bench_tenant(tmp / "var", names)
        ports, procs = start_servers(tmp / "var", tmp)
        max_diff = check_answers(ports, ids, feats)
        print(
            f"servers up (arrears v{version}, {n_trees} trees, {len(names)} features); "
            f"max |p_meterwise - p_mlflow| = {max_diff:.2e}",
            flush=True,
        )
        results = {}
        for name in ("meterwise", "mlflow"):
            results[name] = asyncio.run(measure_server(name, ports[name], ids, feats, quick))
            print(name, json.dumps(results[name]), flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    mw, ml = results["meterwise"], results["mlflow"]
    report = {
        **results,
        "batch_throughput_ratio": round(mw["batch_10k_rows_per_s"] / ml["batch_features_10k_rows_per_s"], 2),
        "batch_features_throughput_ratio": round(
            mw["batch_features_10k_rows_per_s"] / ml["batch_features_10k_rows_per_s"], 2
        ),
        "single_p99_ratio": round(ml["single_p99_ms"] / mw["single_p99_ms"], 2),
        "c16_throughput_ratio": round(mw["c16_req_per_s"] / ml["c16_req_per_s"], 2),
        "context": {
            "model": f"meterwise-demo-arrears v{version} ({n_trees} trees, {len(names)} features)",
            "max_abs_probability_diff_vs_mlflow": max_diff,
            "bench_customers": N_CUSTOMERS,
            "notes": (
                "meterwise by id reads precomputed probability/grade/action/reasons; with features it "
                "scores live without reasons; mlflow scores features (no by-id mode, no reasons), so its "
                "batch_10k_* and batch_features_10k_* are the same measurement. One worker each; the client "
                "shares the same CPUs."
            ),
            "cpus": os.cpu_count(),
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "measured_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(markdown(report))
    print(json.dumps({k: v for k, v in report.items() if k not in results}, indent=2))
    return report


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
