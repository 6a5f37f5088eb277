"""Server scenarios of ``benchmarks/reliability.py`` on the demo models: one 100,000-row batch (and three
at once), hot reloads under load, and the soak with its leak control. Loopback only, bounded in time.

Each returns its live figures; :mod:`harness.gates` turns them into pass/fail gates. Resource figures
come from a :class:`~harness.sampler.Sampler` that runs inside the server's lifetime only.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd

from harness.gates import RSS_GROWTH_PCT_LIMIT, big_batch_gates, reload_gates, soak_gates
from harness.load import RawStream, Stream, pct, request_counts, run_raw_streams, run_streams, served
from harness.sampler import Sampler
from harness.service import ADMIN, BILLING

WARMUP_S = 2.0  # requests started in the first seconds (connections opening) are left out of percentiles


def warm(stream: Stream) -> list[float]:
    return [x for x, t in zip(stream.latencies_ms, stream.started, strict=True) if t >= WARMUP_S]


def demo_frames(env: dict[str, str]) -> tuple[list[str], pd.DataFrame]:
    var = Path(env["METERWISE_VAR_DIR"])
    ids = pd.read_parquet(var / "scores/demo/arrears/latest.parquet")["customer_id"].astype(str).tolist()
    profiles = pd.read_parquet(sorted(var.glob("features/demo/*/profiles.parquet"))[-1])
    return ids, profiles


def bench_big_batch(env: dict[str, str], rows: int = 100_000) -> dict:
    _, profiles = demo_frames(env)
    headers = {**BILLING, "content-type": "application/json"}
    with served(env) as (proc, base):
        names = httpx.get(f"{base}/v1/models/arrears", headers=BILLING, timeout=10).json()["feature_names"]
        sample = np.round(profiles[names].sample(rows, replace=True, random_state=0).to_numpy(dtype=float), 4)
        body = orjson.dumps(
            {"features": {n: sample[:, j] for j, n in enumerate(names)}}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        with httpx.Client(base_url=base, timeout=120) as c:
            c.post("/v1/arrears/score", content=orjson.dumps({"features": {n: [0.0] for n in names}}), headers=headers)
            time.sleep(1)
            with Sampler(proc.pid, every_s=0.02) as sampler:
                time.sleep(0.3)
                before = sampler.latest_mib()
                t = time.perf_counter()
                r = c.post("/v1/arrears/score", content=body, headers=headers)
                seconds = time.perf_counter() - t
                time.sleep(0.3)
        ok = r.status_code == 200 and r.json()["count"] == rows

        async def three() -> list[int]:
            async with httpx.AsyncClient(base_url=base, timeout=120) as ac:
                rs = await asyncio.gather(
                    *(ac.post("/v1/arrears/score", content=body, headers=headers) for _ in range(3))
                )
            return [x.status_code for x in rs]

        t = time.perf_counter()
        statuses = asyncio.run(three())
        three_s = time.perf_counter() - t
    out = {
        "rows": rows,
        "body_mib": round(len(body) / 2**20, 1),
        "ok": ok,
        "seconds": round(seconds, 3),
        "extra_rss_mib": round(sampler.peak_mib() - before, 1),
        "three_at_once_statuses": statuses,
        "three_at_once_ok": three_at_once_ok(statuses),
        "three_at_once_seconds": round(three_s, 2),
    }
    out["gates"] = big_batch_gates(out)
    return out


def three_at_once_ok(statuses: list[int]) -> bool:
    """Three big batches at once: at least one is answered (200) and any other is shed with 503."""
    return any(s == 200 for s in statuses) and all(s in (200, 503) for s in statuses)


def bench_reload(env: dict[str, str], swaps: int, steady_s: float) -> dict:
    ids, profiles = demo_frames(env)
    with served(env) as (_, base):
        names = httpx.get(f"{base}/v1/models/arrears", headers=BILLING, timeout=10).json()["feature_names"]
        feats = {
            "features": {
                n: profiles[n].head(2).astype(float).where(profiles[n].head(2).notna(), None).tolist() for n in names
            }
        }
        versions: list[str] = []

        def named(r: httpx.Response) -> str | None:
            v = r.json().get("model_version")
            versions.append(str(v))
            return None if v else "no model_version"

        single = Stream("single", 80, lambda c, i: c.get(f"/v1/arrears/{ids[i % len(ids)]}"), named)
        scored = Stream("features", 20, lambda c, i: c.post("/v1/arrears/score", json=feats), named)
        window: list[float] = []
        swap_status: list[int] = []
        swap_ms: list[float] = []

        async def swapper(client: httpx.AsyncClient, t0: float) -> None:
            await asyncio.sleep(steady_s)
            window.append(time.perf_counter() - t0)
            for k in range(swaps):
                t = time.perf_counter()
                r = await client.post(
                    "/v1/models/arrears/reload", json={"version": "2" if k % 2 == 0 else "1"}, headers=ADMIN
                )
                swap_ms.append((time.perf_counter() - t) * 1000)
                swap_status.append(r.status_code)
                await asyncio.sleep(0.25)
            window.append(time.perf_counter() - t0)

        duration = steady_s + swaps * 1.5 + 2
        asyncio.run(run_streams(base, BILLING, [single, scored], duration, swapper))
    lat = lambda s, lo, hi: [x for x, t in zip(s.latencies_ms, s.started, strict=True) if lo <= t < hi]  # noqa: E731
    steady = lat(single, 1.0, window[0]) + lat(scored, 1.0, window[0])
    during = lat(single, window[0], window[1]) + lat(scored, window[0], window[1])
    p99_steady, p99_swap = pct(steady, 99), pct(during, 99)
    out = {
        "swaps": len(swap_status),
        "swap_statuses_ok": sum(s == 200 for s in swap_status),
        "swap_ms_p50": pct(swap_ms, 50),
        "requests": single.sent + scored.sent,
        "failed_requests": len(single.errors) + len(scored.errors),
        "failures": (single.errors + scored.errors)[:5],
        "versions_seen": sorted(set(versions)),
        "steady_p99_ms": p99_steady,
        "swap_p99_ms": p99_swap,
    }
    out["gates"] = reload_gates(out)
    out["gate_ok"] = all(out["gates"].values())
    return out


def soak(env: dict[str, str], seconds: float, module: str = "serving.server", batch: bool = True) -> dict:
    """`seconds` of open-loop load (200 req/s by id, plus 1 req/s of 1,000-id batches); resources sampled
    every second from the running server, the last sample taken before it is stopped."""
    ids, _ = demo_frames(env)
    batch_body = orjson.dumps({"customer_ids": (ids + [f"X{i:05d}" for i in range(1_000)])[:1_000]})
    single = RawStream("single", 200, "GET", lambda i: f"/v1/arrears/{ids[i % len(ids)]}", connections=32)
    streams = [single]
    if batch:
        streams.append(RawStream("batch", 1, "POST", lambda i: "/v1/arrears/score", batch_body, connections=4))
    with served(env, module=module) as (proc, base):
        with Sampler(proc.pid, every_s=1.0) as sampler:
            asyncio.run(run_raw_streams(base, BILLING["X-API-Key"], streams, seconds))
            time.sleep(1.5)
        counts = request_counts(base)
    growth = sampler.growth(from_s=seconds / 5)  # minute 2 of 10 at full size
    out = {
        "seconds": seconds,
        "client": "raw asyncio HTTP/1.1, open loop (latency from the scheduled send time)",
        "requests": sum(s.sent for s in streams),
        "errors": sum(len(s.errors) for s in streams),
        "error_examples": [e for s in streams for e in s.errors][:5],
        "single_p50_ms": pct(single.latencies_ms, 50),
        "single_p99_ms": pct(single.latencies_ms, 99),
        **growth,
        "metrics_match": counts.get(("GET", "/v1/arrears/{customer_id}"), 0) == single.sent,
    }
    if batch:
        out["batch_p99_ms"] = pct(streams[1].latencies_ms, 99)
        out["metrics_match"] &= counts.get(("POST", "/v1/arrears/score"), 0) == streams[1].sent
    out["rss_gate_ok"] = growth["rss_growth_pct"] < RSS_GROWTH_PCT_LIMIT
    return out


def bench_soak(env: dict[str, str], seconds: float, leak_seconds: float) -> dict:
    """The soak on the real server, then the same load on a server that leaks 64 KiB per request: the
    soak's RSS gate must fail on the latter (``leak_control_failed`` true) or the gate is not trusted."""
    out = soak(env, seconds)
    out["fds_threads_flat"] = out["fds_end"] <= out["fds_start"] + 10 and out["threads_end"] <= out["threads_start"] + 4
    leaky = soak({**env, "METERWISE_LEAK_KB": "64"}, leak_seconds, module="harness.leaky_server", batch=False)
    out["leak_control"] = {
        k: leaky[k] for k in ("seconds", "requests", "rss_start_mib", "rss_end_mib", "rss_growth_pct", "samples")
    }
    out["leak_control_failed"] = not leaky["rss_gate_ok"]  # True = the gate caught the leak, as it must
    out["gates"] = soak_gates(out)
    return out
