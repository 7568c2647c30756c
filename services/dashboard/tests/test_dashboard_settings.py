"""Settings: the admin token and its fallback, durations, log level."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dashboard.settings import Settings


def _settings(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_admin_token_falls_back_to_client_token() -> None:
    s = _settings(kiro_client_token="client-key")
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "client-key"
    s = _settings(kiro_client_token="client-key", kiro_admin_token="admin-key")
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "admin-key"
    s = _settings(kiro_client_token="client-key", kiro_admin_token="")
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "client-key"


def test_refuses_to_start_without_any_token() -> None:
    with pytest.raises(ValidationError, match="KIRO_ADMIN_TOKEN"):
        _settings()


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIRO_ADMIN_TOKEN", "from-env")
    monkeypatch.setenv("DASHBOARD_PORT", "9123")
    monkeypatch.setenv("DASHBOARD_SESSION_TTL", "2h")
    monkeypatch.setenv("LOG_LEVEL", "warn")
    monkeypatch.setenv("OAUTH_ENABLED", "true")
    s = _settings()
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "from-env"
    assert s.dashboard_port == 9123
    assert s.dashboard_session_ttl == 7200
    assert s.log_level == "WARNING"
    assert s.oauth_enabled is True
    assert "from-env" not in repr(s)
