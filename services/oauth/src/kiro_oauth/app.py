"""`create_app(settings)`: the oauth service (the `/oauth` accounts page and its login flows).

The lifespan opens Redis, NATS and one `httpx.AsyncClient` (explicit timeouts and limits) for the
OIDC and auth-portal calls, yields the typed `State`, and closes them in reverse order. With
`OAUTH_ENABLED` false only `/healthz`, `/readyz` and `/metrics` exist: every `/oauth` path is 404.
Admin checks and the session cookie are the dashboard's (`dashboard.adminauth`): one login
serves both pages, which share an origin behind the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.staticfiles import StaticFiles

from dashboard.adminauth import AdminAuth, AdminAuthError
from dashboard.httpmw import AccessMiddleware
from dashboard.keys import Keys as AdminKeys
from dashboard.redact import Redactor
from dashboard.service_metrics import timed_redis
from dashboard.session import SessionCodec
from kiro_oauth.deps import State
from kiro_oauth.errors import OAuthError
from kiro_oauth.flows import FlowStore, Sealer
from kiro_oauth.keys import Keys
from kiro_oauth.metrics import create_metrics
from kiro_oauth.routes import flows, health
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings
from kiro_oauth.upstream import LoginClient
from kiro_service import MetricsServer, render_metrics
from kiro_service.bus import BusClient, BusError

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": {"type": error_type, "message": message}}, status_code=status)


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
            metrics.common,
            decode_responses=True,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        bus = BusClient(
            settings.nats_url,
            service="oauth",
            namespace=settings.kiro_bus_namespace,
            observer=metrics.common.observe_bus,
            on_connection=lambda up: metrics.nats_connected.set(1 if up else 0),
        )
        await bus.start()  # never fails: /readyz tells while NATS is away
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.oauth_http_timeout, connect=min(10.0, settings.oauth_http_timeout)
            ),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            follow_redirects=False,
            trust_env=True,
        )
        service = OAuthService(
            settings,
            LoginClient(http, settings.oauth_client_name),
            FlowStore(redis, Keys(settings.kiro_redis_prefix), Sealer(settings.secret_key_bytes)),
            bus,
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
            yield State(settings=settings, metrics=metrics, redis=redis, bus=bus, auth=auth, service=service)
        finally:
            if metrics_port is not None:
                await metrics_port.close()
            await http.aclose()
            await bus.close()
            await redis.aclose()
            log.info("oauth stopped")

    app = FastAPI(title="Kiro2API oauth", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(health.router)
    if settings.oauth_enabled:
        app.include_router(flows.router)
        app.mount(
            "/oauth/static",
            StaticFiles(directory=STATIC_DIR, packages=[("dashboard", "static")]),
            name="static",
        )

    @app.exception_handler(AdminAuthError)
    async def _auth_error(_request: Request, exc: AdminAuthError) -> JSONResponse:
        return _error(exc.status_code, exc.error_type, str(exc))

    @app.exception_handler(OAuthError)
    async def _oauth_error(_request: Request, exc: OAuthError) -> JSONResponse:
        return _error(exc.status_code, exc.error_type, redactor.text(str(exc)))

    @app.exception_handler(BusError)
    async def _broker_error(_request: Request, exc: BusError) -> JSONResponse:
        return _error(503, "service_unavailable", redactor.text(str(exc)))

    @app.exception_handler(RedisError)
    async def _redis_down(_request: Request, exc: RedisError) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": type(exc).__name__})
        return _error(503, "service_unavailable", "Redis unavailable")

    app.add_middleware(
        AccessMiddleware, counter=metrics.http_requests, logger=logging.getLogger("kiro_oauth.http")
    )
    return app
