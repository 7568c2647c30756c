"""What every admin-facing service (dashboard, oauth) reads from the environment on top of the
shared `kiro_service.ServiceSettings`: the client key (never an admin key), the session-cookie
secret and `OAUTH_ENABLED` (CONTRACTS.md's unprefixed names).

Short or placeholder keys are refused (kiroproto.keypolicy), and the admin key may not equal the
client key. Without `KIRO_ADMIN_TOKEN` the admin key is the generated one kept in Redis
(`adminkey.py`, resolved by `run.py` before the app exists).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import SecretStr, ValidationInfo, field_validator, model_validator

from kiro_service import Listen, ServiceSettings, empty_to_none
from kiroproto.keypolicy import check_key


class AdminServiceSettings(ServiceSettings):
    """Subclasses add their own knobs and set `SERVICE` (the name in messages)."""

    SERVICE: ClassVar[str] = "service"

    kiro_client_token: SecretStr | None = None
    kiro_session_secret: SecretStr | None = None  # signs admin cookies; default: derived from the admin key
    oauth_enabled: bool = False

    @field_validator("kiro_client_token", "kiro_session_secret", mode="before")
    @classmethod
    def _optional_secret(cls, value: Any) -> Any:
        return empty_to_none(value)

    @field_validator("kiro_admin_token", "kiro_client_token")
    @classmethod
    def _strong_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            check_key(str(info.field_name).upper(), value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _admin_key_is_its_own(self) -> Self:
        admin, client = self.kiro_admin_token, self.kiro_client_token
        if admin is not None and client is not None and admin.get_secret_value() == client.get_secret_value():
            raise ValueError(
                f"KIRO_ADMIN_TOKEN equals KIRO_CLIENT_TOKEN: the {self.SERVICE} refuses to start "
                "(the client key is never an admin key; unset KIRO_ADMIN_TOKEN to have one generated)"
            )
        return self

    def listen(self) -> Listen:
        """Where the service listens (its own `*_HOST` / `*_PORT`), and its drain grace."""
        raise NotImplementedError

    @property
    def admin_token(self) -> SecretStr | None:
        """`KIRO_ADMIN_TOKEN`; None until `adminkey.resolve_admin_key` filled it."""
        return self.kiro_admin_token

    @property
    def session_secret(self) -> str | None:
        return self.kiro_session_secret.get_secret_value() if self.kiro_session_secret else None

    def secret_values(self) -> list[str | None]:
        """Values that must never be shown or logged (the redactor's list)."""
        secrets = (
            self.kiro_admin_token,
            self.kiro_client_token,
            self.kiro_session_secret,
            self.kiro_secret_key,
        )
        return [s.get_secret_value() if s is not None else None for s in secrets]
