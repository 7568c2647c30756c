"""Dashboard configuration (pydantic-settings), read once by `__main__` and passed to `create_app`.

Unprefixed names are the CONTRACTS.md contract shared with the other services; `DASHBOARD_*`
names are this service's own knobs. `.env` is read too; the real environment wins. Durations
accept `90`, `90s`, `2m`, `1h`. Short or placeholder keys are refused (kiroproto.keypolicy), and
the admin key may not equal the client key. Without `KIRO_ADMIN_TOKEN` the admin key is the
generated one kept in Redis (`kiro_admin.adminkey`, resolved by `__main__` before the app exists).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from kiro_admin import AdminServiceSettings, validate_spec
from kiro_service import Duration, Listen, MetricsPort, empty_to_none
from kiro_service.settings import ALL_INTERFACES, LOOPBACK


class Settings(AdminServiceSettings):
    SERVICE: ClassVar[str] = "dashboard"

    # ---- the dashboard's own knobs
    dashboard_host: str = ALL_INTERFACES  # a container listens on every interface
    dashboard_port: int = Field(default=8083, ge=0, le=65535)
    dashboard_session_ttl: Duration = Field(default=12 * 3600.0, gt=0)
    dashboard_cookie_secure: bool | None = None  # None: Secure when the request came over https
    dashboard_pool_poll_interval: Duration = Field(default=2.0, gt=0)  # pool_status polls while watched
    dashboard_traffic_push_interval: Duration = Field(default=5.0, gt=0)  # traffic pushed to live pages
    dashboard_broker_timeout: Duration = Field(default=5.0, gt=0)  # pool status and actions (a refresh)
    dashboard_sse_keepalive: Duration = Field(default=15.0, gt=0)
    dashboard_max_body_bytes: int = Field(default=64 * 1024, ge=1024)  # larger bodies: 413, read no further
    dashboard_login_attempts: int = Field(default=10, ge=1)  # failed sign-ins per address and window
    dashboard_login_window: Duration = Field(default=300.0, gt=0)  # then 429 + retry-after until it ends
    dashboard_metrics_port: MetricsPort = None  # keyless /metrics; unset: off
    dashboard_metrics_host: str = LOOPBACK  # keep it off the public network (deploy/: the pod's)
    forwarded_allow_ips: str = "127.0.0.1,::1"  # proxies whose x-forwarded-for is believed (clientaddr.py)

    def listen(self) -> Listen:
        return Listen("dashboard", self.dashboard_host, self.dashboard_port, grace_s=5)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return validate_spec(value)

    @field_validator("dashboard_cookie_secure", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return empty_to_none(value)
