"""Gateway unit-test helpers: the app driven in-process (httpx over ASGITransport) with its
lifespan running, as uvicorn would run it (lifespan state copied into every request scope)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.deps import GatewayState
from gateway.settings import Settings
from kiro_service.deps import state_from

CLIENT_TOKEN = "test-client-token-" + "Wp5Hs9Fe"
AUTH = {"x-api-key": CLIENT_TOKEN}
ADMIN_TOKEN = "gateway-unit-admin-" + "Zr4Lq8Vn2Xc6Tb1M"  # /metrics on the public port


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kiro_client_token": CLIENT_TOKEN,
        "nats_url": "nats://127.0.0.1:1",  # nothing listens: the bus is "down" unless a test says so
        "session_pool_wait": 1.0,
        "gateway_bus_timeout": 0.2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def running_client(
    settings: Settings, patch: Callable[[GatewayState], None] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """`patch` may swap parts of the typed lifespan state before the first request."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as lifespan:
        shared = dict(lifespan or {})
        if patch is not None:
            patch(state_from(shared, GatewayState))

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope = {**scope, "state": dict(shared)}
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
