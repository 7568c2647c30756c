"""The dashboard's lifespan state (a typed object, `kiro_service.deps`) and the dependencies
routes take: `AppState`, and the admin checks `Admin` / `AdminWrite` (`kiro_admin.deps`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from dashboard.broker import BrokerClient
from dashboard.live import LiveHub
from dashboard.metrics import Metrics
from dashboard.settings import Settings
from dashboard.traffic.store import TrafficStore
from kiro_admin import Admin, AdminState, AdminWrite, LoginLimiter, Redactor, TrustedProxies
from kiro_service import state_dependency


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardState(AdminState):
    settings: Settings
    redactor: Redactor
    metrics: Metrics
    broker: BrokerClient
    traffic: TrafficStore
    hub: LiveHub
    proxies: TrustedProxies  # whose x-forwarded-for is believed (FORWARDED_ALLOW_IPS)
    login_limiter: LoginLimiter


AppState = Annotated[DashboardState, Depends(state_dependency(DashboardState))]
__all__ = ["Admin", "AdminWrite", "AppState", "DashboardState"]
