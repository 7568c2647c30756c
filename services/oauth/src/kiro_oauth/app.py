"""`create_app(settings)`: the oauth service (the `/oauth` accounts page and its login flows).

The lifespan opens the admin runtime (Redis, NATS, admin checks, health: `kiro_admin`) and one
`httpx.AsyncClient` (explicit timeouts and limits) for the OIDC and auth-portal calls, yields the
typed `OAuthState`, and closes them in reverse order. With `OAUTH_ENABLED` false only
`/healthz`, `/readyz` and `/metrics` exist: every `/oauth` path is 404. Admin checks and the
session cookie are `kiro_admin`'s, as in the dashboard: one login serves both pages, which share
an origin behind the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kiro_admin import Redactor, Sealer, admin_app, admin_runtime, admin_static, error_response
from kiro_oauth.deps import OAuthState
from kiro_oauth.flows import FlowStore
from kiro_oauth.keys import Keys
from kiro_oauth.metrics import create_metrics
from kiro_oauth.routes import flows
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings
from kiro_oauth.upstream import LoginClient
from kiro_service import lifespan_state
from kiro_service.bus import BusError

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
SESSION_TTL_S = 12 * 3600.0  # sessions are made by the dashboard's sign-in; this one only checks them


def _http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.oauth_http_timeout, connect=min(10.0, settings.oauth_http_timeout)),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
        follow_redirects=False,
        trust_env=True,
    )


def create_app(settings: Settings) -> FastAPI:
    metrics = create_metrics()
    redactor = Redactor(settings.secret_values())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with (
            admin_runtime(
                settings,
                metrics,
                service="oauth",
                session_ttl_s=SESSION_TTL_S,
                metrics_host=settings.oauth_metrics_host,
                metrics_port=settings.oauth_metrics_port,
            ) as admin,
            _http_client(settings) as http,
        ):
            await admin.bus.start()  # never fails: /readyz tells while NATS is away
            service = OAuthService(
                settings,
                LoginClient(http, settings.oauth_client_name),
                FlowStore(admin.redis, Keys(settings.kiro_redis_prefix), Sealer(settings.secret_key_bytes)),
                admin.bus,
                metrics,
            )
            state = OAuthState(admin=admin, settings=settings, metrics=metrics, service=service)
            log.info("oauth started", extra={"port": settings.oauth_port, "enabled": settings.oauth_enabled})
            try:
                yield lifespan_state(state, admin.health)
            finally:
                log.info("oauth stopped")

    app = admin_app("Kiro2API oauth", lifespan, metrics=metrics, redactor=redactor, logger="kiro_oauth.http")
    if settings.oauth_enabled:
        app.include_router(flows.router)
        app.mount("/oauth/static", admin_static(STATIC_DIR), name="static")

    @app.exception_handler(BusError)
    async def _broker_error(_request: Request, exc: BusError) -> JSONResponse:
        return error_response(503, "service_unavailable", redactor.text(str(exc)))

    return app
