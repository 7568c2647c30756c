"""FastAPI dependencies: typed lifespan state and the admin checks (`kiro_admin`)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import Depends, Request
from redis.asyncio import Redis

from kiro_admin import AdminAuth, AdminWrite
from kiro_oauth.metrics import OAuthMetrics
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings


class State(TypedDict):
    settings: Settings
    metrics: OAuthMetrics
    redis: Redis
    nc: Any
    auth: AdminAuth
    service: OAuthService


async def _state(request: Request) -> State:
    return State(
        settings=request.state.settings,
        metrics=request.state.metrics,
        redis=request.state.redis,
        nc=request.state.nc,
        auth=request.state.auth,
        service=request.state.service,
    )


AppState = Annotated[State, Depends(_state)]
__all__ = ["AdminWrite", "AppState", "State"]
