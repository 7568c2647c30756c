"""Fixtures for tests that need real servers.

Every test session starts its own `nats-server` and `redis-server` on free loopback ports
(never the machine's 4222 / 6379). Tests that break them on purpose use the function-scoped
`own_nats` / `own_redis` instead of the shared ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiro_testing import NatsServer, RedisServer


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def nats_server(log_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(log_dir / "shared-nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(log_dir / "shared-redis", data_dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-logs", data_dir=tmp_path / "redis-data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or Kiro variables from the developer's shell leak into a test."""
    for key in list(os.environ):
        if key.upper() in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"} or key.startswith(
            ("KIRO_", "SESSION_POOL_", "OAUTH_", "NATS_URL", "REDIS_URL")
        ):
            monkeypatch.delenv(key, raising=False)
