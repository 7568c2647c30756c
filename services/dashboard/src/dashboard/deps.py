"""The dashboard's lifespan state (a typed object, `kiro_service.deps`) and the dependencies
routes take: `AppState`, and the admin checks `Admin` / `AdminWrite` (`kiro_admin.deps`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends
from pydantic import BaseModel

from dashboard.live import LiveHub
from dashboard.metrics import Metrics
from dashboard.settings import Settings
from dashboard.traffic.store import TrafficStore
from kiro_admin import Admin, AdminState, AdminWrite, LoginLimiter, Redactor, TrustedProxies
from kiro_service import state_dependency
from kiroproto.bus import Endpoint

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardState(AdminState):
    settings: Settings
    redactor: Redactor
    metrics: Metrics
    traffic: TrafficStore
    hub: LiveHub
    proxies: TrustedProxies  # whose x-forwarded-for is believed (FORWARDED_ALLOW_IPS)
    login_limiter: LoginLimiter


AppState = Annotated[DashboardState, Depends(state_dependency(DashboardState))]


async def ask(state: DashboardState, endpoint: Endpoint[Req, Rep], request: Req) -> Rep:
    """One broker round trip with `DASHBOARD_BROKER_TIMEOUT`; `kiro_service.bus.BusError` on
    failure (the app's exception handlers answer 503 / the refusal's status)."""
    return await state.admin.bus.call(endpoint, request, timeout_s=state.settings.dashboard_broker_timeout)


__all__ = ["Admin", "AdminWrite", "AppState", "DashboardState", "ask"]
