"""`create_app(settings)`: the dashboard service (pool and traffic views, `/api/*`).

The lifespan opens Redis and NATS, subscribes to the broker's credential events and (in the
queue group `dashboard-traffic`) to the gateway's request events, starts the live hub, yields the
typed `State`, and closes everything in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.staticfiles import StaticFiles

from dashboard.adminauth import AdminAuth, AdminAuthError
from dashboard.clientaddr import TrustedProxies
from dashboard.deps import State
from dashboard.httpmw import AccessMiddleware, BodyCapMiddleware
from dashboard.keys import Keys
from dashboard.live import LiveHub
from dashboard.loginlimit import LoginLimiter
from dashboard.metrics import create_metrics
from dashboard.redact import Redactor
from dashboard.routes import api, events, health, keys, pages, teams_page, usage
from dashboard.service_metrics import timed_redis
from dashboard.session import SessionCodec
from dashboard.settings import Settings
from dashboard.traffic.recorder import QUEUE_GROUP, TrafficRecorder
from dashboard.traffic.store import TrafficStore
from kiro_service import MetricsServer, render_metrics
from kiro_service.bus import BusBadReply, BusClient, BusRefused, BusUnavailable
from kiroproto.bus import CREDENTIAL_EVENTS, REQUEST_EVENTS

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": error_type, "message": message}}, status_code=status)


def request_shutdown(app: FastAPI) -> None:
    """Called by `__main__` when a stop signal arrives (before uvicorn waits for open
    connections): ends the live streams so that the graceful shutdown does not hang on them."""
    for hook in list(app.state.shutdown_hooks):
        hook()


def create_app(settings: Settings) -> FastAPI:
    metrics = create_metrics()
    redactor = Redactor(settings.secret_values())
    admin_token = settings.admin_token
    assert admin_token is not None  # Settings refuses to exist without one
    codec = SessionCodec(admin_token.get_secret_value(), settings.session_secret)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        keys = Keys(settings.kiro_redis_prefix)
        redis = timed_redis(
            settings.redis_url,
            metrics.common,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        bus = BusClient(
            settings.nats_url,
            service="dashboard",
            namespace=settings.kiro_bus_namespace,
            observer=metrics.common.observe_bus,
            on_connection=lambda up: metrics.nats_connected.set(1 if up else 0),
        )
        traffic = TrafficStore(redis, keys)
        hub = LiveHub(
            bus,
            traffic,
            redactor,
            metrics,
            broker_timeout_s=settings.dashboard_broker_timeout,
            pool_interval_s=settings.dashboard_pool_poll_interval,
            traffic_interval_s=settings.dashboard_traffic_push_interval,
        )
        recorder = TrafficRecorder(traffic, metrics)
        await bus.subscribe(CREDENTIAL_EVENTS, hub.on_credential_event)
        await bus.subscribe(
            REQUEST_EVENTS, recorder.on_event, queue=QUEUE_GROUP, on_malformed=recorder.on_malformed
        )
        await bus.start()  # never fails: /readyz tells while NATS is away
        hub.start()
        metrics_port = None
        if settings.dashboard_metrics_port:
            metrics_port = MetricsServer(
                lambda: render_metrics(metrics.registry),
                host=settings.dashboard_metrics_host,
                port=settings.dashboard_metrics_port,
            )
            await metrics_port.start()
        loop = asyncio.get_running_loop()
        stop_streams = partial(loop.call_soon_threadsafe, hub.close_streams)
        _app.state.shutdown_hooks.append(stop_streams)
        log.info(
            "dashboard started",
            extra={"port": settings.dashboard_port, "namespace": settings.kiro_bus_namespace},
        )
        try:
            yield State(
                settings=settings,
                metrics=metrics,
                redactor=redactor,
                redis=redis,
                bus=bus,
                auth=AdminAuth(codec, redis, keys, settings.dashboard_session_ttl),
                traffic=traffic,
                hub=hub,
                proxies=TrustedProxies(settings.forwarded_allow_ips),
                login_limiter=LoginLimiter(
                    redis,
                    settings.kiro_redis_prefix,
                    attempts=settings.dashboard_login_attempts,
                    window_s=settings.dashboard_login_window,
                ),
            )
        finally:
            _app.state.shutdown_hooks.remove(stop_streams)
            hub.close_streams()
            await hub.stop()
            await bus.close()
            await redis.aclose()
            if metrics_port is not None:
                await metrics_port.close()
            log.info("dashboard stopped")

    app = FastAPI(
        title="Kiro2API dashboard", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.shutdown_hooks = []
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(events.router)
    app.include_router(keys.router)  # team keys, usage and the teams page (issue 5)
    app.include_router(usage.router)
    app.include_router(teams_page.router)
    app.mount("/static/dashboard", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(AdminAuthError)
    async def _auth_error(_request: Request, exc: AdminAuthError) -> JSONResponse:
        return _error(exc.status_code, exc.error_type, str(exc))

    @app.exception_handler(BusUnavailable)
    async def _broker_down(_request: Request, exc: BusUnavailable) -> JSONResponse:
        return _error(503, "service_unavailable", str(exc))

    @app.exception_handler(BusRefused)
    async def _broker_refused(_request: Request, exc: BusRefused) -> JSONResponse:
        status = exc.code if 400 <= exc.code < 500 else 502
        return _error(status, "broker_error", redactor.text(exc.description))

    @app.exception_handler(BusBadReply)
    async def _broker_garbled(_request: Request, exc: BusBadReply) -> JSONResponse:
        return _error(502, "broker_error", str(exc))

    @app.exception_handler(RedisError)
    async def _redis_down(_request: Request, exc: RedisError) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": type(exc).__name__})
        return _error(503, "service_unavailable", "Redis unavailable")

    app.add_middleware(BodyCapMiddleware, max_bytes=settings.dashboard_max_body_bytes)
    app.add_middleware(
        AccessMiddleware, counter=metrics.http_requests, logger=logging.getLogger("dashboard.http")
    )
    return app
