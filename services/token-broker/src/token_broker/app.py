"""`create_app(settings)`: the broker's small HTTP side and the lifespan that runs the broker.

`GET /healthz`  the process is up.
`GET /readyz`   NATS connected and Redis answers PING (503 otherwise).
`GET /metrics`  Prometheus text from the registry made here (pool gauges refreshed on scrape).

The real work happens on NATS (`service.py`); uvicorn's SIGTERM ends the lifespan, which
stops the NATS service, drains the requests in flight and closes everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from redis.exceptions import RedisError

from kiro_service import render_metrics, tracer_provider_from_env
from token_broker.runtime import Broker
from token_broker.settings import Settings
from token_broker.status import pool_status
from token_broker.telemetry import Telemetry


class State(TypedDict):
    broker: Broker


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`tracer_provider`: tests pass one; otherwise the OTEL_* variables decide (off by default)."""
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        owned = tracer_provider is None
        telemetry = Telemetry(tracer_provider or tracer_provider_from_env("kiro-token-broker"))
        broker = Broker(settings, registry=registry, transport=transport, telemetry=telemetry)
        try:
            await broker.start()
            yield {"broker": broker}
        finally:
            await broker.stop()
            if owned:
                telemetry.shutdown()

    app = FastAPI(
        title="kiro2api token-broker", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        broker: Broker = request.state.broker
        nats_ok = broker.nats_ok
        redis_ok = await broker.redis_ok()
        ready = nats_ok and redis_ok
        body = {"status": "ready" if ready else "not ready", "nats": nats_ok, "redis": redis_ok}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        broker: Broker = request.state.broker
        if broker.store is not None:
            try:
                await pool_status(broker.store, settings, broker.metrics)
                if broker.teams is not None:
                    await broker.teams.refresh_gauges()
            except RedisError:
                pass  # serve the counters anyway; readyz reports Redis
        return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)

    return app
