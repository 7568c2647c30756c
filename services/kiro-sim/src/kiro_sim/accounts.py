"""Simulated Kiro accounts: the input models (control API, seed file) and the live record.

`AccountSpec` is what a test or the `--accounts` file gives; it accepts the snake_case names
of the control API and the camelCase names of the gateway's credential schema
(`refreshToken`, `clientId`, `clientSecret`, `profileArn`, `auth: "Social" | "IdC"`), so one
JSON file can seed both. `Account` is the mutable record the simulator works with.

Deliberately not here: tokens and their validity (`store.py`), usage-limit rendering
(`runtime.py`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from kiro_sim.script import ScriptSlots

AuthKind = Literal["social", "idc", "api_key"]

_AUTH_ALIASES = {
    "social": "social",
    "idc": "idc",
    "builder-id": "idc",
    "builderid": "idc",
    "iam": "idc",
    "apikey": "api_key",
    "api_key": "api_key",
    "api-key": "api_key",
}

# Credential-schema keys that mean nothing to the simulator; dropped when seeding from a file.
CREDENTIAL_ONLY_KEYS = frozenset(
    {
        "disabled",
        "priority",
        "region",
        "machineId",
        "proxy",
        "authRegion",
        "apiRegion",
        "accessToken",
        "expiresAt",
        "provider",
        "clientIdHash",
    }
)


def _alias(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class AccountSpec(BaseModel):
    """A new account. Unset fields take the simulator's defaults."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = None
    auth: AuthKind = Field(default="social", validation_alias=AliasChoices("auth", "authMethod"))
    refresh_token: str | None = _alias("refresh_token", "refreshToken")
    client_id: str | None = _alias("client_id", "clientId")
    client_secret: str | None = _alias("client_secret", "clientSecret")
    profile_arn: str | None = _alias("profile_arn", "profileArn")
    # A Kiro API key account (reference §19.6): `Bearer ksk_…` with `tokentype: API_KEY`, no refresh.
    api_key: str | None = _alias("api_key", "apiKey", "kiroApiKey")
    # Per model, the context window `ListAvailableModels` and `contextUsageEvent` use.
    windows: dict[str, int] | None = None
    credits_limit: float | None = Field(default=None, ge=0)
    credits_used: float = Field(default=0.0, ge=0)
    trial_credits: float = Field(default=0.0, ge=0)
    bonus_credits: float = Field(default=0.0, ge=0)
    models: list[str] | None = None
    rotate_refresh: bool = False
    refresh_grace_seconds: float | None = Field(default=None, ge=0)
    refresh_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    access_token_ttl: int | None = Field(default=None, ge=1)
    suspended: bool = False
    email: str | None = None
    subscription_title: str = "KIRO PRO"
    # the newer host: catalogue schemas and reasoning as data for `reasoning.SCHEMAS` models
    request_fields_schemas: bool = False

    @field_validator("auth", mode="before")
    @classmethod
    def _normalise_auth(cls, value: object) -> object:
        if isinstance(value, str):
            return _AUTH_ALIASES.get(value.strip().lower(), value)
        return value

    @model_validator(mode="after")
    def _api_key(self) -> AccountSpec:
        if self.api_key is not None:
            self.auth = "api_key"
        if self.api_key is not None and not self.api_key.startswith("ksk_"):
            raise ValueError("api_key must start with ksk_")
        return self


class AccountPatch(BaseModel):
    """Changes to an existing account (`PATCH /_sim/accounts/{id}`)."""

    model_config = ConfigDict(extra="forbid")

    credits_limit: float | None = Field(default=None, ge=0)
    credits_used: float | None = Field(default=None, ge=0)
    trial_credits: float | None = Field(default=None, ge=0)
    bonus_credits: float | None = Field(default=None, ge=0)
    models: list[str] | None = None
    windows: dict[str, int] | None = None
    rotate_refresh: bool | None = None
    refresh_grace_seconds: float | None = Field(default=None, ge=0)
    refresh_delay_seconds: float | None = Field(default=None, ge=0, le=60)
    access_token_ttl: int | None = Field(default=None, ge=1)
    suspended: bool | None = None
    profile_arn: str | None = None
    email: str | None = None
    subscription_title: str | None = None
    request_fields_schemas: bool | None = None


@dataclass(slots=True)
class Account:
    id: str
    auth: AuthKind
    refresh_token: str
    client_id: str | None
    client_secret: str | None
    profile_arn: str | None
    credits_limit: float
    credits_used: float
    trial_credits: float
    bonus_credits: float
    models: list[str]
    rotate_refresh: bool
    refresh_grace_seconds: float
    access_token_ttl: int
    suspended: bool
    email: str
    subscription_title: str
    refresh_delay_seconds: float = 0.0  # a refresh answers this late (after redeeming the token)
    api_key: str | None = None
    windows: dict[str, int] = field(default_factory=dict)
    user_id: str = field(default_factory=lambda: "d-9067" + secrets.token_hex(4) + "." + secrets.token_hex(8))
    scripts: ScriptSlots = field(default_factory=ScriptSlots)
    access_tokens: list[str] = field(default_factory=list)
    request_fields_schemas: bool = False  # reasoning.py: the newer host's catalogue schemas

    @property
    def total_limit(self) -> float:
        return self.credits_limit + self.trial_credits + self.bonus_credits

    @property
    def exhausted(self) -> bool:
        return self.credits_used >= self.total_limit

    def apply(self, patch: AccountPatch) -> None:
        """Set the fields the patch names; `null` only clears `profile_arn`."""
        for name, value in patch.model_dump(exclude_unset=True).items():
            if value is not None or name == "profile_arn":
                setattr(self, name, value)

    def view(self) -> dict[str, Any]:
        """What the control API shows (tokens in full: they are simulator tokens)."""
        return {
            "id": self.id,
            "auth": self.auth,
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "profile_arn": self.profile_arn,
            "credits_limit": self.credits_limit,
            "credits_used": round(self.credits_used, 6),
            "trial_credits": self.trial_credits,
            "bonus_credits": self.bonus_credits,
            "models": list(self.models),
            "windows": dict(self.windows),
            "api_key": self.api_key,
            "rotate_refresh": self.rotate_refresh,
            "refresh_grace_seconds": self.refresh_grace_seconds,
            "refresh_delay_seconds": self.refresh_delay_seconds,
            "access_token_ttl": self.access_token_ttl,
            "suspended": self.suspended,
            "email": self.email,
            "user_id": self.user_id,
            "subscription_title": self.subscription_title,
            "request_fields_schemas": self.request_fields_schemas,
            "access_tokens": len(self.access_tokens),
            "scripts": self.scripts.describe(),
        }
