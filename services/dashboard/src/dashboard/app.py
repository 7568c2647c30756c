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

from dashboard.broker import BrokerClient, BrokerRefused, BrokerUnavailable
from dashboard.deps import State
from dashboard.keys import Keys
from dashboard.live import LiveHub
from dashboard.metrics import create_metrics
from dashboard.routes import api, events, health, keys, pages, teams_page, usage
from dashboard.settings import Settings
from dashboard.traffic.recorder import QUEUE_GROUP, TrafficRecorder
from dashboard.traffic.store import TrafficStore
from kiro_admin import (
    AccessMiddleware,
    AdminAuth,
    AdminKeys,
    BodyCapMiddleware,
    LoginLimiter,
    Redactor,
    SessionCodec,
    TrustedProxies,
    admin_static,
    error_response,
    install_error_handlers,
)
from kiro_service import MetricsServer, render_metrics
from kiro_service.busconn import connect_nats
from kiro_service.metrics import timed_redis
from kiroproto.bus import Subjects

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


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
        admin_keys = AdminKeys(settings.kiro_redis_prefix)
        subjects = Subjects(settings.kiro_bus_namespace)
        redis = timed_redis(
            settings.redis_url,
            metrics,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        nc = await connect_nats(settings.nats_url, "kiro-dashboard", metrics.nats_connected, "dashboard")
        broker = BrokerClient(nc, subjects, settings.dashboard_broker_timeout, metrics.observe_nats)
        traffic = TrafficStore(redis, keys)
        hub = LiveHub(
            broker,
            traffic,
            redactor,
            metrics,
            pool_interval_s=settings.dashboard_pool_poll_interval,
            traffic_interval_s=settings.dashboard_traffic_push_interval,
        )
        recorder = TrafficRecorder(traffic, metrics)
        subs = [
            await nc.subscribe(subjects.events_credential, cb=hub.on_credential_event),
            await nc.subscribe(subjects.events_request, queue=QUEUE_GROUP, cb=recorder.on_message),
        ]
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
                nc=nc,
                auth=AdminAuth(codec, redis, admin_keys, settings.dashboard_session_ttl),
                broker=broker,
                traffic=traffic,
                hub=hub,
                proxies=TrustedProxies(settings.forwarded_allow_ips),
                login_limiter=LoginLimiter(
                    redis,
                    admin_keys,
                    attempts=settings.dashboard_login_attempts,
                    window_s=settings.dashboard_login_window,
                ),
            )
        finally:
            _app.state.shutdown_hooks.remove(stop_streams)
            hub.close_streams()
            await hub.stop()
            for sub in subs:
                await sub.unsubscribe()
            await nc.drain()
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
    app.mount("/static/dashboard", admin_static(STATIC_DIR), name="static")
    install_error_handlers(app, redactor)

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(_request: Request, exc: BrokerUnavailable) -> JSONResponse:
        return error_response(503, "service_unavailable", str(exc))

    @app.exception_handler(BrokerRefused)
    async def _broker_refused(_request: Request, exc: BrokerRefused) -> JSONResponse:
        status = exc.code if 400 <= exc.code < 500 else 502
        return error_response(status, "broker_error", redactor.text(exc.description))

    app.add_middleware(BodyCapMiddleware, max_bytes=settings.dashboard_max_body_bytes)
    app.add_middleware(
        AccessMiddleware, counter=metrics.http_requests, logger=logging.getLogger("dashboard.http")
    )
    return app
