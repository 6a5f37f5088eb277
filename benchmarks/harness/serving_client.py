"""A lean HTTP/1.1 client and server launchers for the serving benchmark (loopback only).

``RawConn`` is the keep-alive client of :mod:`harness.load` (httpx cannot drive thousands of requests a
second on 2 shared cores without becoming the bottleneck). Timing loops: :func:`sequential` (concurrency 1)
and :func:`concurrent` (one connection per stream, closed loop), both with a warm-up that is not measured.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from harness.load import RawConn

Request = tuple[str, str, bytes]  # method, path, body


async def timed(conn: RawConn, request: Request) -> float:
    """Seconds for one request; raises on a non-200 answer (a benchmark never times errors)."""
    t = time.perf_counter()
    status, payload = await conn.request(*request)
    dt = time.perf_counter() - t
    if status != 200:
        raise RuntimeError(f"{request[0]} {request[1]} -> {status}: {payload[:300]!r}")
    return dt


async def sequential(port: int, key: str, make: Callable[[int], Request], n: int, warmup: int) -> np.ndarray:
    """Latencies (s) of `n` requests one after another on one connection, after `warmup` unmeasured."""
    conn = await RawConn(port, key).open()
    try:
        for i in range(warmup):
            await timed(conn, make(i))
        return np.array([await timed(conn, make(warmup + i)) for i in range(n)])
    finally:
        conn.close()


async def concurrent(
    port: int, key: str, make: Callable[[int], Request], streams: int, seconds: float, warmup_s: float = 1.0
) -> tuple[float, np.ndarray]:
    """(requests/s, latencies) of `streams` closed-loop connections for `seconds`, after `warmup_s` of the
    same load that is not measured."""
    conns = [await RawConn(port, key).open() for _ in range(streams)]
    lat: list[float] = []

    async def worker(c: RawConn, w: int, until: float, keep: bool) -> None:
        i = w
        while time.perf_counter() < until:
            dt = await timed(c, make(i))
            if keep:
                lat.append(dt)
            i += streams

    try:
        until = time.perf_counter() + warmup_s
        await asyncio.gather(*(worker(c, w, until, False) for w, c in enumerate(conns)))
        t = time.perf_counter()
        await asyncio.gather(*(worker(c, w, t + seconds, True) for w, c in enumerate(conns)))
        elapsed = time.perf_counter() - t
    finally:
        for c in conns:
            c.close()
    return len(lat) / elapsed, np.array(lat)


def start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start `cmd` with `env` added to this environment; its output goes to `log`."""
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    """Poll `url` until it answers 200; raises if the process exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode} before {url} was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f}s")


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process, then SIGKILL what is still running after 15 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def ms(seconds: float) -> float:
    return round(1000 * float(seconds), 3)


def summary(lat: np.ndarray) -> dict[str, float]:
    """p50 / p99 / max in milliseconds and the sample count."""
    return {
        "p50_ms": ms(np.percentile(lat, 50)),
        "p99_ms": ms(np.percentile(lat, 99)),
        "max_ms": ms(lat.max()),
        "n": len(lat),
    }
