"""OAuth test fixtures: real nats-server, redis-server and the project's Kiro simulator (the only
upstream: `python -m kiro_sim`), the app served by uvicorn in the test's loop, and a stand-in broker
answering `credential_add` (the real broker is used by the end-to-end tests in `tests/integration`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from oauth_testkit import ADMIN_TOKEN, FakeBroker

from kiro_oauth import Settings
from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim
from kiroproto.bus import Subjects


@pytest.fixture(autouse=True)
def _clean_environ(clean_environ: None) -> None:
    """No proxy or service variable from the developer's shell leaks into a test."""


@pytest.fixture(scope="session")
def sim_url(kiro_sim: Sim) -> str:
    return kiro_sim.url


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
