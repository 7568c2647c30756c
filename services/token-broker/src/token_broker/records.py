"""The credential record: field names of the Redis hash, and its two typed views.

`CredentialState` is everything but the secrets (what status, metrics and the scripts need);
`CredentialSecrets` are the opened secrets (refresh token, client id/secret, access token),
read only where a token is handed out or used. Secrets are sealed with `SecretBox` on write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from kiroproto.bus import CredentialSource, CredentialStatusKind, UsageLimits
from kiroproto.credentials import AuthKind, CredentialConfig, fingerprint
from kiroproto.upstream import machine_id
from token_broker.crypto import SecretBox

# ---- hash fields written or read by name in Python; the counters only the Lua scripts write
# (`requests`, `errors`, `input_tokens`, `output_tokens`, `last_used_ms`) are read by
# `CredentialState`'s field names (`parse_state`)
ID: Final = "id"
IDENTITY: Final = "identity"
AUTH: Final = "auth"
REFRESH_TOKEN: Final = "refresh_token"  # sealed
CLIENT_ID: Final = "client_id"  # sealed
CLIENT_SECRET: Final = "client_secret"  # sealed
ACCESS_TOKEN: Final = "access_token"  # sealed
ACCESS_EXPIRES_MS: Final = "access_expires_ms"
TOKEN_FP: Final = "token_fp"  # fingerprint of the current access token
TOKEN_STALE: Final = "token_stale"  # "1": a request saw this token rejected; refresh before use
REFRESH_FP: Final = "refresh_fp"
PROFILE_ARN: Final = "profile_arn"
REGION: Final = "region"
MACHINE_ID: Final = "machine_id"
PROXY: Final = "proxy"
PRIORITY: Final = "priority"
DISABLED: Final = "disabled"
STATUS: Final = "status"  # active | cooling_down | quota_parked | invalid | disabled
REASON: Final = "reason"
STATUS_UNTIL_MS: Final = "status_until_ms"
FAIL_STREAK: Final = "fail_streak"
LAST_ERROR: Final = "last_error"
USAGE: Final = "usage"  # UsageLimits JSON
GENERATION: Final = "generation"  # +1 on every refresh-token rotation
REFRESH_FAILS: Final = "refresh_fails"
REFRESH_RETRY_AT_MS: Final = "refresh_retry_at_ms"
CREATED_MS: Final = "created_ms"
UPDATED_MS: Final = "updated_ms"
SOURCE: Final = "source"  # config | oauth | admin (absent on records older than sources)
RETIRED: Final = "retired"  # "1": came from KIRO_AUTH_TOKEN and is no longer in it (config.py)
RETIRED_REASON: Final = "retired_reason"

API_KEY_EXPIRES_MS: Final = 253_402_300_799_000  # 9999-12-31: an API key does not expire

SEALED: Final = (REFRESH_TOKEN, CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN)


def now_ms() -> int:
    return int(time.time() * 1000)


class CredentialState(BaseModel):
    """A record without its secrets."""

    model_config = ConfigDict(frozen=True)

    id: str
    identity: str
    auth: AuthKind
    status: CredentialStatusKind
    reason: str | None = None
    status_until_ms: int = 0
    disabled: bool = False
    priority: int = 0
    access_expires_ms: int = 0
    token_fp: str | None = None
    token_stale: bool = False
    refresh_fp: str | None = None
    profile_arn: str | None = None
    region: str | None = None
    machine_id: str
    proxy: str | None = None
    fail_streak: int = 0
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_error: str | None = None
    last_used_ms: int = 0
    usage: UsageLimits | None = None
    generation: int = 0
    refresh_fails: int = 0
    refresh_retry_at_ms: int = 0
    source: CredentialSource | None = None
    retired: bool = False
    retired_reason: str | None = None

    def token_valid_for_ms(self, at_ms: int) -> int:
        """How long the access token stays usable (<= 0: missing, stale or expired)."""
        if not self.token_fp or self.token_stale:
            return 0
        return self.access_expires_ms - at_ms


def in_rotation(state: CredentialState) -> bool:
    """May take leases again: not disabled, retired or invalid (cooling down and parked ones do)."""
    return not state.disabled and not state.retired and state.status not in _OUT_OF_ROTATION


_OUT_OF_ROTATION = (CredentialStatusKind.INVALID, CredentialStatusKind.DISABLED)


class CredentialSecrets(BaseModel):
    model_config = ConfigDict(frozen=True)

    refresh_token: str
    client_id: str | None = None
    client_secret: str | None = None
    access_token: str | None = None


def parse_state(raw: dict[str, str]) -> CredentialState | None:
    """The hash as read from Redis (None when the record does not exist or is unreadable).

    Lenient with damaged fields: a bad number reads 0, an unknown auth kind Social, bad usage
    JSON none. The plain fields are read by their type in `CredentialState` (`_READERS`)."""
    if not raw or ID not in raw:
        return None
    values: dict[str, object] = {name: read(raw.get(name)) for name, read in _READERS.items()}
    return CredentialState.model_validate(
        values
        | {
            ID: raw[ID],
            IDENTITY: raw.get(IDENTITY) or raw[ID],
            AUTH: parse_auth(raw.get(AUTH)),
            STATUS: CredentialStatusKind(raw.get(STATUS) or CredentialStatusKind.ACTIVE.value),
            MACHINE_ID: raw.get(MACHINE_ID) or "",
            USAGE: _usage(raw.get(USAGE)),
            SOURCE: _SOURCES.get(raw.get(SOURCE) or ""),
        }
    )


def _flag(value: str | None) -> bool:
    return value == "1"


def _text(value: str | None) -> str | None:
    return value or None


def _usage(value: str | None) -> UsageLimits | None:
    if not value:
        return None
    try:
        return UsageLimits.model_validate_json(value)
    except ValidationError:
        return None


def _readers() -> Mapping[str, Callable[[str | None], object]]:
    """A reader for each plain field of `CredentialState`, chosen by its type; the fields with a
    reading of their own are in `parse_state`."""
    by_type: dict[object, Callable[[str | None], object]] = {int: _int, bool: _flag, str | None: _text}
    own = {ID, IDENTITY, AUTH, STATUS, MACHINE_ID, USAGE, SOURCE}
    return {
        name: by_type[field.annotation]  # a new field of another type fails here, at import
        for name, field in CredentialState.model_fields.items()
        if name not in own
    }


_SOURCES: dict[str, CredentialSource] = {"config": "config", "oauth": "oauth", "admin": "admin"}


def parse_auth(value: str | None) -> AuthKind:
    if value == "IdC":
        return "IdC"
    if value == "ApiKey":
        return "ApiKey"
    return "Social"


def open_secrets(raw: dict[str, str], box: SecretBox) -> CredentialSecrets:
    cid = raw[ID]
    return CredentialSecrets(
        refresh_token=box.open(raw.get(REFRESH_TOKEN, ""), cid, REFRESH_TOKEN),
        client_id=box.open(raw.get(CLIENT_ID, ""), cid, CLIENT_ID) or None,
        client_secret=box.open(raw.get(CLIENT_SECRET, ""), cid, CLIENT_SECRET) or None,
        access_token=box.open(raw.get(ACCESS_TOKEN, ""), cid, ACCESS_TOKEN) or None,
    )


def new_record(
    cfg: CredentialConfig, box: SecretBox, at_ms: int, source: CredentialSource | None = None
) -> dict[str, str]:
    """Hash fields of a credential inserted for the first time (config or admin add)."""
    cid = cfg.identity
    fields: dict[str, str] = {
        ID: cid,
        IDENTITY: cid,
        AUTH: cfg.auth,
        REFRESH_TOKEN: box.seal(cfg.refresh_token, cid, REFRESH_TOKEN),
        REFRESH_FP: fingerprint(cfg.refresh_token),
        CLIENT_ID: box.seal(cfg.client_id or "", cid, CLIENT_ID),
        CLIENT_SECRET: box.seal(cfg.client_secret or "", cid, CLIENT_SECRET),
        PROFILE_ARN: cfg.profile_arn or "",
        REGION: cfg.region or "",
        MACHINE_ID: machine_id(cfg.machine_id, cfg.refresh_token),
        PROXY: cfg.proxy or "",
        PRIORITY: str(cfg.priority),
        DISABLED: "1" if cfg.disabled else "0",
        STATUS: CredentialStatusKind.ACTIVE.value,
        REASON: "",
        STATUS_UNTIL_MS: "0",
        TOKEN_STALE: "0",
        GENERATION: "0",
        CREATED_MS: str(at_ms),
        UPDATED_MS: str(at_ms),
        ACCESS_TOKEN: "",
        ACCESS_EXPIRES_MS: "0",
        TOKEN_FP: "",
        RETIRED: "0",
    }
    if source is not None:
        fields[SOURCE] = source
    if cfg.auth == "ApiKey":
        # The key is the bearer itself: kept as the (never expiring) access token, no refresh token.
        fields[REFRESH_FP] = ""
        fields[MACHINE_ID] = machine_id(cfg.machine_id, cfg.secret)
        return fields | token_fields(box, cid, cfg.secret, API_KEY_EXPIRES_MS)
    expires_ms = parse_expires_at(cfg.expires_at)
    if cfg.access_token and expires_ms:
        fields |= token_fields(box, cid, cfg.access_token, expires_ms)
    return fields


def token_fields(box: SecretBox, cid: str, access_token: str, expires_ms: int) -> dict[str, str]:
    return {
        ACCESS_TOKEN: box.seal(access_token, cid, ACCESS_TOKEN),
        ACCESS_EXPIRES_MS: str(expires_ms),
        TOKEN_FP: fingerprint(access_token),
        TOKEN_STALE: "0",
    }


def parse_expires_at(value: str | None) -> int:
    """RFC 3339 `expiresAt` of the Kiro IDE's token file -> epoch ms (0 when absent or bad)."""
    if not value:
        return 0
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        return 0
    return int(parsed.timestamp() * 1000)


def usage_json(usage: UsageLimits) -> str:
    return orjson.dumps(usage.model_dump()).decode()


def _int(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(float(value))
    except ValueError:
        return 0


_READERS: Final = MappingProxyType(dict(_readers()))
