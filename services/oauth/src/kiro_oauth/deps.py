"""The oauth service's lifespan state (a typed object, `kiro_service.deps`) and the dependencies
routes take: `AppState` and the admin check `AdminWrite` (`kiro_admin.deps`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from kiro_admin import AdminState, AdminWrite
from kiro_oauth.metrics import OAuthMetrics
from kiro_oauth.service import OAuthService
from kiro_oauth.settings import Settings
from kiro_service import state_dependency


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthState(AdminState):
    settings: Settings
    metrics: OAuthMetrics
    service: OAuthService


AppState = Annotated[OAuthState, Depends(state_dependency(OAuthState))]
__all__ = ["AdminWrite", "AppState", "OAuthState"]
