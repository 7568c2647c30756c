"""Settings: the admin key (never the client key, never short), durations, log level."""

from __future__ import annotations

import base64

import pytest
from dashboard_testkit import ADMIN_TOKEN, CLIENT_TOKEN
from pydantic import ValidationError

from dashboard.settings import Settings


def _settings(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_the_client_key_is_never_the_admin_key() -> None:
    s = _settings(kiro_client_token=CLIENT_TOKEN)
    assert s.admin_token is None  # resolved at start: generated and kept (dashboard.adminkey)
    s = _settings(kiro_client_token=CLIENT_TOKEN, kiro_admin_token=ADMIN_TOKEN)
    assert s.admin_token is not None and s.admin_token.get_secret_value() == ADMIN_TOKEN
    s = _settings(kiro_client_token=CLIENT_TOKEN, kiro_admin_token="")
    assert s.admin_token is None
    with pytest.raises(ValidationError, match="KIRO_ADMIN_TOKEN equals KIRO_CLIENT_TOKEN"):
        _settings(kiro_client_token=CLIENT_TOKEN, kiro_admin_token=CLIENT_TOKEN)


@pytest.mark.parametrize("field", ["kiro_admin_token", "kiro_client_token"])
@pytest.mark.parametrize(
    "value", ["a", "admin-key-19-chars!", "your-secure-random-password", "change-me-xxxxxxxxxxxxxxxx"]
)
def test_short_and_placeholder_keys_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=f"{field.upper()} is refused"):
        _settings(**{field: value})


def test_secret_key_is_validated() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    assert _settings(kiro_secret_key=key).secret_key_bytes == b"k" * 32
    with pytest.raises(ValidationError, match="KIRO_SECRET_KEY"):
        _settings(kiro_secret_key=base64.b64encode(b"short").decode())


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIRO_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("DASHBOARD_PORT", "9123")
    monkeypatch.setenv("DASHBOARD_SESSION_TTL", "2h")
    monkeypatch.setenv("LOG_LEVEL", "warn")
    monkeypatch.setenv("OAUTH_ENABLED", "true")
    s = _settings()
    assert s.admin_token is not None and s.admin_token.get_secret_value() == ADMIN_TOKEN
    assert s.dashboard_port == 9123
    assert s.dashboard_session_ttl == 7200
    assert s.log_level == "WARNING"
    assert s.oauth_enabled is True
    assert ADMIN_TOKEN not in repr(s)
