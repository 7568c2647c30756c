"""What every admin-facing service (dashboard, oauth) reads from the environment beside its own
knobs: the admin key, the session-cookie secret, the at-rest key, NATS, Redis, logging
(CONTRACTS.md's shared, unprefixed names). Short or placeholder keys are refused
(kiroproto.keypolicy), and the admin key may not equal the client key. Without
`KIRO_ADMIN_TOKEN` the admin key is the generated one kept in Redis (`adminkey.py`, resolved by
the service's `__main__` before the app exists). Durations accept `90`, `90s`, `2m`, `1h`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, ClassVar, Self

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.keypolicy import check_key
from kiroproto.upstream import parse_duration

_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR"}


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError("a duration is a number of seconds or a string like 90s, 2m, 1h")


def empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


def normalise_log_level(value: str) -> str:
    level = _LOG_LEVELS.get(value.strip().upper())
    if level is None:
        raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARN or ERROR")
    return level


class AdminServiceSettings(BaseSettings):
    """What every admin-facing service (dashboard, oauth) shares: the admin key, the
    session-cookie secret, the at-rest key, NATS, Redis, logging. Subclasses add their own
    knobs and set `SERVICE`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
    SERVICE: ClassVar[str] = "service"

    # ---- shared contract (CONTRACTS.md)
    kiro_admin_token: SecretStr | None = None
    kiro_client_token: SecretStr | None = None
    kiro_session_secret: SecretStr | None = None  # signs admin cookies; default: derived from the admin token
    kiro_secret_key: SecretStr | None = None  # base64 of 32 bytes: seals what is kept in Redis (AES-GCM)
    oauth_enabled: bool = False
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    kiro_bus_namespace: str = DEFAULT_NAMESPACE
    kiro_redis_prefix: str = "kiro2api"

    @field_validator(
        "kiro_admin_token", "kiro_client_token", "kiro_session_secret", "kiro_secret_key", mode="before"
    )
    @classmethod
    def _optional_secret(cls, value: Any) -> Any:
        return empty_to_none(value)

    @field_validator("kiro_admin_token", "kiro_client_token")
    @classmethod
    def _strong_key(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is not None:
            check_key(str(info.field_name).upper(), value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        return normalise_log_level(value)

    @model_validator(mode="after")
    def _admin_key_is_its_own(self) -> Self:
        admin, client = self.kiro_admin_token, self.kiro_client_token
        if admin is not None and client is not None and admin.get_secret_value() == client.get_secret_value():
            raise ValueError(
                f"KIRO_ADMIN_TOKEN equals KIRO_CLIENT_TOKEN: the {self.SERVICE} refuses to start "
                "(the client key is never an admin key; unset KIRO_ADMIN_TOKEN to have one generated)"
            )
        self.secret_key_bytes  # noqa: B018 - validates KIRO_SECRET_KEY
        return self

    @property
    def admin_token(self) -> SecretStr | None:
        """`KIRO_ADMIN_TOKEN`; None until `adminkey.resolve_admin_key` filled it."""
        return self.kiro_admin_token

    @property
    def secret_key_bytes(self) -> bytes | None:
        if self.kiro_secret_key is None:
            return None
        try:
            raw = base64.b64decode(self.kiro_secret_key.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("KIRO_SECRET_KEY must be base64 of 32 random bytes") from exc
        if len(raw) != 32:
            raise ValueError(f"KIRO_SECRET_KEY must decode to 32 bytes, not {len(raw)}")
        return raw

    def secret_values(self) -> list[str | None]:
        """Values that must never be shown or logged (the redactor's list)."""
        return [s.get_secret_value() if s is not None else None for s in self._secrets()]

    def _secrets(self) -> tuple[SecretStr | None, ...]:
        return (self.kiro_admin_token, self.kiro_client_token, self.kiro_session_secret, self.kiro_secret_key)

    @property
    def session_secret(self) -> str | None:
        return self.kiro_session_secret.get_secret_value() if self.kiro_session_secret else None
