"""Run the API under uvicorn with a drain on shutdown; ``meterwise serve`` (in :mod:`serving.cli`) calls
:func:`run_server`, and ``python -m serving.server`` runs it with settings from the environment (benchmarks)."""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import uvicorn

from serving.settings import ServingSettings

logger = logging.getLogger(__name__)


def run_server(settings: ServingSettings) -> None:
    """Run the API under uvicorn until SIGTERM/SIGINT (models load in the background at startup).

    Shutdown: /readyz turns 503 at once, the listener stays open `drain_s` seconds (so a load
    balancer sees it), then closes; in-flight requests get `graceful_timeout_s` to finish.
    """
    from serving.app import create_app

    if settings.api_keys.keys() & {"billing-key", "planner-key", "admin-key"}:
        logger.warning("serving with the documented DEMO API keys; set METERWISE_API_KEYS outside a laptop")
    logger.info(
        "meterwise API for tenant %r on http://%s:%d (docs at /docs)", settings.tenant, settings.host, settings.port
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=settings.graceful_timeout_s,
    )
    DrainingServer(config, app.state, settings.drain_s).run()


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose first SIGTERM/SIGINT marks the app draining, then shuts down after `drain_s`."""

    def __init__(self, config: uvicorn.Config, state: Any, drain_s: float):
        super().__init__(config)
        self.state, self.drain_s = state, drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.state.draining
        self.state.draining = True
        if not first or self.drain_s <= 0:  # a second signal skips the drain
            super().handle_exit(sig, frame)
            return
        logger.info("signal %s: draining (/readyz 503) for %.1fs, then shutting down", sig, self.drain_s)
        timer = threading.Timer(self.drain_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


if __name__ == "__main__":  # `python -m serving.server`: settings from the environment (used by benchmarks)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_server(ServingSettings())
