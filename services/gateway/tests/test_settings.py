"""Settings: the contract's variables, durations, and refusing to start without a client key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from gw_helpers import CLIENT_TOKEN
from pydantic import ValidationError

from gateway.settings import Settings
from kiro_service import describe_settings_error


def test_missing_client_token_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    line = describe_settings_error(info.value, Settings.MISSING_HINTS)
    assert "KIRO_CLIENT_TOKEN is not set" in line
    assert "\n" not in line


def test_environment_names_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIRO_CLIENT_TOKEN", CLIENT_TOKEN)
    monkeypatch.setenv("SESSION_POOL_WAIT", "2m")
    monkeypatch.setenv("SESSION_POOL_MAX_RETRIES", "3")
    monkeypatch.setenv("GATEWAY_PING_INTERVAL", "500ms")
    monkeypatch.setenv("PROXY_POOL", "http://a:1, http://b:2")
    monkeypatch.setenv("LOG_LEVEL", "warn")
    settings = Settings(_env_file=None)
    assert settings.kiro_client_token.get_secret_value() == CLIENT_TOKEN
    assert settings.session_pool_wait == 120.0
    assert settings.session_pool_max_retries == 3
    assert settings.gateway_ping_interval == 0.5
    assert settings.proxies == ("http://a:1", "http://b:2")
    assert settings.log_level == "WARNING"
    assert settings.port == 8080
    assert CLIENT_TOKEN not in repr(settings)


def test_main_exits_2_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIRO_")}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=30, cwd="/"
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "KIRO_CLIENT_TOKEN" in lines[0]


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "short-key-19-chars!",
        "change-me-to-a-long-random-string",
        "your-client-token",
        "CHANGE-ME-please-now-ok",
    ],
)
def test_short_and_placeholder_client_keys_are_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, kiro_client_token=value)
    line = describe_settings_error(info.value, Settings.MISSING_HINTS)
    assert "KIRO_CLIENT_TOKEN is refused" in line
    if len(value) > 5:
        assert value not in line  # the key itself is never echoed
