"""`create_app(settings)`: the gateway's FastAPI app. No module-level state.

The lifespan connects to NATS (in the background: the gateway starts and answers 529 while the
bus is away), opens the pooled upstream clients and the forwarder, and yields the typed state
that routes read; it closes everything in reverse order. Errors are rendered by one handler
per flavour (errors.render_error), chosen by path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway.deps import GatewayState
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    flavour_for_path,
    render_error,
)
from gateway.failover import Upstreams
from gateway.lease import BrokerClient
from gateway.metrics import Metrics
from gateway.middleware import GatewayMiddleware
from gateway.proxy import Forwarder
from gateway.routes import chat, forward, health, messages, models
from gateway.settings import Settings
from gateway.upstream import UpstreamClient
from kiroproto.bus import Subjects
from kiroproto.models import ModelMap, ModelMapConfig


def load_model_map(value: str | None) -> ModelMap:
    """`GATEWAY_MODEL_MAP`: a JSON object, or a path to a JSON file (ModelMapConfig)."""
    if not value:
        return ModelMap(ModelMapConfig())
    text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
    return ModelMap(ModelMapConfig.model_validate_json(text))


def create_app(settings: Settings) -> FastAPI:
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    model_map = load_model_map(settings.gateway_model_map)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[GatewayState]:
        broker = BrokerClient(
            settings.nats_url,
            Subjects(settings.kiro_bus_namespace),
            bus_timeout=settings.gateway_bus_timeout,
            metrics=metrics,
        )
        upstream = UpstreamClient(
            api_base_template=settings.kiro_api_base_url,
            default_region=settings.kiro_region,
            connect_timeout=settings.gateway_connect_timeout,
            read_timeout=settings.gateway_read_timeout,
            max_connections=settings.gateway_max_connections,
            proxy_pool=settings.proxies,
        )
        forwarder = Forwarder(
            dashboard_url=settings.gateway_dashboard_url, oauth_url=settings.gateway_oauth_url
        )
        await broker.start(first_attempt_timeout=min(2.0, settings.gateway_bus_timeout))
        try:
            yield GatewayState(
                settings=settings,
                metrics=metrics,
                broker=broker,
                upstreams=Upstreams(
                    broker=broker,
                    upstream=upstream,
                    metrics=metrics,
                    max_attempts=settings.session_pool_max_retries,
                    lease_wait=settings.session_pool_wait,
                    ping_interval=settings.gateway_ping_interval,
                ),
                models=model_map,
                forwarder=forwarder,
                client_key=settings.kiro_client_token.get_secret_value().encode("utf-8"),
                fallback_logged=set(),
            )
        finally:
            await forwarder.aclose()
            await upstream.aclose()
            await broker.close()

    app = FastAPI(
        lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None, title="Kiro2API gateway"
    )
    app.add_middleware(GatewayMiddleware, metrics=metrics, max_body_bytes=settings.gateway_max_body_bytes)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    app.include_router(messages.router)
    app.include_router(chat.router)
    app.include_router(models.router)
    app.include_router(forward.router)
    return app


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return render_error(exc, flavour_for_path(request.url.path), _request_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    err: GatewayError
    if exc.status_code == 404:
        err = NotFound(f"no route for {request.method} {request.url.path}")
    else:
        err = InvalidRequest(str(exc.detail))
        err.status = exc.status_code
    return render_error(err, flavour_for_path(request.url.path), _request_id(request))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    err = InvalidRequest(f"invalid request: {exc.errors()[:3]}")
    return render_error(err, flavour_for_path(request.url.path), _request_id(request))
