"""Dashboard test fixtures: real nats-server and redis-server (the kit's pytest plugin), the app served by
uvicorn in the test's loop (server-sent events need a real server), and a stand-in broker that
answers the bus contracts (`pool_status`, `credential_action`) from a small in-memory pool.

The real token-broker is used by the end-to-end tests in `tests/integration`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from dashboard_testkit import ADMIN_TOKEN, CLIENT_TOKEN, FakeBroker, make_status

from dashboard import Settings, create_app
from kiro_testing import NatsServer, RedisServer
from kiro_testing.inloop import serve
from kiroproto.bus import CredentialStatusKind, Subjects


@pytest.fixture(autouse=True)
def _clean_environ(clean_environ: None) -> None:
    """No proxy or service variable from the developer's shell leaks into a test."""


@pytest.fixture
async def broker(nats_server: NatsServer, namespace: str) -> AsyncIterator[FakeBroker]:
    fake = FakeBroker(nats_server.url, Subjects(namespace))
    fake.creds["cred-a"] = make_status("cred-a")
    fake.creds["cred-b"] = make_status(
        "cred-b",
        auth="IdC",
        status=CredentialStatusKind.COOLING_DOWN,
        reason="throttled",
        status_until=time.time() + 30,
        usage=None,
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(nats_server: NatsServer, redis_server: RedisServer, namespace: str) -> Settings:
    return Settings(
        _env_file=None,
        kiro_admin_token=ADMIN_TOKEN,
        kiro_client_token=CLIENT_TOKEN,
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        kiro_bus_namespace=namespace,
        kiro_redis_prefix=namespace,
        dashboard_pool_poll_interval=0.3,
        dashboard_traffic_push_interval=0.3,
        dashboard_sse_keepalive=1.0,
        oauth_enabled=True,
    )


@pytest.fixture
async def dashboard_url(settings: Settings, broker: FakeBroker) -> AsyncIterator[str]:
    async with serve(create_app(settings)) as url:
        yield url
