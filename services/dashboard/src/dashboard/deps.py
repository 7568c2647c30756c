"""FastAPI dependencies: typed access to the lifespan state and the admin checks."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import Depends, Request
from redis.asyncio import Redis

from dashboard.adminauth import AdminAuth, Principal
from dashboard.broker import BrokerClient
from dashboard.clientaddr import TrustedProxies
from dashboard.live import LiveHub
from dashboard.loginlimit import LoginLimiter
from dashboard.metrics import Metrics
from dashboard.redact import Redactor
from dashboard.settings import Settings
from dashboard.traffic.store import TrafficStore


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


async def require_admin(request: Request) -> Principal:
    auth: AdminAuth = request.state.auth
    return await auth.require(request, write=False)


async def require_admin_write(request: Request) -> Principal:
    auth: AdminAuth = request.state.auth
    return await auth.require(request, write=True)


AppState = Annotated[State, Depends(_state)]
Admin = Annotated[Principal, Depends(require_admin)]
AdminWrite = Annotated[Principal, Depends(require_admin_write)]
