"""Back-off by reason (reference §19.3), the half-open probe, waiting for a cooldown, and
session stickiness: real NATS and Redis, the broker in-process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from broker_helpers import BrokerBus, SimUrls, StartBroker, cred, creds_json, sim_cred

from kiro_testing.sim import AsyncSimControl
from kiroproto.bus import CredentialStatus, DenialReason, LeaseDenied, LeaseGrant, Outcome


async def _status(bus: BrokerBus, cid: str) -> CredentialStatus:
    return {c.id: c for c in (await bus.status()).credentials}[cid]


async def test_first_throttling_cools_about_a_second_then_doubles_up_to_the_cap(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(
        kiro_auth_token=creds_json(cred("a")), broker_backoff_first="0.2", session_pool_cooldown="0.7"
    )
    seen: list[float] = []
    for _ in range(4):
        grant = await bus.grant(wait_ms=5000)  # waits for the cooldown to end, then probes
        await bus.release(grant, Outcome.THROTTLED, status_code=429)
        denied = await bus.acquire(wait_ms=0)
        assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.NO_CREDENTIAL
        status = await _status(bus, "a")
        assert status.status_until is not None
        seen.append(status.status_until - time.time())
    # 0.2, 0.4, then capped at 0.7 (SESSION_POOL_COOLDOWN)
    assert 0.1 < seen[0] <= 0.2 and 0.3 < seen[1] <= 0.4
    assert 0.6 < seen[2] <= 0.7 and 0.6 < seen[3] <= 0.7
    assert (await _status(bus, "a")).reason == "throttled 4 times in a row"


async def test_default_first_backoff_is_a_second_and_retry_after_is_a_floor(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")), session_pool_cooldown="60s")
    a = await bus.grant(exclude=("b",))
    await bus.release(a, Outcome.THROTTLED, status_code=429)
    denied = await bus.acquire(exclude=("b",))
    assert isinstance(denied, LeaseDenied) and 0.5 <= denied.retry_after_s <= 1.0
    b = await bus.grant(exclude=("a",))
    await bus.release(b, Outcome.THROTTLED, status_code=429, retry_after_s=3)
    denied = await bus.acquire(exclude=("a",))
    assert isinstance(denied, LeaseDenied) and 2.5 <= denied.retry_after_s <= 3.0


async def test_throttlings_of_leases_already_in_flight_do_not_count_as_repeats(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_cooldown="60s")
    grants = [await bus.grant() for _ in range(3)]
    for grant in grants:
        await bus.release(grant, Outcome.THROTTLED, status_code=429)
    status = await _status(bus, "a")
    assert status.status == "cooling_down" and status.reason == "throttled"
    assert status.status_until is not None
    assert status.status_until - time.time() <= 1.0


async def test_half_open_one_probe_until_a_success(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(
        kiro_auth_token=creds_json(cred("a")), broker_backoff_first="0.2", session_pool_max_size=3
    )
    await bus.release(await bus.grant(), Outcome.THROTTLED, status_code=429)
    probe = await bus.grant(wait_ms=3000)  # the cooldown ended: one probe lease
    assert probe.reuse_s == 0.0  # a probe's answer must reach the broker: never reused
    second = await bus.acquire(wait_ms=0)
    assert isinstance(second, LeaseDenied) and second.reason == DenialReason.POOL_BUSY
    waiter = asyncio.create_task(bus.acquire(wait_ms=5000))
    await asyncio.sleep(0.3)
    assert not waiter.done()  # waits for the probe's answer
    await bus.release(probe, Outcome.SUCCESS)
    assert isinstance(await waiter, LeaseGrant)
    third = await bus.grant(wait_ms=0)  # closed again: the whole cap is back
    assert third.credential_id == "a"


async def test_a_request_waits_for_a_cooldown_that_ends_within_the_wait(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_cooldown="60s")
    await bus.release(await bus.grant(), Outcome.THROTTLED, status_code=429, retry_after_s=1.5)
    quick = await bus.acquire(wait_ms=200)  # ends later than this request may wait: answered at once
    assert isinstance(quick, LeaseDenied) and quick.reason == DenialReason.NO_CREDENTIAL
    assert 1.0 <= quick.retry_after_s <= 1.5
    started = time.monotonic()
    grant = await bus.grant(wait_ms=5000)
    waited = time.monotonic() - started
    assert grant.credential_id == "a"
    assert 0.8 <= waited < 2.0  # woken at the end of the cooldown, not at the end of the wait


async def test_model_capacity_does_not_cool_the_account(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    for _ in range(5):
        await bus.release(await bus.grant(), Outcome.MODEL_CAPACITY, status_code=429)
    status = await _status(bus, "a")
    assert status.status == "active" and status.errors == 0


async def test_daily_quota_parks_until_the_next_utc_day(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    grant = await bus.grant()
    await bus.release(grant, Outcome.QUOTA_EXHAUSTED, status_code=429, reason="DAILY_REQUEST_COUNT")
    status = await _status(bus, "a")
    assert status.status == "quota_parked"
    next_day = (int(time.time()) // 86400 + 1) * 86400
    assert status.status_until == next_day
    assert "DAILY_REQUEST_COUNT" in (status.last_error or "")


async def test_suspicious_activity_cools_for_long_with_its_reason(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")), broker_suspicious_cooldown="1h")
    a = await bus.grant(exclude=("b",))
    await bus.release(
        a, Outcome.SUSPENDED, status_code=429, message="suspicious activity detected", reason="SUSPICIOUS"
    )
    status = await _status(bus, "a")
    assert status.status == "cooling_down" and "suspicious activity" in (status.reason or "")
    assert status.status_until is not None
    assert status.status_until - time.time() > 3500
    b = await bus.grant(exclude=("a",))
    await bus.release(b, Outcome.SUSPENDED, status_code=403, message="temporarily is suspended")
    assert (await _status(bus, "b")).status == "disabled"


async def test_a_session_stays_on_its_account(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b"), cred("c")))
    served: Counter[str] = Counter()
    for _ in range(12):
        grant = await bus.grant(session_id="session-1")
        served[grant.credential_id] += 1
        await bus.release(grant)
    assert len(served) == 1
    home = next(iter(served))
    # other traffic meanwhile spreads as before (least recently used first)
    others = [await bus.grant() for _ in range(2)]
    assert {g.credential_id for g in others} == {"a", "b", "c"} - {home}
    for grant in others:
        await bus.release(grant)


async def test_a_session_moves_when_its_account_cannot_serve_and_is_counted(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    broker = await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")), session_pool_max_size=1)
    first = await bus.grant(session_id="s2")
    held = first  # its account is at its cap now
    moved = await bus.grant(session_id="s2")
    assert moved.credential_id != first.credential_id
    await bus.release(held)
    await bus.release(moved)
    back = await bus.grant(session_id="s2")
    assert back.credential_id == moved.credential_id  # the last account that served it
    await bus.release(back)
    counted = broker.metrics.session_leases
    assert counted.labels(account="first")._value.get() == 1
    assert counted.labels(account="other")._value.get() == 2


async def test_a_request_waits_out_a_refresh_backoff_then_is_served(
    start_broker: StartBroker, bus: BrokerBus, sim: AsyncSimControl, sim_urls: SimUrls
) -> None:
    flaky = await sim.add_account()
    await sim.fault(flaky["id"], "refresh", {"status": 500}, times=1)
    await start_broker(kiro_auth_token=creds_json(sim_cred(flaky)), **sim_urls)
    started = time.monotonic()
    reply = await bus.acquire(wait_ms=8000)  # the refresh backoff (5 s) ends within the wait
    assert isinstance(reply, LeaseGrant), reply
    assert 4.0 <= time.monotonic() - started < 8.0
    assert await sim.counter(flaky["id"], "refresh_calls") == 2
