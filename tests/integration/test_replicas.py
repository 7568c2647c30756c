"""The pool's promises across replicas: three gateways and two brokers on real NATS and Redis,
against the simulator. The per-credential cap holds whichever gateway asks (sampled at the
simulator); a disabled or cooled-down credential stops getting requests from every gateway
within a second; a SIGKILLed gateway's slots come back within the lease TTL; a team limit of N
requests a minute admits exactly N across the gateways. (Slot reuse with the cap, and the
fair share of a full pool between the gateways: tests/sharing, run on their own.)"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.polling import apoll
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN, Stack
from kiroproto.bus import (
    CREDENTIAL_ACTION,
    KEY_CREATE,
    CredentialAction,
    CredentialStatusKind,
    KeyCreate,
    KeyLimits,
)
from tests.integration.replicas import (
    CAP,
    GATEWAYS,
    LEASE_TTL_S,
    account_ids,
    all_leases_back,
    ask,
    body,
    replica_stack,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    with replica_stack(sim, log_dir, nats_server, redis_server, "replicas") as stack:
        yield stack


async def _action(pool: Stack, credential_id: str, action: Any) -> None:
    ack = await pool.bus_call(CREDENTIAL_ACTION, CredentialAction(credential_id=credential_id, action=action))
    assert ack.ok, ack


async def test_the_cap_holds_across_three_gateways(sim: Sim, pool: Stack) -> None:
    script = {"text": "x" * 30, "event_delay": 0.01}
    async with httpx.AsyncClient(timeout=120) as http:
        codes = await asyncio.gather(
            *(ask(http, pool, i, body(script=script, stream=True)) for i in range(60))
        )
    assert codes == [200] * 60
    for account_id in account_ids(pool):
        assert 1 <= sim.peak_streams_per_token(account_id) <= CAP

    # every slot goes back: a replica keeps an idle slot for its next request only for a few
    # milliseconds (gateway/slots.py LINGER_S), and its asks still in flight become such slots
    await apoll(functools.partial(all_leases_back, pool), within=2.0, message="every lease released")


async def test_a_disabled_credential_gets_nothing_from_any_gateway_within_1s(sim: Sim, pool: Stack) -> None:
    target = account_ids(pool)[0]
    async with httpx.AsyncClient(timeout=60) as http:
        await _action(pool, target, "disable")
        disabled_at = time.monotonic()
        try:
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - disabled_at)))
            before = sim.chat_requests(target)
            codes = await asyncio.gather(*(ask(http, pool, i, body()) for i in range(30)))
            assert codes == [200] * 30  # the other credentials serve
            assert sim.chat_requests(target) == before  # not one request, from any gateway
        finally:
            await _action(pool, target, "enable")


async def test_a_cooled_down_credential_gets_nothing_from_any_gateway_within_1s(
    sim: Sim, pool: Stack
) -> None:
    target = account_ids(pool)[1]
    sim.script(account_id=target, mode="fault", script={"error": "user_rate", "retry_after": 60}, seconds=60)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            # requests until one meets the 429 (it fails over to another credential: still a 200)
            for i in range(30):
                assert await ask(http, pool, i, body()) == 200
                if await _cooling(pool, target):
                    break
            assert await _cooling(pool, target), "the credential never met its 429"
            await asyncio.sleep(1.0)
            before = sim.chat_requests(target)
            codes = await asyncio.gather(*(ask(http, pool, i, body()) for i in range(30)))
            assert codes == [200] * 30
            assert sim.chat_requests(target) == before
    finally:
        sim.clear_scripts()
        await _action(pool, target, "enable")  # ends the cooldown for the tests that follow


async def _cooling(pool: Stack, credential_id: str) -> bool:
    status = await pool.pool_status()
    return any(
        c.id == credential_id and c.status == CredentialStatusKind.COOLING_DOWN for c in status.credentials
    )


async def test_a_team_limit_admits_exactly_n_across_gateways(pool: Stack) -> None:
    limit = 7
    created = await pool.bus_call(
        KEY_CREATE, KeyCreate(team="replicas", limits=KeyLimits(requests_per_minute=limit))
    )
    assert created.ok and created.secret is not None
    async with httpx.AsyncClient(timeout=60) as http:
        codes = await asyncio.gather(
            *(ask(http, pool, i, body(), key=created.secret) for i in range(3 * limit))
        )
    assert sorted(codes) == [200] * limit + [429] * (2 * limit)


async def test_a_killed_gateways_slots_come_back_within_the_lease_ttl(sim: Sim, pool: Stack) -> None:
    script = {"text": "slow " * 200, "event_delay": 0.05}  # ~10 s of answer: held when the kill comes
    victim = GATEWAYS - 1
    http = httpx.AsyncClient(timeout=30)
    streams = [
        http.stream(
            "POST",
            pool.gateway_url(victim) + "/v1/messages",
            json=body(script=script, stream=True),
            headers={"x-api-key": CLIENT_TOKEN},
        )
        for _ in range(3)
    ]
    try:
        for stream in streams:
            response = await stream.__aenter__()
            assert response.status_code == 200
        assert (await pool.pool_status()).in_flight == 3
        pool.kill_gateway(victim)  # SIGKILL: no release is ever sent
        killed_at = time.monotonic()

        async def freed() -> bool:
            return (await pool.pool_status()).in_flight == 0

        await apoll(freed, within=LEASE_TTL_S + 3.0, message="the dead gateway's slots expire")
        # the lease TTL is the bound; the poll's own period and a bus round trip are the margin
        assert time.monotonic() - killed_at <= LEASE_TTL_S + 2.0
    finally:
        for stream in streams:
            with contextlib.suppress(httpx.HTTPError):
                await stream.__aexit__(None, None, None)
        await http.aclose()
        pool.start_gateway(victim)
