"""Facts about calling the Kiro upstream that more than one service needs (pure functions).

Base URLs with `{region}` (CONTRACTS.md), the request headers of kiro-protocol.md §2.2/§9/§10,
the stable machine id per credential (§2.4), and the per-credential proxy choice
(`PROXY_POOL`). No I/O: the services send the requests.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from urllib.parse import quote

DEFAULT_REGION = "us-east-1"
DEFAULT_API_BASE_URL = "https://q.{region}.amazonaws.com"
DEFAULT_AUTH_BASE_URL = "https://prod.{region}.auth.desktop.kiro.dev"
DEFAULT_OIDC_BASE_URL = "https://oidc.{region}.amazonaws.com"

KIRO_VERSION = "0.11.107"  # §2.3
STREAMING_SDK_VERSION = "1.0.34"
NODE_VERSION = "22.22.0"
OS_TOKEN = "darwin#24.6.0"
OIDC_SDK_VERSION = "3.980.0"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def base_url(template: str, region: str | None) -> str:
    """Fill `{region}` and drop a trailing slash."""
    return template.replace("{region}", region or DEFAULT_REGION).rstrip("/")


def region_from_profile_arn(profile_arn: str | None) -> str | None:
    """`arn:aws:codewhisperer:{region}:{account}:profile/{id}` → region (§1)."""
    if not profile_arn:
        return None
    parts = profile_arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def machine_id(configured: str | None, refresh_token: str) -> str:
    """Stable 64-hex machine id for a credential (§2.4, kiro.rs rules)."""
    if configured:
        value = configured.strip().lower()
        if _HEX64.match(value):
            return value
        compact = value.replace("-", "")
        if _HEX32.match(compact):
            return compact * 2
    return hashlib.sha256(("KotlinNativeAPI/" + refresh_token).encode("utf-8")).hexdigest()


def assign_proxy(credential_id: str, pool: Sequence[str], own: str | None = None) -> str | None:
    """The credential's own proxy, else a stable pick from `PROXY_POOL` (same egress every time)."""
    if own:
        return own
    if not pool:
        return None
    digest = hashlib.sha256(credential_id.encode("utf-8")).digest()
    return pool[int.from_bytes(digest[:4], "big") % len(pool)]


def parse_proxy_pool(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(p.strip() for p in value.split(",") if p.strip())


def chat_headers(access_token: str, machine: str, *, api_key: bool = False) -> dict[str, str]:
    """Headers for `POST /generateAssistantResponse` (§2.2), minus host/content-length."""
    return {
        "content-type": "application/json",
        "x-amzn-codewhisperer-optout": "true",
        "x-amzn-kiro-agent-mode": "vibe",
        **_sdk_headers(
            access_token, machine, STREAMING_SDK_VERSION, "codewhispererstreaming", "E", 3, api_key
        ),
    }


def runtime_headers(access_token: str, machine: str, *, api_key: bool = False) -> dict[str, str]:
    """Headers for `getUsageLimits` / `ListAvailableModels` (§10.1, §11.1); `api_key`: §19.6."""
    return {
        "accept": "application/json",
        **_sdk_headers(access_token, machine, "1.0.0", "codewhispererruntime", "N,E", 1, api_key),
    }


def _sdk_headers(
    access_token: str, machine: str, sdk: str, api: str, mode: str, max_attempts: int, api_key: bool
) -> dict[str, str]:
    """What the IDE's AWS SDK client sends on every call: its user agents (SDK version, API
    name, mode flags), a fresh invocation id, the retry budget, the bearer (and §19.6's
    `tokentype` for an API key)."""
    app = f"KiroIDE-{KIRO_VERSION}-{machine}"
    headers = {
        "x-amz-user-agent": f"aws-sdk-js/{sdk} {app}",
        "user-agent": (
            f"aws-sdk-js/{sdk} ua/2.1 os/{OS_TOKEN} lang/js md/nodejs#{NODE_VERSION} "
            f"api/{api}#{sdk} m/{mode} {app}"
        ),
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": f"attempt=1; max={max_attempts}",
        "Authorization": f"Bearer {access_token}",
    }
    if api_key:
        headers["tokentype"] = "API_KEY"
    return headers


def list_models_path(profile_arn: str | None, next_token: str | None = None, max_results: int = 50) -> str:
    """Path and query for the REST `GET /ListAvailableModels` (§11.1, §19.4)."""
    path = f"/ListAvailableModels?origin=AI_EDITOR&maxResults={max_results}"
    if profile_arn:
        path += "&profileArn=" + quote(profile_arn, safe="")
    if next_token:
        path += "&nextToken=" + quote(next_token, safe="")
    return path


def social_refresh_headers(machine: str) -> dict[str, str]:
    """Headers for the Social `POST /refreshToken` (§9.2)."""
    return {
        "accept": "application/json, text/plain, */*",
        "content-type": "application/json",
        "user-agent": f"KiroIDE-{KIRO_VERSION}-{machine}",
    }


def oidc_headers() -> dict[str, str]:
    """Headers for OIDC `/token`, `/client/register`, `/device_authorization` (§9.3, §12.2)."""
    return {
        "content-type": "application/json",
        "x-amz-user-agent": f"aws-sdk-js/{OIDC_SDK_VERSION} KiroIDE",
        "user-agent": (
            f"aws-sdk-js/{OIDC_SDK_VERSION} ua/2.1 os/{OS_TOKEN} lang/js md/nodejs#{NODE_VERSION} "
            f"api/sso-oidc#{OIDC_SDK_VERSION} m/E KiroIDE"
        ),
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": "attempt=1; max=4",
    }


def usage_limits_path(profile_arn: str | None, *, email: bool = False) -> str:
    """Path and query for `GET /getUsageLimits` (§10.1)."""
    path = "/getUsageLimits?origin=AI_EDITOR&resourceType=AGENTIC_REQUEST"
    if email:
        path += "&isEmailRequired=true"
    if profile_arn:
        path += "&profileArn=" + quote(profile_arn, safe="")
    return path


def parse_duration(value: str | int | float) -> float:
    """`90`, `90s`, `2m`, `1h`, `500ms` → seconds (CONTRACTS.md durations)."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?", text)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use 90, 90s, 2m, 1h)")
    number = float(match.group(1))
    unit = match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
