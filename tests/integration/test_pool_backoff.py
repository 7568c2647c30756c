"""Back-off that fits the reason (reference §19.3, README "Back-off by reason"), end to end:
gateway and broker over real NATS and Redis against the simulator's reason table and its
`/_sim/throttle` control call. Recovery is measured from the moment the simulator stops
throttling, never from the gateway's own retry-after."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any

import httpx
import pytest

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim
from kiro_testing.stack import CLIENT_TOKEN, Stack
from kiroproto.bus import CredentialStatusKind, PoolStatus

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"
BODY = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "ok"}]}
HEADERS = {"x-api-key": CLIENT_TOKEN, "anthropic-version": "2023-06-01"}


@pytest.fixture
def stack(sim: Sim, stacks: Stacks) -> Any:
    # These tests follow the broker's choice for every request (the least recently used account
    # first): without slot reuse, so that sequential requests do not stay on one held slot
    # (gateway/slots.py; reuse has its own tests in test_replicas.py and test_slot_reuse.py).
    return functools.partial(stacks.on, sim, BROKER_LEASE_REUSE="0")


def throttle(sim: Sim, seconds: float, account_ids: list[str], **extra: Any) -> float:
    """Throttle these accounts; the monotonic moment the simulator stops throttling."""
    sent = time.monotonic()
    answer = sim.throttle(seconds=seconds, account_ids=account_ids, **extra)
    return sent + float(answer["until"] - answer["from"])


async def status_of(pool: Stack, cid: str) -> Any:
    return next(c for c in (await pool.pool_status()).credentials if c.id == cid)


def free_in(status: PoolStatus, now: float) -> float:
    """The broker's real wait until an account can serve (0 when one is active)."""
    waits = []
    for cred in status.credentials:
        if cred.status == CredentialStatusKind.ACTIVE:
            return 0.0
        if cred.status_until is not None:
            waits.append(max(0.0, cred.status_until - now))
    return min(waits)


async def test_every_account_throttled_then_recovered(sim: Sim, stack: Any) -> None:
    accounts = [sim.add_account() for _ in range(3)]
    pool = stack(accounts, SESSION_POOL_WAIT="0.5s", SESSION_POOL_COOLDOWN="30s")
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        assert (await client.post("/v1/messages", json=BODY)).status_code == 200
        recovered_at = throttle(sim, 2, [a["id"] for a in accounts])
        told: list[tuple[float, float]] = []  # (retry-after, the real wait the broker saw)
        served_at = None
        while served_at is None and time.monotonic() < recovered_at + 20:
            response = await client.post("/v1/messages", json=BODY)
            if response.status_code == 200:
                served_at = time.monotonic()
                break
            assert response.status_code in (429, 529), response.text
            answered = time.time()
            retry_after = float(response.headers["retry-after"])
            real = free_in(await pool.pool_status(), answered)
            told.append((retry_after, real))
            await asyncio.sleep(retry_after)  # a well-behaved client
    assert served_at is not None
    assert served_at - recovered_at <= 5.0, f"served {served_at - recovered_at:.1f}s after the recovery"
    assert told, "the clients never heard of the throttling"
    for retry_after, real in told:
        assert abs(retry_after - real) <= 1.0, told
        assert retry_after < 30


async def test_a_request_waits_for_the_soonest_cooldown_instead_of_failing(sim: Sim, stack: Any) -> None:
    accounts = [sim.add_account() for _ in range(2)]
    pool = stack(accounts, SESSION_POOL_WAIT="10s", SESSION_POOL_COOLDOWN="30s")
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        recovered_at = throttle(sim, 2, [a["id"] for a in accounts])
        response = await client.post("/v1/messages", json=BODY)
        done = time.monotonic()
    assert response.status_code == 200, response.text  # no 529 while a cooldown ends within the wait
    assert done - recovered_at <= 5.0
    # the access log line tells the queue wait apart from the time to first token
    line = access_log_line(pool, response.headers["request-id"])
    assert line["queue_ms"] >= 500 and line["ttft_ms"] is not None
    assert line["ttft_ms"] >= line["queue_ms"] and line["duration_ms"] >= line["ttft_ms"]


