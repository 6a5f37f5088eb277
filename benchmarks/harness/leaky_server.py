"""``python -m harness.leaky_server``: the API with a deliberate leak (each request keeps
``METERWISE_LEAK_KB`` KiB alive forever). The soak's leak control must FAIL its RSS gate against it."""

from __future__ import annotations

import os

import uvicorn

from serving.app import create_app
from serving.settings import ServingSettings

_KEPT: list[bytes] = []


def leaky(app, kib: int):
    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            _KEPT.append(os.urandom(kib * 1024))  # random bytes: pages really get touched
        await app(scope, receive, send)

    return wrapped


if __name__ == "__main__":
    settings = ServingSettings()
    app = create_app(settings)
    uvicorn.run(
        leaky(app, int(os.environ.get("METERWISE_LEAK_KB", "32"))),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
    )
