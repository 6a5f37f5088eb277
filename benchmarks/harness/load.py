"""Load tools shared by the benchmarks and the reliability tests: a server subprocess on 127.0.0.1, open-loop
load generators (httpx streams and the lean :class:`RawConn`) and /metrics parsing. Only loopback, bounded
by request counts and time. Resource sampling is in :mod:`harness.sampler`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_path() -> str:
    """``PYTHONPATH`` for a subprocess: the repository (the packages) and ``benchmarks/`` (``harness``)."""
    return os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")])


def launch(env: dict[str, str], module: str = "serving.server", ready_s: float = 120) -> tuple[subprocess.Popen, str]:
    """``python -m <module>`` with `env` (METERWISE_*) on a free loopback port; waits for /readyz 200."""
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": python_path(),
        "METERWISE_HOST": "127.0.0.1",
        "METERWISE_PORT": str(port),
    }
    environ.pop("MLFLOW_TRACKING_URI", None)
    environ.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", module], cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{module} exited with {proc.returncode} before it was ready")
        time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    raise RuntimeError(f"{module} not ready after {ready_s:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 30 s; waits for the exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def served(env: dict[str, str], module: str = "serving.server") -> Iterator[tuple[subprocess.Popen, str]]:
    """:func:`launch` on entry, :func:`stop` on exit: ``with served(env) as (proc, base): ...``.

    Open a :class:`~harness.sampler.Sampler` *inside* this block, so sampling always ends before the
    server is stopped.
    """
    proc, base = launch(env, module=module)
    try:
        yield proc, base
    finally:
        stop(proc)


@dataclass
class Stream:
    """One open-loop request stream: `rate` requests per second of `send(client, i)`."""

    name: str
    rate: float
    send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
    check: Callable[[httpx.Response], str | None] | None = None  # an error description or None
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    started: list[float] = field(default_factory=list)  # seconds since start, per request


async def _drive(client: httpx.AsyncClient, stream: Stream, duration_s: float, t0: float) -> None:
    tasks = []

    async def one(i: int) -> None:
        start = time.perf_counter()
        try:
            r = await stream.send(client, i)
            problem = None if r.status_code == 200 else f"{r.status_code}: {r.text[:120]}"
            if problem is None and stream.check is not None:
                problem = stream.check(r)
        except Exception as err:  # connection errors count as failed requests
            problem = f"{type(err).__name__}: {err}"
        stream.latencies_ms.append((time.perf_counter() - start) * 1000)
        stream.started.append(start - t0)
        if problem:
            stream.errors.append(problem)

    n = int(duration_s * stream.rate)
    for i in range(n):
        delay = t0 + i / stream.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stream.sent += 1
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


async def run_streams(base: str, headers: dict[str, str], streams: list[Stream], duration_s: float, extra=None) -> None:
    """Run every stream for `duration_s` (open loop, one client each, so a slow big answer cannot stall
    the others' connection pool); `extra(client, t0)` runs alongside (swaps)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    clients = [
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) for _ in range(len(streams) + 1)
    ]
    try:
        t0 = time.perf_counter()
        jobs = [_drive(c, s, duration_s, t0) for c, s in zip(clients, streams, strict=False)]
        if extra is not None:
            jobs.append(extra(clients[-1], t0))
        await asyncio.gather(*jobs)
    finally:
        for c in clients:
            await c.aclose()


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def request_counts(base: str) -> dict[tuple[str, str], int]:
    """``meterwise_requests_total`` summed over statuses, by (method, route)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    out: dict[tuple[str, str], int] = {}
    pattern = r'^meterwise_requests_total\{method="(\w+)",route="([^"]+)",status="\d+"\} ([0-9.e+]+)$'
    for m in re.finditer(pattern, text, re.M):
        key = (m.group(1), m.group(2))
        out[key] = out.get(key, 0) + int(float(m.group(3)))
    return out


class RawConn:
    """One keep-alive HTTP/1.1 connection on loopback (a lean client: httpx cannot drive 200 req/s plus
    1,000-id batches on 2 shared cores without becoming the bottleneck)."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    async def open(self) -> RawConn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**24)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        headers = raw.lower()
        i = headers.find(b"content-length:")
        if i >= 0:
            n = int(headers[i + 15 : headers.index(b"\r\n", i)])
            return status, await self.reader.readexactly(n)
        chunks = []  # chunked transfer encoding
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            chunks.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(c[:-2] for c in chunks)

    def close(self) -> None:
        self.writer.close()


@dataclass
class RawStream:
    """`rate` requests per second of ``method path_of(i)`` with `body`, over `connections` keep-alive conns."""

    name: str
    rate: float
    method: str
    path_of: Callable[[int], str]
    body: bytes = b""
    connections: int = 16
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0


async def _drive_raw(port: int, key: str, stream: RawStream, duration_s: float, t0: float) -> None:
    pool: asyncio.Queue[RawConn] = asyncio.Queue()
    for _ in range(stream.connections):
        pool.put_nowait(await RawConn(port, key).open())

    async def one(i: int, scheduled: float) -> None:
        conn = await pool.get()
        try:
            status, payload = await conn.request(stream.method, stream.path_of(i), stream.body)
            if status != 200:
                stream.errors.append(f"{status}: {payload[:120]!r}")
            pool.put_nowait(conn)
        except Exception as err:  # a broken connection: count it, replace it
            stream.errors.append(f"{type(err).__name__}: {err}")
            conn.close()
            pool.put_nowait(await RawConn(port, key).open())
        stream.latencies_ms.append((time.perf_counter() - scheduled) * 1000)  # includes any queueing

    tasks = []
    for i in range(int(duration_s * stream.rate)):
        scheduled = t0 + i / stream.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stream.sent += 1
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()


async def run_raw_streams(base: str, key: str, streams: list[RawStream], duration_s: float) -> None:
    port = int(base.rsplit(":", 1)[1])
    t0 = time.perf_counter()
    await asyncio.gather(*(_drive_raw(port, key, s, duration_s, t0) for s in streams))
