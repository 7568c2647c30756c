"""`create_app(settings)`: the broker's small HTTP side and the lifespan that runs the broker.

`GET /healthz`, `GET /readyz` (NATS connected and Redis answers PING) and `GET /metrics`
(Prometheus text, pool gauges refreshed on scrape) are `kiro_service.health`'s routes. The
broker's HTTP port is internal only (deploy/: no public route reaches it), so it is the
broker's metrics port too: `/metrics` needs no key here.

The real work happens on NATS (`service.py`); SIGTERM ends the lifespan, which stops the NATS
service, drains the requests in flight and closes everything (`runtime.Broker.stop`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from kiro_service import (
    Health,
    health_routes,
    lifespan_state,
    registry_metrics,
    tracer_provider_from_env,
)
from token_broker.runtime import Broker
from token_broker.settings import Settings
from token_broker.telemetry import Telemetry


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`tracer_provider`: tests pass one; otherwise the OTEL_* variables decide (off by default)."""
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        owned = tracer_provider is None
        telemetry = Telemetry(tracer_provider or tracer_provider_from_env("kiro-token-broker"))
        broker = Broker(settings, registry=registry, transport=transport, telemetry=telemetry)
        health = Health(
            checks=[broker.readiness],
            metrics=registry_metrics(registry, before=broker.refresh_gauges),
        )
        try:
            await broker.start()
            yield lifespan_state(broker, health)
        finally:
            await broker.stop()
            if owned:
                telemetry.shutdown()

    app = FastAPI(
        title="kiro2api token-broker", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.router.routes.extend(health_routes())
    return app
