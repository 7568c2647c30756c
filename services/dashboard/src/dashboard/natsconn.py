"""Opening the NATS connection of an admin service, with lifecycle callbacks feeding a gauge."""

from __future__ import annotations

import logging
from typing import Any

import nats
from prometheus_client import Gauge

from kiro_service.busconn import nats_options

log = logging.getLogger(__name__)


async def connect_nats(url: str, name: str, connected: Gauge, service: str = "dashboard") -> Any:
    """Connect as `service` (its reply inbox and TLS: `kiro_service.busconn`)."""
    holder: list[Any] = []

    async def disconnected() -> None:
        connected.set(0)
        closing = bool(holder) and (holder[0].is_draining or holder[0].is_closed)
        log.log(logging.INFO if closing else logging.WARNING, "nats disconnected")

    async def reconnected() -> None:
        connected.set(1)
        log.info("nats reconnected")

    async def error(exc: Exception) -> None:
        log.warning("nats error", extra={"error": type(exc).__name__})

    nc = await nats.connect(
        servers=[url],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
        **nats_options(service),
    )
    holder.append(nc)
    connected.set(1)
    return nc
