"""OAuth service configuration (pydantic-settings), read once by `__main__`, passed to `create_app`.

Unprefixed names are the CONTRACTS.md contract (shared with the other services); `OAUTH_*` names
are this service's own knobs. `.env` is read too; the real environment wins. `OAUTH_ENABLED`
(default false) turns the `/oauth` page and its API on; off, every `/oauth` path answers 404.
Without `KIRO_ADMIN_TOKEN` (or its fallback `KIRO_CLIENT_TOKEN`) construction fails.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboard.settings import normalise_log_level
from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.upstream import DEFAULT_AUTH_BASE_URL, DEFAULT_OIDC_BASE_URL, DEFAULT_REGION, parse_duration

BUILDER_ID_START_URL = "https://view.awsapps.com/start"
BUILDER_ID_REGION = "us-east-1"


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError("a duration is a number of seconds or a string like 90s, 2m, 1h")


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # ---- shared contract (CONTRACTS.md)
    oauth_enabled: bool = False
    kiro_admin_token: SecretStr | None = None
    kiro_client_token: SecretStr | None = None
    kiro_session_secret: SecretStr | None = None
    kiro_secret_key: SecretStr | None = None  # seals pending-flow secrets in Redis (AES-GCM)
    kiro_region: str = DEFAULT_REGION
    kiro_auth_base_url: str = DEFAULT_AUTH_BASE_URL
    kiro_oidc_base_url: str = DEFAULT_OIDC_BASE_URL
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    kiro_bus_namespace: str = DEFAULT_NAMESPACE
    kiro_redis_prefix: str = "kiro2api"

    # ---- the oauth service's own knobs
    oauth_host: str = "0.0.0.0"  # a container listens on every interface
    oauth_port: int = Field(default=8082, ge=0, le=65535)
    oauth_http_timeout: Duration = 15.0  # OIDC and auth-portal calls
    oauth_add_timeout: Duration = 45.0  # the broker verifies a new credential with a refresh
    oauth_social_ttl: Duration = 900.0  # how long a social login link stays valid here
    oauth_builder_id_start_url: str = BUILDER_ID_START_URL
    oauth_client_name: str = "Kiro IDE"

    @field_validator(
        "kiro_admin_token", "kiro_client_token", "kiro_session_secret", "kiro_secret_key", mode="before"
    )
    @classmethod
    def _optional(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        return normalise_log_level(value)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.admin_token is None:
            raise ValueError(
                "KIRO_ADMIN_TOKEN (or KIRO_CLIENT_TOKEN) is not set: the oauth service refuses to start "
                "without an admin key"
            )
        self.secret_key_bytes  # noqa: B018 - validates KIRO_SECRET_KEY
        return self

    @property
    def admin_token(self) -> SecretStr | None:
        """`KIRO_ADMIN_TOKEN`, falling back to `KIRO_CLIENT_TOKEN` (CONTRACTS.md)."""
        for candidate in (self.kiro_admin_token, self.kiro_client_token):
            if candidate is not None and candidate.get_secret_value().strip():
                return candidate
        return None

    @property
    def secret_key_bytes(self) -> bytes | None:
        if self.kiro_secret_key is None:
            return None
        try:
            raw = base64.b64decode(self.kiro_secret_key.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("KIRO_SECRET_KEY must be base64 of 32 random bytes") from exc
        if len(raw) != 32:
            raise ValueError(f"KIRO_SECRET_KEY must decode to 32 bytes, not {len(raw)}")
        return raw
