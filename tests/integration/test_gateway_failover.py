"""End to end failover, refresh, the concurrency cap and client disconnects: gateway(s) and
broker(s) over real NATS and Redis against the Kiro simulator, asserted on the simulator's
stats and the broker's pool state."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import anthropic
import httpx
import pytest

from kiro_testing.polling import apoll, poll
from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN, Stack
from kiroproto.bus import CredentialStatusKind
from tests.integration.replicas import all_leases_back

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"


def say(script: dict[str, Any], text: str = "hi") -> str:
    return f"{text}<<sim:{json.dumps(script)}>>"


@pytest.fixture
def stack(sim: Sim, stacks: Stacks) -> Any:
    """A factory: start a pool for these accounts (stopped at the end of the test)."""
    return functools.partial(stacks.on, sim)


def client(pool: Stack, index: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=pool.gateway_url(index), api_key=CLIENT_TOKEN, max_retries=0)


def ask(pool: Stack, script: dict[str, Any] | None = None, index: int = 0) -> str:
    """One request; without a script the simulator's per-account scripts apply (default: an echo)."""
    content = say(script) if script else "ok"
    with client(pool, index) as c:
        message = c.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}]
        )
    return message.content[0].text  # type: ignore[union-attr]


def status_of(pool: Stack, credential_id: str) -> Any:
    return next(c for c in pool.pool_status_sync().credentials if c.id == credential_id)


def test_429_credential_is_not_called_during_its_cooldown(sim: Sim, stack: Any) -> None:
    busy, good = sim.add_account(), sim.add_account()
    # an account-speed 429 with Retry-After: the account is not asked again before it ends
    sim.script(
        account_id=busy["id"], mode="fault", script={"error": "user_rate", "retry_after": 60}, seconds=60
    )
    pool = stack([busy, good], SESSION_POOL_COOLDOWN="60s")
    answers = [ask(pool) for _ in range(8)]
    assert all("ok" in answer for answer in answers)
    assert sim.account_stats(busy["id"])["chat_requests"] == 1  # the one 429, then nothing while cooling
    assert sim.account_stats(good["id"])["chat_requests"] == 8
    assert status_of(pool, busy["id"]).status == CredentialStatusKind.COOLING_DOWN


async def test_expired_token_is_refreshed_once_across_two_brokers(sim: Sim, stack: Any) -> None:
    account = sim.add_account()
    pool = stack([account], brokers=2, gateways=2, SESSION_POOL_MAX_SIZE="4")
    assert "ok" in ask(pool)
    before = sim.account_stats(account["id"])["refresh_calls"]
    sim.expire_access_tokens(account["id"])

    async def one(i: int) -> str:
        async with anthropic.AsyncAnthropic(
            base_url=pool.gateway_url(i % 2), api_key=CLIENT_TOKEN, max_retries=0
        ) as c:
            message = await c.messages.create(
                model=MODEL, max_tokens=32, messages=[{"role": "user", "content": say({"text": f"n{i}"})}]
            )
            return message.content[0].text  # type: ignore[union-attr]

    results = await asyncio.gather(*(one(i) for i in range(12)))
    assert results == [f"n{i}" for i in range(12)]
    assert sim.account_stats(account["id"])["refresh_calls"] - before == 1


def test_revoked_refresh_token_marks_the_credential_invalid(sim: Sim, stack: Any) -> None:
    doomed, good = sim.add_account(), sim.add_account()
    pool = stack([doomed, good])
    sim.revoke(doomed["id"])
    sim.expire_access_tokens(doomed["id"])
    assert all("ok" in ask(pool) for _ in range(6))
    poll(
        lambda: status_of(pool, doomed["id"]).status == CredentialStatusKind.INVALID,
        message="credential marked invalid",
    )
    assert status_of(pool, good["id"]).status == CredentialStatusKind.ACTIVE


async def test_concurrency_cap_holds_under_50_streams(sim: Sim, stack: Any) -> None:
    accounts = [sim.add_account() for _ in range(3)]
    pool = stack(accounts, brokers=2, gateways=2, SESSION_POOL_MAX_SIZE="2", SESSION_POOL_WAIT="60s")
    script = {"text": "x" * 40, "event_delay": 0.01}

    async def one(i: int) -> str:
        async with anthropic.AsyncAnthropic(
            base_url=pool.gateway_url(i % 2), api_key=CLIENT_TOKEN, max_retries=0, timeout=120
        ) as c:
            async with c.messages.stream(
                model=MODEL, max_tokens=64, messages=[{"role": "user", "content": say(script)}]
            ) as stream:
                return "".join([text async for text in stream.text_stream])

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert results == ["x" * 40] * 50
    for account in accounts:
        assert 1 <= sim.peak_streams_per_token(account["id"]) <= 2

    # every slot goes back: a replica keeps an idle slot for its next request only for a few
    # milliseconds (gateway/slots.py LINGER_S), and its asks still in flight become such slots
    await apoll(functools.partial(all_leases_back, pool), within=2.0, message="every lease released")


async def test_client_disconnect_frees_the_lease_and_closes_upstream(sim: Sim, stack: Any) -> None:
    account = sim.add_account()
    pool = stack([account])
    script = {"text": "slow " * 400, "event_delay": 0.05}
    body = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": say(script)}],
    }
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream(
            "POST", pool.gateway_url() + "/v1/messages", json=body, headers={"x-api-key": CLIENT_TOKEN}
        ) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()  # keep a reference: dropping it would close the stream
            for _ in range(11):
                await anext(lines)
            assert (await pool.pool_status()).in_flight == 1
            assert sim.account_stats(account["id"])["open_streams"] == 1
    # the client went away: the gateway releases at once and closes the upstream stream
    await apoll(lambda: _in_flight_zero(pool), message="lease released")
    await apoll(lambda: sim.account_stats(account["id"])["open_streams"] == 0, message="upstream closed")
    assert sim.account_stats(account["id"])["completed_streams"] == 0


async def _in_flight_zero(pool: Stack) -> bool:
    return (await pool.pool_status()).in_flight == 0


async def test_no_free_lease_within_the_wait_is_429_with_retry_after(sim: Sim, stack: Any) -> None:
    account = sim.add_account()
    pool = stack([account], SESSION_POOL_MAX_SIZE="1", SESSION_POOL_WAIT="1s")
    slow = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": say({"text": "z" * 1200, "event_delay": 0.02})}],
    }
    quick = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    headers = {"x-api-key": CLIENT_TOKEN}
    async with httpx.AsyncClient(timeout=20) as http:
        async with http.stream(
            "POST", pool.gateway_url() + "/v1/messages", json=slow, headers=headers
        ) as held:
            assert held.status_code == 200
            lines = held.aiter_lines()
            await anext(lines)
            busy = await http.post(pool.gateway_url() + "/v1/messages", json=quick, headers=headers)
            assert busy.status_code == 429
            assert busy.json()["error"]["type"] == "rate_limit_error"
            assert int(busy.headers["retry-after"]) >= 1
            chat = await http.post(
                pool.gateway_url() + "/v1/chat/completions",
                headers=headers,
                json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
            )
            assert chat.status_code == 429
            assert chat.json()["error"]["type"] == "rate_limit_exceeded"
