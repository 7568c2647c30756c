"""FastAPI dependencies: typed access to the lifespan state and the admin checks."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import Depends, Request
from redis.asyncio import Redis

from dashboard.broker import BrokerClient
from dashboard.live import LiveHub
from dashboard.metrics import Metrics
from dashboard.settings import Settings
from dashboard.traffic.store import TrafficStore
from kiro_admin import Admin, AdminAuth, AdminWrite, LoginLimiter, Redactor, TrustedProxies


class State(TypedDict):
    settings: Settings
    metrics: Metrics
    redactor: Redactor
    redis: Redis
    nc: Any
    auth: AdminAuth
    broker: BrokerClient
    traffic: TrafficStore
    hub: LiveHub
    proxies: TrustedProxies  # whose x-forwarded-for is believed (FORWARDED_ALLOW_IPS)
    login_limiter: LoginLimiter


async def _state(request: Request) -> State:
    return State(  # request.state holds the lifespan's State (Starlette copies it per request)
        settings=request.state.settings,
        metrics=request.state.metrics,
        redactor=request.state.redactor,
        redis=request.state.redis,
        nc=request.state.nc,
        auth=request.state.auth,
        broker=request.state.broker,
        traffic=request.state.traffic,
        hub=request.state.hub,
        proxies=request.state.proxies,
        login_limiter=request.state.login_limiter,
    )


AppState = Annotated[State, Depends(_state)]
__all__ = ["Admin", "AdminWrite", "AppState", "State"]
