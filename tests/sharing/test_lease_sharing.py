"""Slot reuse across three gateways and two brokers (gateway/slots.py, the broker's `waiters`):
the gateways hand the slots they hold to their next requests and the per-credential cap still
holds at the simulator; a full pool is shared between the gateways by their demand.

Run on their own (`make sharing`, part of `make test` after the suites): both measure how the
gateways compete, which another test's stack on the same two cores would skew."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiro_testing import NatsServer, RedisServer
from kiro_testing.polling import apoll
from kiro_testing.sim import Sim
from kiro_testing.stack import Stack
from tests.integration.replicas import CAP, account_ids, all_leases_back, ask, body, replica_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    with replica_stack(sim, log_dir, nats_server, redis_server, "sharing") as stack:
        yield stack


def _broker_counter(pool: Stack, name: str) -> float:
    total = 0.0
    for i in range(len(pool.brokers)):
        text = httpx.get(pool.broker_url(i) + "/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    total += sample.value
    return total


async def test_slots_are_reused_and_the_cap_still_holds(sim: Sim, pool: Stack) -> None:
    """Four clients on three gateways, each sending one request after another: the pool (3
    credentials x cap 2) keeps room, so the gateways hand the slots they hold to their next
    requests; the simulator never sees more than the cap on an account."""
    reused_before = _broker_counter(pool, "kiro_broker_leases_reused_total")
    script = {"text": "x" * 12, "event_delay": 0.002}

    async def client(i: int, http: httpx.AsyncClient) -> list[int]:
        return [await ask(http, pool, i, body(script=script, stream=i % 2 == 0)) for _ in range(40)]

    async with httpx.AsyncClient(timeout=60) as http:
        codes = await asyncio.gather(*(client(i, http) for i in range(4)))
    assert [c for codes_ in codes for c in codes_] == [200] * 160
    for account_id in account_ids(pool):
        assert 1 <= sim.peak_streams_per_token(account_id) <= CAP
    await apoll(functools.partial(all_leases_back, pool), within=2.0, message="every lease released")
    reused = _broker_counter(pool, "kiro_broker_leases_reused_total") - reused_before
    # proof that reuse happened (how much depends on the machine: an idle slot waits only
    # LINGER_S for the client's next request)
    assert reused >= 40, f"only {reused} of 160 requests ran on a reused slot"


async def test_a_full_pool_is_shared_by_demand_across_gateways(pool: Stack) -> None:
    """Twelve clients for six slots, 3 / 3 / 6 of them on the three gateways: each gateway's
    share of the answers is within 20 % of its share of the demand (no replica starves)."""
    # answers of about 0.1 s: the six slots, not the machine's CPU, bound the rate
    script = {"text": "y" * 5, "event_delay": 0.02}
    demand = {0: 3, 1: 3, 2: 6}
    served = dict.fromkeys(demand, 0)
    stop = time.monotonic() + 6.0

    async def client(gateway: int, http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            assert await ask(http, pool, gateway, body(script=script)) == 200
            served[gateway] += 1

    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(client(g, http) for g, n in demand.items() for _ in range(n)))
    total = sum(served.values())
    assert total >= 150, served
    for gateway, clients in demand.items():
        want = clients / sum(demand.values())
        got = served[gateway] / total
        assert abs(got - want) <= 0.2 * want, (
            f"gateway {gateway}: {got:.2f} of the answers, wants {want:.2f} ({served})"
        )
