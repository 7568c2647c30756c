"""The broker's upstream calls: token refresh (kiro-protocol.md §9.2 Social, §9.3 IdC) and
the runtime API reads `getUsageLimits` (§10.1) and `ListAvailableModels` (§11.1). Errors are
classified here, once, into `RefreshError` (permanent for invalid_grant / invalid_client /
unauthorized_client / expired_token, transient for network errors, timeouts, 429, 5xx and
other statuses) and `KiroApiError`.

Nothing here logs or returns a token in an error text: details are the upstream's `error` /
`error_description` / `message` fields, truncated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict

from kiroproto.credentials import AuthKind, serving_region
from kiroproto.upstream import (
    base_url,
    list_models_path,
    oidc_headers,
    region_from_profile_arn,
    runtime_headers,
    social_refresh_headers,
    usage_limits_path,
)
from token_broker.errors import KiroApiError, RefreshError

DEFAULT_EXPIRES_IN_S = 3600.0
_PERMANENT = {
    "invalid_grant": "invalid_grant",
    "invalidgrantexception": "invalid_grant",
    "invalid refresh token": "invalid_grant",
    "invalid_client": "invalid_client",
    "invalidclientexception": "invalid_client",
    "unauthorized_client": "unauthorized_client",
    "unauthorizedclientexception": "unauthorized_client",
    "expired_token": "expired_token",
    "expiredtokenexception": "expired_token",
}


class TokenSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: str
    refresh_token: str | None = None  # a rotated refresh token, when the upstream sent one
    profile_arn: str | None = None
    expires_in_s: float = DEFAULT_EXPIRES_IN_S


async def refresh_tokens(
    client: httpx.AsyncClient,
    *,
    auth: AuthKind,
    refresh_token: str,
    client_id: str | None,
    client_secret: str | None,
    region: str,
    machine: str,
    auth_base_template: str,
    oidc_base_template: str,
) -> TokenSet:
    if auth == "IdC":
        url = base_url(oidc_base_template, region) + "/token"
        body: dict[str, str] = {
            "clientId": client_id or "",
            "clientSecret": client_secret or "",
            "refreshToken": refresh_token,
            "grantType": "refresh_token",
        }
        headers = oidc_headers()
    else:
        url = base_url(auth_base_template, region) + "/refreshToken"
        body = {"refreshToken": refresh_token}
        headers = social_refresh_headers(machine)
    try:
        resp = await client.post(url, content=orjson.dumps(body), headers=headers)
    except httpx.TimeoutException as exc:
        raise RefreshError("timeout", type(exc).__name__) from exc
    except httpx.HTTPError as exc:
        raise RefreshError("network", type(exc).__name__) from exc
    if resp.status_code != 200:
        raise classify_refresh_failure(resp.status_code, resp.content)
    data = _json_object(resp.content)
    access = data.get("accessToken") if data is not None else None
    if data is None or not isinstance(access, str) or not access:
        raise RefreshError("malformed", "the refresh answer has no accessToken")
    rotated = data.get("refreshToken")
    arn = data.get("profileArn")
    return TokenSet(
        access_token=access,
        refresh_token=rotated if isinstance(rotated, str) and rotated else None,
        profile_arn=arn if isinstance(arn, str) and arn else None,
        expires_in_s=_expires_in(data.get("expiresIn")),
    )


def classify_refresh_failure(status: int, content: bytes) -> RefreshError:
    data = _json_object(content) or {}
    texts = [str(data.get(k, "")) for k in ("error", "__type", "code", "error_description", "message")]
    haystack = " ".join(texts).lower() + " " + content[:2000].decode("utf-8", "replace").lower()
    detail = _detail(data)
    if 400 <= status < 500 and status != 429:
        for needle, reason in _PERMANENT.items():
            if needle in haystack:
                return RefreshError(reason, detail, permanent=True)
    return RefreshError(f"http_{status}", detail)


def api_region(auth: str, profile_arn: str | None, region: str | None, default: str) -> str:
    """Where a credential's runtime calls go: its profile ARN's region, else its own region, else
    the default; only two regions serve API keys (§19.6)."""
    return serving_region(auth, region_from_profile_arn(profile_arn) or region or default)


@dataclass(frozen=True, slots=True)
class RuntimeTarget:
    """Who calls Kiro's runtime API (§10, §11) and where: one credential's token, machine id,
    profile ARN and serving region, over the HTTP client of its proxy."""

    client: httpx.AsyncClient
    access_token: str
    machine: str
    profile_arn: str | None
    region: str
    api_base_template: str
    api_key: bool = False


async def fetch_usage_limits(target: RuntimeTarget) -> dict[str, Any]:
    """The `getUsageLimits` answer (§10.1), unparsed. Errors raise `KiroApiError`."""
    return await _get_json(target, usage_limits_path(target.profile_arn), "getUsageLimits")


MAX_MODEL_PAGES = 20


async def fetch_models(target: RuntimeTarget) -> list[dict[str, Any]]:
    """Every page of `ListAvailableModels` (§11.1): the raw `models` entries, in order.

    A 403 while a `profileArn` is sent is retried once without it (the ARN may belong to
    another token; kiro.rs-fork does the same). Errors raise `KiroApiError`.
    """
    try:
        return await _model_pages(target)
    except KiroApiError as exc:
        if exc.reason != "http_403" or not target.profile_arn:
            raise
    return await _model_pages(replace(target, profile_arn=None))


async def _model_pages(target: RuntimeTarget) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    next_token: str | None = None
    for _ in range(MAX_MODEL_PAGES):
        path = list_models_path(target.profile_arn, next_token)
        data = await _get_json(target, path, "ListAvailableModels")
        models.extend(m for m in data.get("models") or [] if isinstance(m, dict))
        token = data.get("nextToken")
        if not isinstance(token, str) or not token:
            return models
        next_token = token
    raise KiroApiError("malformed", f"ListAvailableModels gave more than {MAX_MODEL_PAGES} pages")


async def _get_json(target: RuntimeTarget, path: str, operation: str) -> dict[str, Any]:
    """One authenticated GET; the answer must be a JSON object."""
    url = base_url(target.api_base_template, target.region) + path
    headers = runtime_headers(target.access_token, target.machine, api_key=target.api_key)
    try:
        resp = await target.client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise KiroApiError("network", type(exc).__name__) from exc
    if resp.status_code != 200:
        raise KiroApiError(f"http_{resp.status_code}", _detail(_json_object(resp.content) or {}))
    data = _json_object(resp.content)
    if data is None:
        raise KiroApiError("malformed", f"{operation} did not answer a JSON object")
    return data


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _detail(data: dict[str, Any]) -> str:
    for key in ("error_description", "message", "Message", "error", "__type"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return ""


def _expires_in(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return DEFAULT_EXPIRES_IN_S
        return parsed if parsed > 0 else DEFAULT_EXPIRES_IN_S
    return DEFAULT_EXPIRES_IN_S
