"""Gateway configuration (pydantic-settings), read once by `__main__` and passed to `create_app`.

The unprefixed names are the CONTRACTS.md contract shared with the other services; `GATEWAY_*`
names are this service's own knobs. `.env` is read too; the real environment wins. Durations
accept `90`, `90s`, `2m`, `1h`. Without `KIRO_CLIENT_TOKEN` construction fails (the gateway
refuses to start).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiroproto.keypolicy import check_key
from kiroproto.upstream import DEFAULT_API_BASE_URL, DEFAULT_REGION, parse_duration, parse_proxy_pool

MAX_BODY_BYTES = 100 * 1024 * 1024
_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- CONTRACTS.md (shared, unprefixed) ---
    kiro_client_token: SecretStr = Field(description="operator API key for /v1/*")
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "INFO"
    session_pool_max_retries: int = Field(default=5, ge=1, le=50)
    session_pool_wait: float = Field(default=30.0, ge=0.0)
    proxy_pool: str | None = None
    kiro_region: str = DEFAULT_REGION
    kiro_api_base_url: str = DEFAULT_API_BASE_URL
    nats_url: str = "nats://127.0.0.1:4222"
    kiro_bus_namespace: str = "kiro"
    kiro_admin_token: SecretStr | None = None  # `/metrics` on the public port needs it (Bearer)
    kiro_default_model: str | None = None  # where other claude-* names go (default claude-sonnet-4.5)

    # --- gateway knobs ---
    gateway_host: str = "0.0.0.0"  # noqa: S104 - a server listens on all interfaces by default
    gateway_ping_interval: float = Field(default=10.0, gt=0.0)
    gateway_dashboard_url: str | None = None
    gateway_oauth_url: str | None = None
    gateway_max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024)
    gateway_connect_timeout: float = Field(default=10.0, gt=0.0)
    gateway_read_timeout: float = Field(default=300.0, gt=0.0)  # upstream silence between chunks
    gateway_bus_timeout: float = Field(default=2.0, gt=0.0)  # ping / release / renew round trips
    gateway_max_connections: int = Field(default=1000, ge=1)  # per outbound proxy
    gateway_model_map: str | None = None  # JSON object, or a path to a JSON file (ModelMapConfig)
    gateway_key_cache_ttl: float = Field(default=30.0, gt=0.0)  # team key records (events invalidate)
    gateway_key_negative_ttl: float = Field(default=2.0, ge=0.0)  # unknown keys
    gateway_catalogue_ttl: float = Field(default=30.0, gt=0.0)  # the pool's models (events refresh at once)
    gateway_usage_drain_timeout: float = Field(default=5.0, ge=0.0)  # shutdown: deliver usage records
    gateway_workers: int = Field(default=1, ge=1, le=64)  # uvicorn processes (PROMETHEUS_MULTIPROC_DIR)
    gateway_shutdown_grace: float = Field(default=30.0, ge=0.0)  # SIGTERM: streams in flight may finish
    gateway_metrics_port: int | None = Field(default=None, ge=0, le=65535)  # keyless /metrics; unset: off
    gateway_metrics_host: str = "127.0.0.1"  # keep it off the public network (deploy/: the pod's)
    # large bodies (bodies.py): parsed, converted and counted in worker processes from this size
    gateway_offload_threshold_bytes: int = Field(default=256 * 1024, ge=1)
    gateway_offload_workers: int = Field(default=2, ge=1, le=64)  # worker processes per gateway process
    gateway_large_body_inflight_bytes: int = Field(default=512 * 1024 * 1024, ge=1)  # beyond: 429

    @field_validator("kiro_admin_token", "gateway_metrics_port", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kiro_client_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("KIRO_CLIENT_TOKEN is empty")
        check_key("KIRO_CLIENT_TOKEN", value.get_secret_value())  # short keys, placeholders
        return value

    @field_validator(
        "session_pool_wait",
        "gateway_ping_interval",
        "gateway_connect_timeout",
        "gateway_read_timeout",
        "gateway_bus_timeout",
        "gateway_key_cache_ttl",
        "gateway_key_negative_ttl",
        "gateway_catalogue_ttl",
        "gateway_usage_drain_timeout",
        "gateway_shutdown_grace",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = _LEVELS.get(value.strip().upper())
        if level is None:
            raise ValueError(f"LOG_LEVEL must be one of DEBUG, INFO, WARN, ERROR (got {value!r})")
        return level

    @field_validator(
        "gateway_dashboard_url", "gateway_oauth_url", "proxy_pool", "gateway_model_map", "kiro_default_model"
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def proxies(self) -> tuple[str, ...]:
        return parse_proxy_pool(self.proxy_pool)


def describe_settings_error(exc: Exception) -> str:
    """One line for the operator, naming the variables that are missing or wrong."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"invalid configuration: {exc}"
    parts: list[str] = []
    for err in errors():
        name = ".".join(str(p) for p in err.get("loc", ())).upper() or "configuration"
        if err.get("type") == "missing":
            if name == "KIRO_CLIENT_TOKEN":
                parts.append(
                    "KIRO_CLIENT_TOKEN is not set: the gateway refuses to start without a client API key "
                    "(set KIRO_CLIENT_TOKEN in the environment or .env)"
                )
            else:
                parts.append(f"{name} is required")
        else:
            parts.append(f"{name}: {err.get('msg', 'invalid')}")
    return "invalid configuration: " + "; ".join(parts)
