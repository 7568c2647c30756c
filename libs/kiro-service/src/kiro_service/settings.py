"""The settings every service shares (CONTRACTS.md "Configuration"), declared once.

`BaseServiceSettings` is what every process has, the simulator included: `.env` read too (the
real environment wins), extra variables ignored, `LOG_LEVEL`, and `MISSING_HINTS` (the sentence
shown when a required variable is missing). `ServiceSettings` is the base of each service's
`Settings`: it adds the unprefixed contract names that more than one service reads (NATS, Redis,
the bus namespace, the admin key, the at-rest key).
`UpstreamSettings` adds the Kiro upstream names (region, the three base URLs, `PROXY_POOL`) for
the services that call Kiro. A service adds its own knobs with its prefix (`GATEWAY_*`,
`BROKER_*`, ...).

Shared validated types: `Duration` (`90`, `90s`, `2m`, `1h`, `500ms`), `LogLevel` (DEBUG, INFO,
WARN, ERROR; stored as the `logging` name), `MetricsPort` (blank or unset: off) and
`empty_to_none` (a blank value counts as unset). `describe_settings_error` turns a
`ValidationError` into the one line an operator reads; it never echoes a value (it may be a
secret). OpenTelemetry reads its own standard `OTEL_*` variables (`tracing.py`), the inbound
limits their `HTTP_*` ones (`inbound.py`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiro_service.busconn import NatsTlsSettings
from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.upstream import (
    DEFAULT_API_BASE_URL,
    DEFAULT_AUTH_BASE_URL,
    DEFAULT_OIDC_BASE_URL,
    DEFAULT_REGION,
    parse_duration,
    parse_proxy_pool,
)

LOG_LEVELS: Mapping[str, str] = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
}
LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a server (a container) listens on every interface


def parse_log_level(value: str) -> str:
    """`LOG_LEVEL` as a `logging` level name; the seed's `WARN` is `WARNING`."""
    level = LOG_LEVELS.get(value.strip().upper())
    if level is None:
        raise ValueError(f"LOG_LEVEL must be one of DEBUG, INFO, WARN, ERROR (got {value!r})")
    return level


def empty_to_none(value: Any) -> Any:
    """A blank string counts as unset (`FOO=` in `.env` or Compose)."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    raise ValueError("a duration is a number of seconds or a string like 90s, 2m, 1h")


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds; `90`, `90s`, `2m`, `1h`, `500ms`. Add `Field(gt=0)` where zero makes no sense."""
LogLevel = Annotated[str, AfterValidator(parse_log_level)]
Port = Annotated[int, Field(ge=0, le=65535)]
MetricsPort = Annotated[Port | None, BeforeValidator(empty_to_none)]
"""A keyless `/metrics` port (`metrics_port.py`); unset, blank or 0: off."""


def decode_secret_key(text: str) -> bytes:
    """`KIRO_SECRET_KEY`: base64 of exactly 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("KIRO_SECRET_KEY must be base64 of 32 random bytes") from exc
    if len(raw) != 32:
        raise ValueError(f"KIRO_SECRET_KEY must decode to 32 bytes, not {len(raw)}")
    return raw


class BaseServiceSettings(BaseSettings):
    """`.env` and the environment, `LOG_LEVEL`; the base of every process's settings."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )
    MISSING_HINTS: ClassVar[Mapping[str, str]] = {}
    """A fuller sentence per required variable, for `describe_settings_error` when it is unset."""

    log_level: LogLevel = "INFO"


class ServiceSettings(BaseServiceSettings, NatsTlsSettings):
    """The contract's shared variables. Subclass it; add the service's own prefixed knobs."""

    model_config = BaseServiceSettings.model_config
    # NATS: credentials in the URL (nats://USER:PASSWORD@host:4222), TLS with a tls:// URL and
    # the `NATS_TLS_*` files of `busconn.NatsTlsSettings` (inherited).
    nats_url: str = "nats://127.0.0.1:4222"
    # Redis: ACL user and password in the URL, TLS as rediss:// with URL parameters.
    redis_url: str = "redis://127.0.0.1:6379/0"
    kiro_bus_namespace: str = DEFAULT_NAMESPACE
    kiro_redis_prefix: str = "kiro2api"
    kiro_admin_token: SecretStr | None = None  # `/metrics` on a public port needs it (Bearer)
    kiro_secret_key: SecretStr | None = None  # base64 of 32 bytes: seals what is kept in Redis

    @field_validator("kiro_admin_token", "kiro_secret_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return empty_to_none(value)

    @field_validator("kiro_secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_secret_key(value.get_secret_value())
        return value

    @property
    def secret_key_bytes(self) -> bytes | None:
        if self.kiro_secret_key is None:
            return None
        return decode_secret_key(self.kiro_secret_key.get_secret_value())


class UpstreamSettings(ServiceSettings):
    """The base plus the Kiro upstream names, for the services that call Kiro."""

    kiro_region: str = DEFAULT_REGION
    kiro_api_base_url: str = DEFAULT_API_BASE_URL
    kiro_auth_base_url: str = DEFAULT_AUTH_BASE_URL
    kiro_oidc_base_url: str = DEFAULT_OIDC_BASE_URL
    proxy_pool: str | None = None  # comma-separated outbound proxies

    @field_validator("proxy_pool", mode="before")
    @classmethod
    def _blank_pool(cls, value: Any) -> Any:
        return empty_to_none(value)

    @property
    def proxies(self) -> tuple[str, ...]:
        return parse_proxy_pool(self.proxy_pool)


def describe_settings_error(exc: ValidationError, hints: Mapping[str, str] | None = None) -> str:
    """One line naming each variable that is missing or wrong, never its value. `hints`:
    a fuller sentence for a missing variable (`{"KIRO_CLIENT_TOKEN": "... is not set: ..."}`)."""
    parts: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(p) for p in err.get("loc", ())).upper() or "configuration"
        if err.get("type") == "missing":
            parts.append((hints or {}).get(name, f"{name} is required"))
        else:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{name}: {message}")
    return "invalid configuration: " + "; ".join(parts)
