"""Fixtures of the offline deployment checks; helpers live in `_support.py`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def tool_env() -> Iterator[dict[str, str]]:
    """A minimal environment for the tools (no secrets or proxies from the developer's shell)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    yield {k: os.environ[k] for k in keep if k in os.environ}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No service setting from the developer's shell: tests set exactly what a deployment sets."""
    prefixes = (
        "KIRO_",
        "SESSION_POOL_",
        "OAUTH_",
        "GATEWAY_",
        "BROKER_",
        "DASHBOARD_",
        "PORT",
        "NATS_",
        "REDIS_",
    )
    for key in list(os.environ):
        if key.startswith(prefixes) or key in {"LOG_LEVEL", "PROXY_POOL"}:
            monkeypatch.delenv(key)
    yield monkeypatch
