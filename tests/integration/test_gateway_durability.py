"""Durability end to end: the broker SIGKILLed while requests run, and every service restarted
(Redis included) after a refresh-token rotation. Real processes, real NATS and Redis."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx
import pytest

from kiro_testing import RedisServer
from kiro_testing.polling import apoll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"


def say(script: dict[str, Any], text: str = "hi") -> str:
    return f"{text}<<sim:{json.dumps(script)}>>"


def snapshot(status: Any) -> dict[str, tuple[str, str | None]]:
    return {c.id: (c.status.value, c.refresh_token_fingerprint) for c in status.credentials}


async def stream_text(url: str, script: dict[str, Any]) -> str:
    async with anthropic.AsyncAnthropic(base_url=url, api_key=CLIENT_TOKEN, max_retries=0, timeout=60) as c:
        async with c.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": say(script)}]
        ) as stream:
            return "".join([text async for text in stream.text_stream])


async def test_broker_sigkill_while_requests_run(sim: Sim, stacks: Stacks) -> None:
    accounts = [sim.add_account(), sim.add_account()]
    pool = stacks(
        StackConfig(
            credentials=[credential(a) for a in accounts],
            env={"BROKER_LEASE_TTL": "3s", "SESSION_POOL_MAX_SIZE": "3"},
        ),
        sim=sim,
    )
    try:
        broker = pool.brokers[0]
        url = pool.gateway_url()
        assert "ok" in await stream_text(url, {"text": "ok"})
        before = snapshot(await pool.pool_status())

        script = {"text": "y" * 60, "event_delay": 0.03}  # about two seconds each
        running = [asyncio.create_task(stream_text(url, script)) for _ in range(6)]
        await apoll(lambda: _in_flight(pool, 6), message="six leases held")
        broker.kill()  # SIGKILL: no release, no cleanup

        # requests already streaming finish on their leases; new ones get a quick 529, never a hang
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as http:
            refused = await http.post(
                url + "/v1/messages",
                headers={"x-api-key": CLIENT_TOKEN},
                json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
            )
        assert refused.status_code == 529
        assert refused.json()["error"]["type"] == "overloaded_error"
        assert int(refused.headers["retry-after"]) >= 1
        assert time.monotonic() - started < 3.0
        assert await asyncio.gather(*running) == ["y" * 60] * 6

        broker.start()  # same Redis, same configuration
        after = await pool.pool_status()
        assert snapshot(after) == before  # no credential state lost
        # the dead broker's leases (their releases were lost) expire by themselves
        await apoll(lambda: _in_flight(pool, 0), within=10.0, message="dead leases expired")
        assert "ok" in await stream_text(url, {"text": "ok"})
    finally:
        pool.stop()


async def _in_flight(pool: Stack, expected: int) -> bool:
    try:
        return (await pool.pool_status()).in_flight == expected
    except Exception:  # the broker is (re)starting
        return False


def test_rotated_refresh_token_survives_a_restart_of_every_service(
    sim: Sim, own_redis: RedisServer, stacks: Stacks
) -> None:
    account = sim.add_account(rotate_refresh=True)
    configured = account["refresh_token"]
    pool = stacks(StackConfig(credentials=[credential(account)]), sim=sim, redis_url=own_redis.url)
    try:
        sim.expire_access_tokens(account["id"])  # force a refresh (and so a rotation) on first use
        assert ask(pool, "first") == "first"
        rotated = sim.account(account["id"])["refresh_token"]
        assert rotated != configured

        pool.stop()  # every service down, Redis too
        own_redis.restart()
        pool.brokers.clear()
        pool.gateways.clear()
        pool.add_broker()  # KIRO_AUTH_TOKEN still holds the old, now invalid, refresh token
        pool.add_gateway()

        sim.expire_access_tokens(account["id"])
        assert ask(pool, "second") == "second"
        by_token = sim.account_stats(account["id"])["refresh_calls_by_token"]
        assert by_token.get(rotated, 0) >= 1  # the broker refreshed with the rotated token from Redis
    finally:
        pool.stop()


def ask(pool: Stack, text: str) -> str:
    with anthropic.Anthropic(base_url=pool.gateway_url(), api_key=CLIENT_TOKEN, max_retries=0) as c:
        message = c.messages.create(
            model=MODEL, max_tokens=32, messages=[{"role": "user", "content": say({"text": text})}]
        )
    return message.content[0].text  # type: ignore[union-attr]
