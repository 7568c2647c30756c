"""OAuth test fixtures: real nats-server, redis-server and the project's Kiro simulator (the only
upstream: `python -m kiro_sim`), the app served by uvicorn in the test's loop, and a stand-in broker
answering `credential_add` (the real broker is used by the end-to-end tests in `tests/integration`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from oauth_testkit import ADMIN_TOKEN, FakeBroker

from kiro_oauth import Settings
from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiroproto.bus import Subjects


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("KIRO_", "OAUTH_", "DASHBOARD_", "NATS_URL", "REDIS_URL")):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("oauth-nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(
        tmp_path_factory.mktemp("oauth-redis-logs"), data_dir=tmp_path_factory.mktemp("oauth-redis")
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = PythonService(
        "kiro-sim",
        "kiro_sim",
        tmp_path_factory.mktemp("oauth-sim"),
        {"KIRO_SIM_DEVICE_INTERVAL": "1", "KIRO_SIM_LOG_LEVEL": "WARNING"},
        f"{url}/healthz",
        args=["--port", str(port)],
    )
    sim.start()
    yield url
    sim.stop()


@pytest.fixture
def namespace() -> str:
    return "t" + secrets.token_hex(4)


@pytest.fixture
async def broker(nats_server: NatsServer, namespace: str) -> AsyncIterator[FakeBroker]:
    fake = FakeBroker(nats_server.url, Subjects(namespace))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(nats_server: NatsServer, redis_server: RedisServer, namespace: str, sim_url: str) -> Settings:
    return Settings(
        _env_file=None,
        oauth_enabled=True,
        kiro_admin_token=ADMIN_TOKEN,
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        kiro_bus_namespace=namespace,
        kiro_redis_prefix=namespace,
        kiro_auth_base_url=sim_url,
        kiro_oidc_base_url=sim_url,
        oauth_add_timeout=5,
    )
