"""`create_app(settings)`: the one ASGI app that serves all three upstream surfaces on one port.

API host (`KIRO_API_BASE_URL`): `/generateAssistantResponse`, `/getUsageLimits`,
`/ListAvailableModels`, `/mcp`. Auth portal (`KIRO_AUTH_BASE_URL`): `/refreshToken`, `/login`,
`/oauth/token`. OIDC (`KIRO_OIDC_BASE_URL`): `/token`, `/client/register`,
`/device_authorization`, `/device`. Plus `/healthz` and the control API under `/_sim/`.
The paths do not collide, so the three base URLs can all be `http://127.0.0.1:<port>`.

Deliberately not here: process start-up and logging set-up (`__main__.py`).
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kiro_sim.routes import chat, control, oidc, runtime, social
from kiro_sim.routes.common import json_response
from kiro_sim.settings import SimSettings
from kiro_sim.simulator import Simulator
from kiro_sim.store import Clock


def create_app(settings: SimSettings | None = None, *, clock: Clock | None = None) -> Starlette:
    """Build a simulator app. `clock` (epoch seconds) defaults to `time.time`; tests pass a fake.

    The `Simulator` is reachable as `app.state.sim` for in-process tests.
    """
    settings = settings if settings is not None else SimSettings()
    sim = Simulator(settings, clock or time.time)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/generateAssistantResponse", chat.ChatEndpoint(sim), methods=["POST"]),
        *runtime.routes(sim),
        *social.routes(sim),
        *oidc.routes(sim),
        *control.routes(sim),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app
