"""Gateway configuration (pydantic-settings), read once by `__main__` and passed to `create_app`.

The unprefixed names shared with the other services (NATS, `LOG_LEVEL`, `KIRO_ADMIN_TOKEN`, the
upstream region, base URLs and `PROXY_POOL`) come from `kiro_service.UpstreamSettings`; the
gateway adds its own contract names (`KIRO_CLIENT_TOKEN`, `PORT`, `SESSION_POOL_*`) and its
`GATEWAY_*` knobs. Durations accept `90`, `90s`, `2m`, `1h`. Without `KIRO_CLIENT_TOKEN`
construction fails (the gateway refuses to start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from kiro_service import Duration, MetricsPort, UpstreamSettings, empty_to_none
from kiro_service.settings import ALL_INTERFACES, LOOPBACK
from kiroproto.keypolicy import check_key

MAX_BODY_BYTES = 100 * 1024 * 1024


class Settings(UpstreamSettings):
    MISSING_HINTS: ClassVar[Mapping[str, str]] = {
        "KIRO_CLIENT_TOKEN": "KIRO_CLIENT_TOKEN is not set: the gateway refuses to start without a client "
        "API key (set KIRO_CLIENT_TOKEN in the environment or .env)"
    }

    # --- CONTRACTS.md (the gateway's, unprefixed) ---
    kiro_client_token: SecretStr = Field(description="operator API key for /v1/*")
    port: int = Field(default=8080, ge=1, le=65535)
    session_pool_max_retries: int = Field(default=5, ge=1, le=50)
    session_pool_wait: Duration = 30.0
    kiro_default_model: str | None = None  # where other claude-* names go (default claude-sonnet-4.5)

    # --- gateway knobs ---
    gateway_host: str = ALL_INTERFACES
    gateway_ping_interval: Duration = Field(default=10.0, gt=0.0)
    gateway_dashboard_url: str | None = None
    gateway_oauth_url: str | None = None
    gateway_max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024)
    gateway_connect_timeout: Duration = Field(default=10.0, gt=0.0)
    gateway_read_timeout: Duration = Field(default=300.0, gt=0.0)  # upstream silence between chunks
    gateway_bus_timeout: Duration = Field(default=2.0, gt=0.0)  # ping / release / renew round trips
    gateway_max_connections: int = Field(default=1000, ge=1)  # per outbound proxy
    gateway_model_map: str | None = None  # JSON object, or a path to a JSON file (ModelMapConfig)
    gateway_key_cache_ttl: Duration = Field(default=30.0, gt=0.0)  # team key records (events invalidate)
    gateway_key_negative_ttl: Duration = 2.0  # unknown keys
    gateway_catalogue_ttl: Duration = Field(
        default=30.0, gt=0.0
    )  # the pool's models (events refresh at once)
    gateway_usage_drain_timeout: Duration = 5.0  # shutdown: deliver usage records
    gateway_workers: int = Field(default=1, ge=1, le=64)  # uvicorn processes (PROMETHEUS_MULTIPROC_DIR)
    gateway_shutdown_grace: Duration = 30.0  # SIGTERM: streams in flight may finish
    gateway_metrics_port: MetricsPort = None  # keyless /metrics; unset: off
    gateway_metrics_host: str = LOOPBACK  # keep it off the public network (deploy/: the pod's)
    # large bodies (bodies.py): parsed, converted and counted in worker processes from this size
    gateway_offload_threshold_bytes: int = Field(default=256 * 1024, ge=1)
    gateway_offload_workers: int = Field(default=2, ge=1, le=64)  # worker processes per gateway process
    gateway_large_body_inflight_bytes: int = Field(default=512 * 1024 * 1024, ge=1)  # beyond: 429

    @field_validator("kiro_client_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("KIRO_CLIENT_TOKEN is empty")
        check_key("KIRO_CLIENT_TOKEN", value.get_secret_value())  # short keys, placeholders
        return value

    @field_validator(
        "gateway_dashboard_url", "gateway_oauth_url", "gateway_model_map", "kiro_default_model", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        value = empty_to_none(value)
        return value.strip() if isinstance(value, str) else value
