"""`create_app(settings)`: the gateway's FastAPI app. No module-level state.

The lifespan connects to NATS (in the background: the gateway starts and answers 529 while the
bus is away), opens the pooled upstream clients and the forwarder, and yields the typed state
that routes read; it closes everything in reverse order. Errors are rendered by one handler
per flavour (errors.render_error), chosen by path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from gateway.bodies import BodyBudget
from gateway.catalogue import PoolCatalogue
from gateway.deps import GatewayState
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    flavour_for_path,
    render_error,
)
from gateway.failover import Upstreams
from gateway.forwarder import Forwarder
from gateway.key_cache import KeyCache
from gateway.leasing import Leasing
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.offload import Offloader
from gateway.record import record_of
from gateway.routes import forward, messages, models
from gateway.routes.answer import CHAT_ROUTES
from gateway.routes.health import gateway_health
from gateway.settings import Settings
from gateway.telemetry import CURRENT_TRACER, Telemetry
from gateway.traffic import TrafficPublisher
from gateway.upstream import UpstreamClient
from gateway.usage import UsageReporter
from kiro_service import (
    MetricsServer,
    configure_logging,
    health_routes,
    lifespan_state,
    render_metrics,
    tracer_provider_from_env,
)
from kiro_service.bus import BusClient
from kiroproto.models import ModelMap, ModelMapConfig


def load_model_map(value: str | None, default_model: str | None = None) -> ModelMap:
    """`GATEWAY_MODEL_MAP`: a JSON object, or a path to a JSON file (ModelMapConfig);
    `KIRO_DEFAULT_MODEL` (where other `claude-*` names go) wins over the map's `default_model`."""
    config = ModelMapConfig()
    if value:
        text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
        config = ModelMapConfig.model_validate_json(text)
    if default_model:
        config = config.model_copy(update={"default_model": default_model})
    return ModelMap(config)


def app_from_env() -> FastAPI:
    """The uvicorn factory when `GATEWAY_WORKERS` > 1: each worker process reads the environment."""
    settings = Settings()  # __main__ has validated the same environment already
    configure_logging("gateway", settings.log_level)
    return create_app(settings)


def create_app(settings: Settings, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """`tracer_provider`: tests pass one; otherwise the OTEL_* variables decide (off by default)."""
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    model_map = load_model_map(settings.gateway_model_map, settings.kiro_default_model)
    if tracer_provider is not None:
        telemetry = Telemetry(tracer_provider, owned=False)
    else:
        telemetry = Telemetry(tracer_provider_from_env("kiro-gateway"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        bus = BusClient(
            settings.nats_url,
            service="gateway",  # its NATS user's reply inbox
            namespace=settings.kiro_bus_namespace,
            observer=metrics.observe_bus,
            tracer=CURRENT_TRACER.get,  # set per request when tracing is on
            on_connection=metrics.nats_up,
        )
        broker = Leasing(bus, bus_timeout=settings.gateway_bus_timeout, metrics=metrics)
        upstream = UpstreamClient(settings)
        forwarder = Forwarder(
            dashboard_url=settings.gateway_dashboard_url, oauth_url=settings.gateway_oauth_url
        )
        keys = KeyCache(
            bus,
            ttl_s=settings.gateway_key_cache_ttl,
            negative_ttl_s=settings.gateway_key_negative_ttl,
            timeout_s=settings.gateway_bus_timeout,
        )
        reporter = UsageReporter(
            bus,
            timeout_s=settings.gateway_bus_timeout,
            records=metrics.usage_records,
            pending=metrics.usage_pending,
        )
        metrics_port = _metrics_server(settings, metrics)
        if metrics_port is not None:
            await metrics_port.start()
        offloader = Offloader(workers=settings.gateway_offload_workers)
        bodies = BodyBudget(
            threshold=settings.gateway_offload_threshold_bytes, cap=settings.gateway_large_body_inflight_bytes
        )
        catalogue = PoolCatalogue(
            bus, model_map, ttl_s=settings.gateway_catalogue_ttl, timeout_s=settings.gateway_bus_timeout
        )
        await bus.start(wait_s=min(2.0, settings.gateway_bus_timeout))  # never fails: NATS may come later
        await keys.start()
        await catalogue.start()
        await broker.start()
        traffic = TrafficPublisher(bus)
        traffic.start()
        state = GatewayState(
            settings=settings,
            metrics=metrics,
            bus=bus,
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
            catalogue=catalogue,
            forwarder=forwarder,
            client_key=settings.kiro_client_token.get_secret_value().encode("utf-8"),
            keys=keys,
            usage_reporter=reporter,
            offloader=offloader,
            bodies=bodies,
            traffic=traffic,
        )
        try:
            yield lifespan_state(state, gateway_health(settings, metrics, bus, broker))
        finally:
            await _settle_cancelled_streams()
            await forwarder.aclose()
            await upstream.aclose()
            await reporter.close(settings.gateway_usage_drain_timeout)
            await catalogue.close()
            await broker.drain()
            await traffic.close()
            await bus.close()
            if metrics_port is not None:
                await metrics_port.close()
            offloader.close()
            telemetry.shutdown()

    app = FastAPI(
        lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None, title="Kiro2API gateway"
    )
    app.add_middleware(
        Lifecycle,
        metrics=metrics,
        telemetry=telemetry,
        max_body_bytes=settings.gateway_max_body_bytes,
        direct={("POST", path): endpoint for path, endpoint in CHAT_ROUTES.items()},  # the chat routes
    )
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.router.routes.extend(health_routes())  # /healthz, /readyz, /metrics (routes/health.py)
    app.include_router(messages.router)
    app.include_router(models.router)
    app.include_router(forward.router)
    return app


def _metrics_server(settings: Settings, metrics: Metrics) -> MetricsServer | None:
    """Keyless `/metrics` on `GATEWAY_METRICS_PORT` (several workers share the port)."""
    if not settings.gateway_metrics_port:
        return None
    return MetricsServer(
        lambda: render_metrics(metrics.registry),
        host=settings.gateway_metrics_host,
        port=settings.gateway_metrics_port,
        reuse_port=settings.gateway_workers > 1,
    )


async def _settle_cancelled_streams(limit_s: float = 2.0) -> None:
    """uvicorn cancels the requests still running when `GATEWAY_SHUTDOWN_GRACE` ends and starts
    the lifespan shutdown at once: let the streams' cancellation handlers run first (each releases
    its lease in the background, which `broker.drain()` then waits for), so no lease is left to
    expire by TTL."""
    for _ in range(3):
        await asyncio.sleep(0)
    producers = [t for t in asyncio.all_tasks() if t.get_name() == "stream-producer" and not t.done()]
    if producers:
        await asyncio.wait(producers, timeout=limit_s)


def _request_id(request: Request) -> str:
    return record_of(request).request_id


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


async def _client_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away while sending its body: nothing to answer; the request line is
    logged with `disconnected: true` and status 499 (not a bug, not a 500)."""
    assert isinstance(exc, ClientDisconnect)
    record_of(request).disconnected = True
    return Response(status_code=499)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    err = InvalidRequest(f"invalid request: {exc.errors()[:3]}")
    return render_error(err, flavour_for_path(request.url.path), _request_id(request))
