"""Dashboard configuration (pydantic-settings), read once by `__main__` and passed to `create_app`.

Unprefixed names are the CONTRACTS.md contract shared with the other services; `DASHBOARD_*`
names are this service's own knobs. `.env` is read too; the real environment wins. Durations
accept `90`, `90s`, `2m`, `1h`. Without `KIRO_ADMIN_TOKEN` (or its fallback `KIRO_CLIENT_TOKEN`)
construction fails: the dashboard refuses to start rather than run unprotected.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboard.clientaddr import validate_spec
from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.upstream import parse_duration

_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR"}


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError("a duration is a number of seconds or a string like 90s, 2m, 1h")


def empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


def normalise_log_level(value: str) -> str:
    level = _LOG_LEVELS.get(value.strip().upper())
    if level is None:
        raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARN or ERROR")
    return level


class AdminServiceSettings(BaseSettings):
    """What every admin-facing service (dashboard, oauth) shares: the admin key with its
    fallback, the session-cookie secret, NATS, Redis, logging. Refuses to exist without an
    admin key. Subclasses add their own knobs and set `SERVICE`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
    SERVICE: ClassVar[str] = "service"

    # ---- shared contract (CONTRACTS.md)
    kiro_admin_token: SecretStr | None = None
    kiro_client_token: SecretStr | None = None
    kiro_session_secret: SecretStr | None = None  # signs admin cookies; default: derived from the admin token
    oauth_enabled: bool = False
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    kiro_bus_namespace: str = DEFAULT_NAMESPACE
    kiro_redis_prefix: str = "kiro2api"

    @field_validator("kiro_admin_token", "kiro_client_token", "kiro_session_secret", mode="before")
    @classmethod
    def _optional_secret(cls, value: Any) -> Any:
        return empty_to_none(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        return normalise_log_level(value)

    @model_validator(mode="after")
    def _needs_admin_token(self) -> Self:
        if self.admin_token is None:
            raise ValueError(
                f"KIRO_ADMIN_TOKEN (or KIRO_CLIENT_TOKEN) is not set: the {self.SERVICE} refuses to start "
                "without an admin key"
            )
        return self

    @property
    def admin_token(self) -> SecretStr | None:
        """`KIRO_ADMIN_TOKEN`, falling back to `KIRO_CLIENT_TOKEN` (CONTRACTS.md)."""
        for candidate in (self.kiro_admin_token, self.kiro_client_token):
            if candidate is not None and candidate.get_secret_value().strip():
                return candidate
        return None

    def secret_values(self) -> list[str | None]:
        """Values that must never be shown or logged (the redactor's list)."""
        return [s.get_secret_value() if s is not None else None for s in self._secrets()]

    def _secrets(self) -> tuple[SecretStr | None, ...]:
        return (self.kiro_admin_token, self.kiro_client_token, self.kiro_session_secret)

    @property
    def session_secret(self) -> str | None:
        return self.kiro_session_secret.get_secret_value() if self.kiro_session_secret else None


class Settings(AdminServiceSettings):
    SERVICE: ClassVar[str] = "dashboard"

    # ---- the dashboard's own knobs
    dashboard_host: str = "0.0.0.0"  # a container listens on every interface
    dashboard_port: int = Field(default=8083, ge=0, le=65535)
    dashboard_session_ttl: Duration = 12 * 3600.0
    dashboard_cookie_secure: bool | None = None  # None: Secure when the request came over https
    dashboard_pool_poll_interval: Duration = 2.0  # broker pool_status polls while someone watches
    dashboard_traffic_push_interval: Duration = 5.0  # traffic snapshot pushed to live pages
    dashboard_broker_timeout: Duration = 5.0  # pool status and actions (a refresh may take a while)
    dashboard_sse_keepalive: Duration = 15.0
    dashboard_max_body_bytes: int = Field(default=64 * 1024, ge=1024)  # larger bodies: 413, read no further
    dashboard_login_attempts: int = Field(default=10, ge=1)  # failed sign-ins per address and window
    dashboard_login_window: Duration = 300.0  # then 429 + retry-after until the window ends
    dashboard_metrics_port: int | None = Field(default=None, ge=0, le=65535)  # keyless /metrics; unset: off
    dashboard_metrics_host: str = "127.0.0.1"  # keep it off the public network (deploy/: the pod's)
    forwarded_allow_ips: str = "127.0.0.1,::1"  # proxies whose x-forwarded-for is believed (clientaddr.py)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return validate_spec(value)

    @field_validator("dashboard_cookie_secure", "dashboard_metrics_port", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return empty_to_none(value)
