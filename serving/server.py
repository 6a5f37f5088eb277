"""``meterwise serve``: build settings, the app and run uvicorn (the lead mounts :func:`serve_cmd`)."""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import typer
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


def serve_cmd(
    host: str = typer.Option(None, help="bind address (default: METERWISE_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="bind port (default: METERWISE_PORT or 8000)"),
    no_registry: bool = typer.Option(False, "--no-registry", help="serve models/<kind>/model.joblib bundles only"),
    tenant: str = typer.Option(
        None,
        help="tenant served: its champions meterwise-<tenant>-<kind>, snapshots and models/<tenant>/ "
        "(default: METERWISE_TENANT or demo)",
    ),
) -> None:
    """Start the prediction API for one tenant (its champion of each kind from the MLflow registry, else models/)."""
    overrides = {"host": host, "port": port, "tenant": tenant}
    try:
        settings = ServingSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as err:
        from features.settings import settings_error

        raise typer.BadParameter(settings_error(err)) from None
    if no_registry:
        settings = settings.model_copy(update={"use_registry": False})
    run_server(settings)


if __name__ == "__main__":  # `python -m serving.server`: settings from the environment (used by benchmarks)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_server(ServingSettings())
