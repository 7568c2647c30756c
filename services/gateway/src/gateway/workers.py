"""`GATEWAY_WORKERS` > 1: several uvicorn worker processes on one port (one pod, several cores).

Each worker builds its own app from the environment (`app.app_from_env`). Set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory so `/metrics` on any worker reports the
values of all of them (metrics.render_metrics); without it each worker reports its own.
"""

from __future__ import annotations

import logging
import os

import uvicorn

from gateway.settings import Settings
from kiro_service import load_limits, server_options

log = logging.getLogger(__name__)


def run_workers(settings: Settings) -> int:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning("GATEWAY_WORKERS > 1 without PROMETHEUS_MULTIPROC_DIR: /metrics shows one worker only")
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        workers=settings.gateway_workers,
        host=settings.gateway_host,
        port=settings.port,
        loop="uvloop",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.gateway_shutdown_grace)),
        server_header=False,
        **server_options(load_limits("gateway")),  # each worker reads the HTTP_* limits itself
    )
    return 0
