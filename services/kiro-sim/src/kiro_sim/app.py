"""`create_app(settings)`: the one ASGI app that serves all three upstream surfaces on one port.

API host (`KIRO_API_BASE_URL`): `/generateAssistantResponse`, `/getUsageLimits`,
`/ListAvailableModels`, `/mcp`. Auth portal (`KIRO_AUTH_BASE_URL`): `/refreshToken`, `/login`,
`/oauth/token`. OIDC (`KIRO_OIDC_BASE_URL`): `/token`, `/client/register`,
`/device_authorization`, `/device`. Plus `/healthz`, `/readyz` (ready once started) and
`/metrics` (none: 404) from `kiro_service.health`, and the control API under `/_sim/`.
The paths do not collide, so the three base URLs can all be `http://127.0.0.1:<port>`.

Deliberately not here: process start-up and logging set-up (`__main__.py`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from kiro_service import Health, health_routes, lifespan_state
from kiro_sim.routes import chat, control, oidc, runtime, social
from kiro_sim.settings import SimSettings
from kiro_sim.simulator import Simulator
from kiro_sim.store import Clock


def create_app(settings: SimSettings | None = None, *, clock: Clock | None = None) -> Starlette:
    """Build a simulator app. `clock` (epoch seconds) defaults to `time.time`; tests pass a fake.

    The `Simulator` is reachable as `app.state.sim` for in-process tests.
    """
    settings = settings if settings is not None else SimSettings()
    sim = Simulator(settings, clock or time.time)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield lifespan_state(sim, Health())

    routes: list[BaseRoute] = [
        *health_routes(),
        Route("/generateAssistantResponse", chat.ChatEndpoint(sim), methods=["POST"]),
        *runtime.routes(sim),
        *social.routes(sim),
        *oidc.routes(sim),
        *control.routes(sim),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = sim
    return app
