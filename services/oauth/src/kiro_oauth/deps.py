"""FastAPI dependencies: typed lifespan state and the admin checks (shared with the dashboard)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import Depends, Request
from redis.asyncio import Redis

from dashboard.adminauth import AdminAuth, Principal
from kiro_oauth.metrics import OAuthMetrics
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings
from kiro_service.bus import BusClient


class State(TypedDict):
    settings: Settings
    metrics: OAuthMetrics
    redis: Redis
    bus: BusClient  # the broker over NATS, through the bus table (kiroproto.bus)
    auth: AdminAuth
    service: OAuthService


async def _state(request: Request) -> State:
    return State(
        settings=request.state.settings,
        metrics=request.state.metrics,
        redis=request.state.redis,
        bus=request.state.bus,
        auth=request.state.auth,
        service=request.state.service,
    )


async def require_admin_write(request: Request) -> Principal:
    auth: AdminAuth = request.state.auth
    return await auth.require(request, write=True)


AppState = Annotated[State, Depends(_state)]
AdminWrite = Annotated[Principal, Depends(require_admin_write)]
