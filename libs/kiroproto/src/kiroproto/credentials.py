"""The `KIRO_AUTH_TOKEN` credential schema (CONTRACTS.md) and its parser.

Accepts a JSON object or array (the caller reads a file when the variable is a path; this
module does no I/O). Field aliases: `auth` Social/IdC, or `authMethod` social / idc /
builder-id / iam, and the Kiro IDE's `kiro-auth-token.json` fields. A credential's identity
is its `id`, or else a hash of the refresh token as first configured. Bad entries are
reported by index with the reason and skipped; the others load.

Kiro API keys (reference §19.6): `{"auth": "ApiKey", "apiKey": "ksk_…"}`, also
`{"kiroApiKey": "ksk_…"}` or `authMethod: "api_key"`. They are sent as the bearer with
`tokentype: API_KEY` and never refreshed; only `API_KEY_REGIONS` serve them. An API key's
identity is its `id`, or else a hash of the key.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

AuthKind = Literal["Social", "IdC", "ApiKey"]

API_KEY_PREFIX = "ksk_"
API_KEY_REGIONS: tuple[str, ...] = ("us-east-1", "eu-central-1")
"""The only regions that serve Kiro API keys (reference §19.6)."""


def serving_region(auth: str, region: str) -> str:
    """The region a call goes to: an API key outside `API_KEY_REGIONS` goes to the first."""
    if auth == "ApiKey" and region not in API_KEY_REGIONS:
        return API_KEY_REGIONS[0]
    return region


_AUTH_ALIASES: dict[str, AuthKind] = {
    "social": "Social",
    "idc": "IdC",
    "builder-id": "IdC",
    "builderid": "IdC",
    "iam": "IdC",
    "identitycenter": "IdC",
    "apikey": "ApiKey",
    "api-key": "ApiKey",
}


# Fields that end up in an upstream host name or header are checked, so that nothing a
# credential carries can change which host its refresh token is sent to (security review).
REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
PROFILE_ARN_PATTERN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:codewhisperer:[a-z]{2}(?:-[a-z]+)+-\d{1,2}:\d{12}:profile/[A-Za-z0-9_-]{1,128}$"
)
MACHINE_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,128}$")
PROXY_SCHEMES = frozenset({"http", "https", "socks5", "socks5h"})
_HOST_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}$|^\[[0-9A-Fa-f:.]+\]$"
)


def check_region(value: str) -> str:
    region = value.strip().lower()
    if not REGION_PATTERN.match(region):
        raise ValueError("region must look like us-east-1")
    return region


def check_proxy_url(value: str) -> str:
    """An outbound proxy URL: scheme://[user:pass@]host[:port], nothing else."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError("proxy is not a valid URL") from exc
    if parts.scheme.lower() not in PROXY_SCHEMES:
        raise ValueError("proxy must be an http, https, socks5 or socks5h URL")
    host = parts.hostname or ""
    if not host or not _HOST_PATTERN.match(host if ":" not in host else f"[{host}]"):
        raise ValueError("proxy must name a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy must not carry a path, query or fragment")
    if port == 0:
        raise ValueError("proxy port must not be 0")
    return text.rstrip("/")


def credential_identity(refresh_token: str) -> str:
    """Stable id derived from the refresh token as first configured (never the token itself)."""
    return "cred-" + hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()[:16]


def fingerprint(secret: str) -> str:
    """A short, non-reversible fingerprint safe to show in logs and dashboards."""
    if not secret:
        return ""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:10]


def _optional_match(value: str | None, pattern: re.Pattern[str], message: str) -> str | None:
    """`value` stripped; None for blank; ValueError(`message`) unless it matches `pattern`."""
    if value is None or not value.strip():
        return None
    if not pattern.match(value.strip()):
        raise ValueError(message)
    return value.strip()


