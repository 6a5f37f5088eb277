"""A real uvicorn on 127.0.0.1: hot reload under concurrent requests, refused corrupt model, chunked 413."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import httpx
import joblib
import pytest
import uvicorn

from serving.app import create_app
from serving.model_store import ModelStore, registry_loader
from tests.serving.conftest import ADMIN, BILLING
from tests.serving.stubs import StubArrears, StubForecaster, StubSegmenter


@contextlib.contextmanager
def serve(app):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def hammer(base: str, stop: asyncio.Event, concurrency: int = 8, max_requests: int = 3000) -> list:
    """Bounded load: GET by id + POST with features until `stop` (or max_requests); returns every outcome."""
    outcomes: list = []
    feats = {"features": {"kwh_mean_28d": [10.0, 20.0], "late_bills_12m": [1, 2]}}
    async with httpx.AsyncClient(base_url=base, headers=BILLING, timeout=10) as client:

        async def worker(i: int) -> None:
            while not stop.is_set() and len(outcomes) < max_requests:
                if i % 2:
                    r = await client.get("/v1/arrears/C001")
                    outcomes.append((r.status_code, r.json().get("model_version")))
                else:
                    r = await client.post("/v1/arrears/score", json=feats)
                    outcomes.append((r.status_code, r.json().get("model_version")))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return outcomes


def test_hot_reload_under_load_has_zero_failed_requests(settings, loader):
    store = ModelStore(settings, loader=loader)
    store.load_all()
    slow = loader.__call__

    def slow_loader(kind, ref):  # a slow load widens the window in which requests race the swap
        time.sleep(0.05)
        return slow(kind, ref)

    store._loader = slow_loader
    with serve(create_app(settings, store)) as base:

        async def scenario() -> tuple[list, list]:
            stop = asyncio.Event()
            load = asyncio.create_task(hammer(base, stop))
            statuses = []
            async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=10) as admin:
                for version in ("2", "3", "4", "5"):
                    loader.bundles["arrears"] = (StubArrears(bias=int(version) / 10), version)
                    statuses.append((await admin.post("/v1/models/arrears/reload")).status_code)
                    await asyncio.sleep(0.05)
            stop.set()
            return await load, statuses

        outcomes, statuses = asyncio.run(scenario())
    assert statuses == [200, 200, 200, 200]
    assert len(outcomes) > 50
    failed = [o for o in outcomes if o[0] != 200]
    assert failed == []
    features_versions = {v for _, v in outcomes}
    assert "5" in features_versions and len(features_versions) >= 2  # old and new models both answered


def test_corrupt_model_refused_while_old_keeps_answering(settings):
    models = settings.models_dir / settings.tenant  # models/<tenant>/<kind>/
    for kind, bundle in (("arrears", StubArrears()), ("segments", StubSegmenter()), ("forecast", StubForecaster())):
        (models / kind).mkdir(parents=True)
        joblib.dump(bundle, models / kind / "model.joblib")
        (models / kind / "meta.json").write_text('{"version": "7"}')
    store = ModelStore(settings, loader=registry_loader(settings))  # use_registry=False: models/ bundles
    store.load_all()
    assert store.not_ready() == {}
    (models / "arrears" / "model.joblib").write_bytes(b"\x80\x04 definitely not a pickle")
    with serve(create_app(settings, store)) as base:

        async def scenario():
            stop = asyncio.Event()
            load = asyncio.create_task(hammer(base, stop, concurrency=4, max_requests=400))
            async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=10) as admin:
                r = await admin.post("/v1/models/arrears/reload")
                models_now = (await admin.get("/v1/models/arrears")).json()
            stop.set()
            return r, models_now, await load

        r, models_now, outcomes = asyncio.run(scenario())
    assert r.status_code == 409 and r.json()["error"]["code"] == "model_rejected"
    assert "Traceback" not in r.text
    assert models_now["version"] == "7" and models_now["ready"]
    assert outcomes and all(code == 200 for code, _ in outcomes)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content_length"])
def test_body_limit_on_the_wire(settings, store, chunked):
    small = settings.model_copy(update={"max_body_bytes": 4096})
    payload = b'{"customer_ids": [' + b",".join(b'"C%05d"' % i for i in range(5000)) + b"]}"
    with serve(create_app(small, store)) as base, httpx.Client(base_url=base, headers=BILLING, timeout=10) as c:
        body = (payload[i : i + 1024] for i in range(0, len(payload), 1024)) if chunked else payload
        r = c.post("/v1/arrears/score", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert r.headers["x-request-id"] == r.json()["error"]["request_id"]
        ok = c.post("/v1/arrears/score", json={"customer_ids": ["C001"]})  # the server is still fine
        assert ok.status_code == 200
