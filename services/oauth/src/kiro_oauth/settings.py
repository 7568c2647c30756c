"""OAuth service configuration (pydantic-settings), read once by `__main__`, passed to `create_app`.

Unprefixed names are the CONTRACTS.md contract (shared with the other services); `OAUTH_*` names
are this service's own knobs. `.env` is read too; the real environment wins. `OAUTH_ENABLED`
(default false) turns the `/oauth` page and its API on; off, every `/oauth` path answers 404.
The admin key and `KIRO_SECRET_KEY` are the shared ones of `kiro_admin.AdminServiceSettings`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kiro_admin import AdminServiceSettings
from kiro_service import Duration, Listen, MetricsPort
from kiro_service.settings import ALL_INTERFACES, LOOPBACK
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
    oauth_host: str = ALL_INTERFACES  # a container listens on every interface
    oauth_port: int = Field(default=8082, ge=0, le=65535)
    oauth_http_timeout: Duration = Field(default=15.0, gt=0)  # OIDC and auth-portal calls
    oauth_add_timeout: Duration = Field(
        default=45.0, gt=0
    )  # the broker verifies a new credential (a refresh)
    oauth_social_ttl: Duration = Field(default=900.0, gt=0)  # how long a social login link stays valid here
    oauth_builder_id_start_url: str = BUILDER_ID_START_URL
    oauth_client_name: str = "Kiro IDE"
    oauth_metrics_port: MetricsPort = None  # keyless /metrics; unset: off
    oauth_metrics_host: str = LOOPBACK  # keep it off the public network (deploy/: the pod's)

    def listen(self) -> Listen:
        return Listen("oauth", self.oauth_host, self.oauth_port, grace_s=5)
