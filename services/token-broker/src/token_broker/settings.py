"""Broker configuration (pydantic-settings).

The unprefixed names are the shared contract of CONTRACTS.md; the broker's own knobs are
prefixed `BROKER_`. `.env` is read too; the real environment wins. Durations accept `90`,
`90s`, `2m`, `1h`, `500ms` (`kiroproto.upstream.parse_duration`). Secrets are `SecretStr`.
An empty value counts as unset for every optional setting.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.upstream import (
    DEFAULT_API_BASE_URL,
    DEFAULT_AUTH_BASE_URL,
    DEFAULT_OIDC_BASE_URL,
    DEFAULT_REGION,
    parse_duration,
    parse_proxy_pool,
)

_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR"}


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError("a duration is a number of seconds or a string like 90s, 2m, 1h")


def _empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # ---- shared contract (CONTRACTS.md)
    kiro_auth_token: SecretStr | None = None  # JSON object / array, or a path to a JSON file
    session_pool_enabled: bool = True
    session_pool_max_size: int = Field(default=3, ge=1)
    session_pool_cooldown: Duration = 60.0
    session_pool_wait: Duration = 30.0
    kiro_region: str = DEFAULT_REGION
    kiro_api_base_url: str = DEFAULT_API_BASE_URL
    kiro_auth_base_url: str = DEFAULT_AUTH_BASE_URL
    kiro_oidc_base_url: str = DEFAULT_OIDC_BASE_URL
    kiro_secret_key: SecretStr | None = None  # base64 of 32 bytes: AES-GCM at rest
    kiro_allow_plaintext_secrets: bool = False  # without a key the broker refuses to start unless true
    oauth_token_file: Path | None = None
    proxy_pool: str | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    kiro_bus_namespace: str = DEFAULT_NAMESPACE
    kiro_redis_prefix: str = "kiro2api"

    # ---- the broker's own knobs
    broker_host: str = "0.0.0.0"  # a container listens on every interface
    broker_port: int = 8081
    broker_lease_ttl: Duration = 60.0
    broker_refresh_margin: Duration = 600.0
    broker_usage_poll_interval: Duration = 600.0
    broker_refresh_check_interval: Duration = 30.0  # background refresh tick
    broker_catalogue_interval: Duration = 1800.0  # ListAvailableModels per account (0: only on events)
    broker_failure_streak: int = Field(default=3, ge=1)  # 5xx / network errors in a row ...
    broker_failure_cooldown: Duration = 30.0  # ... put the credential in this cooldown
    broker_backoff_first: Duration = 1.0  # first cooldown of a throttled account (doubling, capped)
    broker_suspicious_cooldown: Duration = 3600.0  # 429 "suspicious activity": cooldown (0: disable instead)
    broker_session_ttl: Duration = 3600.0  # a client session keeps its account this long after its last lease
    broker_http_timeout: Duration = 15.0  # refresh and getUsageLimits calls
    broker_drain_timeout: Duration = 10.0  # SIGTERM: wait this long for requests in flight
    broker_team_slot_ttl: Duration = 900.0  # a team request's concurrency slot ends by itself after this
    broker_instance_id: str = Field(default_factory=_default_instance_id)

    @field_validator("kiro_auth_token", "kiro_secret_key", "oauth_token_file", "proxy_pool", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _empty_to_none(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = _LOG_LEVELS.get(value.strip().upper())
        if level is None:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARN or ERROR")
        return level

    @field_validator("kiro_secret_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _decode_key(value.get_secret_value())
        return value

    @property
    def secret_key_bytes(self) -> bytes | None:
        if self.kiro_secret_key is None:
            return None
        return _decode_key(self.kiro_secret_key.get_secret_value())

    @property
    def proxies(self) -> tuple[str, ...]:
        return parse_proxy_pool(self.proxy_pool)


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("KIRO_SECRET_KEY must be base64 of 32 random bytes") from exc
    if len(raw) != 32:
        raise ValueError(f"KIRO_SECRET_KEY must decode to 32 bytes, not {len(raw)}")
    return raw
