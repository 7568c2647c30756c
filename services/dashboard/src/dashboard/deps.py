"""FastAPI dependencies: typed access to the lifespan state and the admin checks."""

from __future__ import annotations

from typing import Annotated, TypedDict, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from redis.asyncio import Redis

from dashboard.adminauth import AdminAuth, Principal
from dashboard.clientaddr import TrustedProxies
from dashboard.live import LiveHub
from dashboard.loginlimit import LoginLimiter
from dashboard.metrics import Metrics
from dashboard.redact import Redactor
from dashboard.settings import Settings
from dashboard.traffic.store import TrafficStore
from kiro_service.bus import BusClient
from kiroproto.bus import Endpoint

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


class State(TypedDict):
    settings: Settings
    metrics: Metrics
    redactor: Redactor
    redis: Redis
    bus: BusClient  # the broker over NATS, through the bus table (kiroproto.bus)
    auth: AdminAuth
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
        bus=request.state.bus,
        auth=request.state.auth,
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


async def ask(state: State, endpoint: Endpoint[Req, Rep], request: Req) -> Rep:
    """One broker round trip with `DASHBOARD_BROKER_TIMEOUT`; `kiro_service.bus.BusError` on
    failure (the app's exception handlers answer 503 / the refusal's status)."""
    return await state["bus"].call(endpoint, request, timeout_s=state["settings"].dashboard_broker_timeout)
