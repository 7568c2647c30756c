"""Fixtures for the broker tests: real nats-server and redis-server on free loopback ports
(never 4222 / 6379), one of each per session; every test gets its own bus namespace and Redis
key prefix, so tests never see each other's state."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from broker_helpers import BrokerBus, SimControl, SimUrls, StartBroker, make_settings
from redis.asyncio import Redis

from kiro_service.bus import BusClient, BusUnavailable
from kiro_testing import NatsServer, PythonService, RedisServer, free_port
from kiroproto.bus import BROKER_PING, BrokerPing
from token_broker import Broker


@pytest.fixture(scope="session")
def broker_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("broker-logs")


@pytest.fixture(scope="session")
def nats_server(broker_log_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(broker_log_dir / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(broker_log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(broker_log_dir / "redis", data_dir=tmp_path_factory.mktemp("broker-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, Kiro or broker variables from the developer's shell leak into a test."""
    for key in list(os.environ):
        upper = key.upper()
        if upper in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"} or upper.startswith(
            (
                "KIRO_",
                "SESSION_POOL_",
                "OAUTH_",
                "BROKER_",
                "NATS_URL",
                "REDIS_URL",
                "PROXY_POOL",
                "LOG_LEVEL",
            )
        ):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def ns() -> str:
    """A bus namespace and Redis key prefix of this test only."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def bus(nats_server: NatsServer, ns: str) -> AsyncIterator[BrokerBus]:
    client = BusClient(nats_server.url, service="gateway", namespace=ns)
    await client.start(wait_s=5.0)
    assert client.connected
    yield BrokerBus(client)
    await client.close()


async def _answers_ping(nats_server: NatsServer, ns: str, within_s: float = 5.0) -> None:
    """Wait until the bus routes a ping to a broker, seen from a separate connection (as a
    gateway's /readyz does): a loaded machine once answered "no responders" right after start."""
    client = BusClient(nats_server.url, service="gateway", namespace=ns)
    await client.start(wait_s=within_s)
    try:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            try:
                await client.call(BROKER_PING, BrokerPing(), timeout_s=1)
                return
            except BusUnavailable:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)
    finally:
        await client.close()


@pytest.fixture
async def start_broker(
    nats_server: NatsServer, redis_server: RedisServer, ns: str
) -> AsyncIterator[StartBroker]:
    """Start in-process brokers (same namespace and prefix: replicas of one deployment)."""
    started: list[Broker] = []

    async def start(
        *, transport: httpx.AsyncBaseTransport | None = None, run_jobs: bool = False, **overrides: object
    ) -> Broker:
        broker = Broker(
            make_settings(nats_server, redis_server, ns, **overrides), transport=transport, run_jobs=run_jobs
        )
        await broker.start()
        started.append(broker)
        await _answers_ping(nats_server, ns)
        return broker

    yield start
    for broker in reversed(started):
        await broker.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def kiro_sim_url(broker_log_dir: Path) -> Iterator[str]:
    """The project's Kiro simulator as a real process (auth portal, OIDC and API on one port)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = PythonService(
        "kiro-sim", "kiro_sim", broker_log_dir, {}, f"{url}/healthz", args=["--port", str(port)]
    )
    sim.start()
    yield url
    sim.stop()


@pytest.fixture
async def sim(kiro_sim_url: str) -> AsyncIterator[SimControl]:
    control = SimControl(kiro_sim_url)
    yield control
    await control.http.aclose()


@pytest.fixture
def sim_urls(kiro_sim_url: str) -> SimUrls:
    """Broker settings that point every upstream base URL at the simulator."""
    return {
        "kiro_api_base_url": kiro_sim_url,
        "kiro_auth_base_url": kiro_sim_url,
        "kiro_oidc_base_url": kiro_sim_url,
    }
