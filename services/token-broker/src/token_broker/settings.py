"""Broker configuration (pydantic-settings).

The unprefixed names shared with the other services (NATS, Redis, `LOG_LEVEL`, the namespace,
`KIRO_SECRET_KEY`, the upstream region, base URLs and `PROXY_POOL`) come from
`kiro_service.UpstreamSettings`; the broker adds its own contract names (`KIRO_AUTH_TOKEN`,
`SESSION_POOL_*`, `OAUTH_TOKEN_FILE`, `KIRO_ALLOW_PLAINTEXT_SECRETS`) and its `BROKER_` knobs.
`.env` is read too; the real environment wins. Durations accept `90`, `90s`, `2m`, `1h`,
`500ms`. Secrets are `SecretStr`. An empty value counts as unset for every optional setting.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from kiro_service import Duration, UpstreamSettings, empty_to_none
from kiro_service.settings import ALL_INTERFACES

PLAINTEXT_REFUSED = (
    "KIRO_SECRET_KEY is not set: the broker refuses to keep refresh and access tokens in "
    "Redis as plain text. Set KIRO_SECRET_KEY to base64 of 32 random bytes (python -c "
    '"import os,base64;print(base64.b64encode(os.urandom(32)).decode())"), or '
    "KIRO_ALLOW_PLAINTEXT_SECRETS=true to accept plain text"
)


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Settings(UpstreamSettings):
    # ---- shared contract (CONTRACTS.md), beside the base's
    kiro_auth_token: SecretStr | None = None  # JSON object / array, or a path to a JSON file
    session_pool_enabled: bool = True
    session_pool_max_size: int = Field(default=3, ge=1)
    session_pool_cooldown: Duration = 60.0
    session_pool_wait: Duration = 30.0
    kiro_allow_plaintext_secrets: bool = False  # without a key the broker refuses to start unless true
    oauth_token_file: Path | None = None

    # ---- the broker's own knobs
    broker_host: str = ALL_INTERFACES
    broker_port: int = 8081
    broker_lease_ttl: Duration = 60.0
    broker_lease_reuse: Duration = 0.5  # a gateway may reuse a slot this long after its grant (0: never)
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

    @field_validator("kiro_auth_token", "oauth_token_file", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return empty_to_none(value)