def access_log_line(pool: Stack, request_id: str, within_s: float = 5.0) -> dict[str, Any]:
    """The request's access log line; the gateway writes it once the response has ended, which
    may be a moment after the client has read the last byte."""
    deadline = time.monotonic() + within_s
    while True:
        for raw in pool.gateways[0].read_log().splitlines():
            if request_id in raw and '"queue_ms"' in raw:
                return dict(json.loads(raw))
        if time.monotonic() > deadline:
            raise AssertionError(f"no access log line for {request_id}")
        time.sleep(0.05)


async def test_retry_after_of_the_upstream_reaches_the_client(sim: Sim, stack: Any) -> None:
    account = sim.add_account()
    pool = stack([account], SESSION_POOL_WAIT="1s", SESSION_POOL_COOLDOWN="30s")
    sim.script(
        account_id=account["id"], mode="fault", times=1, script={"error": "user_rate", "retry_after": 3}
    )
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        response = await client.post("/v1/messages", json=BODY)
        assert response.status_code == 529
        assert response.headers["retry-after"] == "3"  # about 3, not 30
        assert sim.account_stats(account["id"])["chat_requests"] == 1  # not asked again while cooling
        await asyncio.sleep(3.1)
        assert (await client.post("/v1/messages", json=BODY)).status_code == 200


async def test_model_capacity_does_not_cool_the_account(sim: Sim, stack: Any) -> None:
    first, second = sim.add_account(), sim.add_account()
    pool = stack([first, second])
    for account in (first, second):
        sim.script(account_id=account["id"], mode="fault", times=1, script={"error": "capacity"})
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        assert (await client.post("/v1/messages", json=BODY)).status_code == 200  # a short retry
        for account in (first, second):
            status = await status_of(pool, account["id"])
            assert status.status == CredentialStatusKind.ACTIVE and status.errors == 0
        # capacity short for everyone: a few tries, then 529 with a short retry-after
        throttle(sim, 30, [first["id"], second["id"]], error="service_rate")
        before = sum(sim.account_stats(a["id"])["chat_requests"] for a in (first, second))
        response = await client.post("/v1/messages", json=BODY)
        assert response.status_code == 529 and int(response.headers["retry-after"]) <= 3
        after = sum(sim.account_stats(a["id"])["chat_requests"] for a in (first, second))
        assert after - before == 3
        response = await client.post("/v1/chat/completions", json={**BODY, "max_tokens": 8})
        assert response.status_code == 503
    for account in (first, second):
        assert (await status_of(pool, account["id"])).status == CredentialStatusKind.ACTIVE
    sim.clear_scripts()


@pytest.mark.parametrize("preset", ["daily_limit", "quota", "overage", "monthly_limit"])
async def test_quota_parks_and_another_account_serves(sim: Sim, stack: Any, preset: str) -> None:
    parked, good = sim.add_account(), sim.add_account()
    pool = stack([parked, good])
    sim.script(account_id=parked["id"], mode="fault", seconds=60, script={"error": preset})
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        for _ in range(4):
            assert (await client.post("/v1/messages", json=BODY)).status_code == 200
    status = await status_of(pool, parked["id"])
    assert status.status == CredentialStatusKind.QUOTA_PARKED
    assert sim.account_stats(parked["id"])["chat_requests"] <= 1
    if preset == "daily_limit":
        assert status.status_until == (int(time.time()) // 86400 + 1) * 86400  # the next UTC day
    else:
        assert (
            status.status_until is not None and status.status_until > time.time() + 3600 or _month_end_soon()
        )


def _month_end_soon() -> bool:
    return time.gmtime(time.time() + 3600).tm_mon != time.gmtime().tm_mon


async def test_suspicious_activity_cools_for_long_and_says_why(sim: Sim, stack: Any) -> None:
    flagged, good = sim.add_account(), sim.add_account()
    pool = stack([flagged, good])
    sim.script(account_id=flagged["id"], mode="fault", times=1, script={"error": "suspicious"})
    async with httpx.AsyncClient(base_url=pool.gateway_url(), headers=HEADERS, timeout=30) as client:
        for _ in range(3):
            assert (await client.post("/v1/messages", json=BODY)).status_code == 200
    status = await status_of(pool, flagged["id"])
    assert status.status == CredentialStatusKind.COOLING_DOWN
    assert "suspicious activity" in (status.reason or "")
    assert status.status_until is not None and status.status_until > time.time() + 3000
