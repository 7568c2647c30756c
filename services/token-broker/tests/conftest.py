"""Fixtures for the broker tests. The servers come from the kit's pytest plugin
(`kiro_testing.pytest_plugin`: one nats-server, redis-server and simulator per session, on free
loopback ports); every test gets its own bus namespace and Redis key prefix, so tests never see
each other's state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from broker_helpers import BrokerBus, SimUrls, StartBroker, make_settings
from redis.asyncio import Redis

from kiro_service.bus import BusClient, BusUnavailable
from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import AsyncSimControl, Sim
from kiroproto.bus import BROKER_PING, BrokerPing
from token_broker import Broker


@pytest.fixture(autouse=True)
def _clean_environ(clean_environ: None) -> None:
    """No proxy, Kiro or broker variables from the developer's shell leak into a test."""


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


@pytest.fixture
async def sim(kiro_sim: Sim) -> AsyncIterator[AsyncSimControl]:
    """The session's simulator process (the kit's `kiro_sim`), through its control API."""
    control = AsyncSimControl.connect(kiro_sim.url)
    yield control
    await control.aclose()


@pytest.fixture
def sim_urls(kiro_sim: Sim) -> SimUrls:
    """Broker settings that point every upstream base URL at the simulator."""
    return {
        "kiro_api_base_url": kiro_sim.url,
        "kiro_auth_base_url": kiro_sim.url,
        "kiro_oidc_base_url": kiro_sim.url,
    }
