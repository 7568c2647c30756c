"""OAuth service configuration (pydantic-settings), read once by `__main__`, passed to `create_app`.

Unprefixed names are the CONTRACTS.md contract (shared with the other services); `OAUTH_*` names
are this service's own knobs. `.env` is read too; the real environment wins. `OAUTH_ENABLED`
(default false) turns the `/oauth` page and its API on; off, every `/oauth` path answers 404.
The admin key and `KIRO_SECRET_KEY` are the shared ones of `kiro_admin.AdminServiceSettings`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from kiro_admin import AdminServiceSettings, Duration, empty_to_none
from kiroproto.upstream import DEFAULT_AUTH_BASE_URL, DEFAULT_OIDC_BASE_URL, DEFAULT_REGION

BUILDER_ID_START_URL = "https://view.awsapps.com/start"
BUILDER_ID_REGION = "us-east-1"


class Settings(AdminServiceSettings):
    SERVICE: ClassVar[str] = "oauth service"

    # ---- shared contract (CONTRACTS.md), beside the admin ones
    kiro_region: str = DEFAULT_REGION
    kiro_auth_base_url: str = DEFAULT_AUTH_BASE_URL
    kiro_oidc_base_url: str = DEFAULT_OIDC_BASE_URL

    # ---- the oauth service's own knobs
    oauth_host: str = "0.0.0.0"  # a container listens on every interface
    oauth_port: int = Field(default=8082, ge=0, le=65535)
    oauth_http_timeout: Duration = 15.0  # OIDC and auth-portal calls
    oauth_add_timeout: Duration = 45.0  # the broker verifies a new credential with a refresh
    oauth_social_ttl: Duration = 900.0  # how long a social login link stays valid here
    oauth_builder_id_start_url: str = BUILDER_ID_START_URL
    oauth_client_name: str = "Kiro IDE"
    oauth_metrics_port: int | None = Field(default=None, ge=0, le=65535)  # keyless /metrics; unset: off
    oauth_metrics_host: str = "127.0.0.1"  # keep it off the public network (deploy/: the pod's)

    @field_validator("oauth_metrics_port", mode="before")
    @classmethod
    def _optional_port(cls, value: Any) -> Any:
        return empty_to_none(value)