class CredentialConfig(BaseModel):
    """One configured credential, normalised."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    auth: AuthKind = "Social"
    refresh_token: str = Field(default="", alias="refreshToken")
    api_key: str | None = Field(default=None, alias="apiKey")
    client_id: str | None = Field(default=None, alias="clientId")
    client_secret: str | None = Field(default=None, alias="clientSecret")
    disabled: bool = False
    id: str | None = None
    priority: int = 0
    region: str | None = None
    profile_arn: str | None = Field(default=None, alias="profileArn")
    machine_id: str | None = Field(default=None, alias="machineId")
    proxy: str | None = None
    access_token: str | None = Field(default=None, alias="accessToken")
    expires_at: str | None = Field(default=None, alias="expiresAt")
    start_url: str | None = Field(default=None, alias="startUrl")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a credential must be a JSON object")
        out = dict(data)
        if "kiroApiKey" in out and "apiKey" not in out and "api_key" not in out:
            out["apiKey"] = out.pop("kiroApiKey")
        method = out.get("authMethod") or out.get("auth")
        if isinstance(method, str):
            key = method.strip().lower().replace("_", "-").replace(" ", "")
            if key not in _AUTH_ALIASES:
                raise ValueError(f"unknown auth kind {method!r} (expected Social, IdC or ApiKey)")
            out["auth"] = _AUTH_ALIASES[key]
        elif method is not None:
            raise ValueError("auth must be a string")
        elif out.get("apiKey") or out.get("api_key"):
            out["auth"] = "ApiKey"
        elif out.get("clientId") and out.get("clientSecret"):
            out["auth"] = "IdC"
        return out

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_region(value)

    @field_validator("profile_arn")
    @classmethod
    def _profile_arn(cls, value: str | None) -> str | None:
        return _optional_match(
            value,
            PROFILE_ARN_PATTERN,
            "profileArn must look like arn:aws:codewhisperer:us-east-1:123456789012:profile/ID",
        )

    @field_validator("machine_id")
    @classmethod
    def _machine_id(cls, value: str | None) -> str | None:
        return _optional_match(
            value, MACHINE_ID_PATTERN, "machineId may hold only letters, digits and dashes (at most 128)"
        )

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_proxy_url(value)

    @model_validator(mode="after")
    def _check(self) -> CredentialConfig:
        if self.auth == "ApiKey":
            key = (self.api_key or "").strip()
            if not key.startswith(API_KEY_PREFIX) or len(key) <= len(API_KEY_PREFIX):
                raise ValueError(f"ApiKey credentials need apiKey, a Kiro API key ({API_KEY_PREFIX}…)")
            if self.region is not None and self.region not in API_KEY_REGIONS:
                raise ValueError(f"API keys are served only in {' and '.join(API_KEY_REGIONS)}")
            return self
        if not self.refresh_token:
            raise ValueError("refreshToken is required (or apiKey for a Kiro API key)")
        if self.auth == "IdC" and not (self.client_id and self.client_secret):
            raise ValueError("IdC credentials need clientId and clientSecret")
        return self

    @property
    def secret(self) -> str:
        """What identifies the account when no `id` is given: the API key or the refresh token."""
        return (self.api_key or "").strip() if self.auth == "ApiKey" else self.refresh_token

    @property
    def identity(self) -> str:
        return self.id or credential_identity(self.secret)


class CredentialLoadProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    reason: str


class CredentialLoadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    credentials: tuple[CredentialConfig, ...] = ()
    problems: tuple[CredentialLoadProblem, ...] = ()


def parse_credentials(text: str | bytes) -> CredentialLoadResult:
    """Parse a JSON object or array of credentials; bad entries become problems."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return CredentialLoadResult(
            problems=(CredentialLoadProblem(index=-1, reason=f"not valid JSON: {exc.msg}"),)
        )
    items = raw if isinstance(raw, list) else [raw]
    creds: list[CredentialConfig] = []
    problems: list[CredentialLoadProblem] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            cred = CredentialConfig.model_validate(item)
        except ValidationError as exc:
            reasons = "; ".join(_describe(err) for err in exc.errors())
            problems.append(CredentialLoadProblem(index=index, reason=reasons))
            continue
        if cred.identity in seen:
            problems.append(CredentialLoadProblem(index=index, reason="duplicate credential"))
            continue
        seen.add(cred.identity)
        creds.append(cred)
    return CredentialLoadResult(credentials=tuple(creds), problems=tuple(problems))


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid"))
    return f"{loc}: {msg}" if loc else msg
