"""`create_app(settings)`: the dashboard service (pool and traffic views, `/api/*`).

The lifespan opens the admin runtime (Redis, NATS, admin checks, health: `kiro_admin`),
subscribes to the broker's credential events and (in the queue group `dashboard-traffic`) to the
gateway's request events, starts the live hub, yields the typed `DashboardState`, and closes
everything in reverse order. When the drain begins (SIGTERM) the live streams end at once, so
that open pages do not hold the graceful exit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dashboard.deps import DashboardState
from dashboard.keys import Keys
from dashboard.live import LiveHub
from dashboard.metrics import create_metrics
from dashboard.routes import api, events, keys, pages, teams_page, usage
from dashboard.settings import Settings
from dashboard.traffic.recorder import TrafficRecorder
from dashboard.traffic.store import TrafficStore
from kiro_admin import (
    AdminKeys,
    LoginLimiter,
    Redactor,
    TrustedProxies,
    admin_app,
    admin_runtime,
    admin_static,
    error_response,
)
from kiro_service import lifespan_state
from kiro_service.bus import BusBadReply, BusRefused, BusUnavailable
from kiroproto.bus import CREDENTIAL_EVENTS

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    metrics = create_metrics()
    redactor = Redactor(settings.secret_values())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with admin_runtime(
            settings,
            metrics,
            service="dashboard",
            session_ttl_s=settings.dashboard_session_ttl,
            metrics_host=settings.dashboard_metrics_host,
            metrics_port=settings.dashboard_metrics_port,
        ) as admin:
            traffic = TrafficStore(admin.redis, Keys(settings.kiro_redis_prefix))
            hub = LiveHub(
                admin.bus,
                traffic,
                redactor,
                metrics,
                broker_timeout_s=settings.dashboard_broker_timeout,
                pool_interval_s=settings.dashboard_pool_poll_interval,
                traffic_interval_s=settings.dashboard_traffic_push_interval,
            )
            await admin.bus.subscribe(CREDENTIAL_EVENTS, hub.on_credential_event)
            await TrafficRecorder(traffic, metrics).subscribe(admin.bus)
            await admin.bus.start()  # never fails: /readyz tells while NATS is away
            hub.start()
            admin.health.on_drain(hub.close_streams)
            state = DashboardState(
                admin=admin,
                proxies=TrustedProxies(settings.forwarded_allow_ips),
                redactor=redactor,
                settings=settings,
                metrics=metrics,
                traffic=traffic,
                hub=hub,
                login_limiter=LoginLimiter(
                    admin.redis,
                    AdminKeys(settings.kiro_redis_prefix),
                    attempts=settings.dashboard_login_attempts,
                    window_s=settings.dashboard_login_window,
                ),
            )
            log.info(
                "dashboard started",
                extra={"port": settings.dashboard_port, "namespace": settings.kiro_bus_namespace},
            )
            try:
                yield lifespan_state(state, admin.health)
            finally:
                hub.close_streams()
                await hub.stop()
                log.info("dashboard stopped")

    app = admin_app(
        "Kiro2API dashboard",
        lifespan,
        metrics=metrics,
        redactor=redactor,
        logger="dashboard.http",
        max_body_bytes=settings.dashboard_max_body_bytes,
    )
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(events.router)
    app.include_router(keys.router)  # team keys, usage and the teams page (issue 5)
    app.include_router(usage.router)
    app.include_router(teams_page.router)
    app.mount("/static/dashboard", admin_static(STATIC_DIR), name="static")

    @app.exception_handler(BusUnavailable)
    async def _broker_down(_request: Request, exc: BusUnavailable) -> JSONResponse:
        return error_response(503, "service_unavailable", str(exc))

    @app.exception_handler(BusRefused)
    async def _broker_refused(_request: Request, exc: BusRefused) -> JSONResponse:
        status = exc.code if 400 <= exc.code < 500 else 502
        return error_response(status, "broker_error", redactor.text(exc.description))

    @app.exception_handler(BusBadReply)
    async def _broker_garbled(_request: Request, exc: BusBadReply) -> JSONResponse:
        return error_response(502, "broker_error", str(exc))

    return app
