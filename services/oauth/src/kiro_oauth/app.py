"""`create_app(settings)`: the oauth service (the `/oauth` accounts page and its login flows).

The lifespan opens Redis, NATS and one `httpx.AsyncClient` (explicit timeouts and limits) for the
OIDC and auth-portal calls, yields the typed `State`, and closes them in reverse order. With
`OAUTH_ENABLED` false only `/healthz`, `/readyz` and `/metrics` exist: every `/oauth` path is 404.
Admin checks and the session cookie are `kiro_admin`'s, as in the dashboard: one login serves
both pages, which share an origin behind the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dashboard.broker import BrokerClient, BrokerError
from kiro_admin import (
    AccessMiddleware,
    AdminAuth,
    AdminKeys,
    Redactor,
    Sealer,
    SessionCodec,
    admin_static,
    error_response,
    install_error_handlers,
)
from kiro_oauth.deps import State
from kiro_oauth.flows import FlowStore
from kiro_oauth.keys import Keys
from kiro_oauth.metrics import create_metrics
from kiro_oauth.routes import flows, health
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings
from kiro_oauth.upstream import LoginClient
from kiro_service import MetricsServer, render_metrics
from kiro_service.busconn import connect_nats
from kiro_service.metrics import timed_redis
from kiroproto.bus import Subjects

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    metrics = create_metrics()
    redactor = Redactor(settings.secret_values())
    admin_token = settings.admin_token
    assert admin_token is not None  # Settings refuses to exist without one
    codec = SessionCodec(admin_token.get_secret_value(), settings.session_secret)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        redis = timed_redis(
            settings.redis_url,
            metrics,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        nc = await connect_nats(settings.nats_url, "kiro-oauth", metrics.nats_connected, "oauth")
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.oauth_http_timeout, connect=min(10.0, settings.oauth_http_timeout)
            ),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            follow_redirects=False,
            trust_env=True,
        )
        broker = BrokerClient(
            nc, Subjects(settings.kiro_bus_namespace), settings.oauth_add_timeout, metrics.observe_nats
        )
        service = OAuthService(
            settings,
            LoginClient(http, settings.oauth_client_name),
            FlowStore(redis, Keys(settings.kiro_redis_prefix), Sealer(settings.secret_key_bytes)),
            broker,
            metrics,
        )
        auth = AdminAuth(codec, redis, AdminKeys(settings.kiro_redis_prefix), session_ttl_s=12 * 3600)
        log.info("oauth started", extra={"port": settings.oauth_port, "enabled": settings.oauth_enabled})
        metrics_port = None
        try:
            if settings.oauth_metrics_port:
                metrics_port = MetricsServer(
                    lambda: render_metrics(metrics.registry),
                    host=settings.oauth_metrics_host,
                    port=settings.oauth_metrics_port,
                )
                await metrics_port.start()
            yield State(settings=settings, metrics=metrics, redis=redis, nc=nc, auth=auth, service=service)
        finally:
            if metrics_port is not None:
                await metrics_port.close()
            await http.aclose()
            await nc.drain()
            await redis.aclose()
            log.info("oauth stopped")

    app = FastAPI(title="Kiro2API oauth", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(health.router)
    if settings.oauth_enabled:
        app.include_router(flows.router)
        app.mount(
            "/oauth/static",
            admin_static(STATIC_DIR),
            name="static",
        )

    install_error_handlers(app, redactor)

    @app.exception_handler(BrokerError)
    async def _broker_error(_request: Request, exc: BrokerError) -> JSONResponse:
        return error_response(503, "service_unavailable", redactor.text(str(exc)))

    app.add_middleware(
        AccessMiddleware, counter=metrics.http_requests, logger=logging.getLogger("kiro_oauth.http")
    )
    return app
