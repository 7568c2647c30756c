"""Lease acquisition, waiting, release outcomes and renewal against real NATS and Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from broker_helpers import BrokerBus, StartBroker, cred, creds_json, eventually
from pydantic import BaseModel, ConfigDict

from kiro_service.bus import BusRefused
from kiroproto.bus import (
    CREDENTIAL_EVENTS,
    CredentialEvent,
    CredentialStatusKind,
    DenialReason,
    Endpoint,
    LeaseDenied,
    LeaseGrant,
    LeaseReplyEnvelope,
    Outcome,
    ServiceErrorCode,
)
from kiroproto.credentials import fingerprint


async def test_grant_carries_the_configured_token(start_broker: StartBroker, bus: BrokerBus) -> None:
    item = cred("a", profileArn="arn:aws:codewhisperer:eu-central-1:123456789012:profile/ABC")
    await start_broker(kiro_auth_token=creds_json(item))
    grant = await bus.grant()
    assert grant.credential_id == "a"
    assert grant.access_token == item["accessToken"]
    assert grant.token_fingerprint == fingerprint(item["accessToken"])
    assert grant.region == "eu-central-1"  # the API region comes from the profile ARN
    assert len(grant.machine_id) == 64
    assert grant.lease_ttl_s == 60.0


async def test_cap_holds_under_concurrency_with_two_brokers(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    config = creds_json(cred("a"), cred("b"), cred("c"))
    await start_broker(kiro_auth_token=config, session_pool_max_size=3)
    await start_broker(kiro_auth_token=config, session_pool_max_size=3)
    replies = await asyncio.gather(*(bus.acquire(wait_ms=0) for _ in range(50)))
    grants = [r for r in replies if isinstance(r, LeaseGrant)]
    denied = [r for r in replies if isinstance(r, LeaseDenied)]
    per_cred = Counter(g.credential_id for g in grants)
    assert per_cred == {"a": 3, "b": 3, "c": 3}
    assert len(denied) == 41 and {d.reason for d in denied} == {DenialReason.POOL_BUSY}
    status = await bus.status()
    assert status.in_flight == 9
    assert all(c.in_flight == 3 and c.max_in_flight == 3 for c in status.credentials)


async def test_least_in_flight_then_least_recently_used(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")))
    first = await bus.grant()
    second = await bus.grant()
    assert {first.credential_id, second.credential_id} == {"a", "b"}  # least in flight
    await bus.release(first)
    await bus.release(second)
    third = await bus.grant()
    assert third.credential_id == first.credential_id  # both idle: least recently used
    await bus.release(third)
    fourth = await bus.grant()
    assert fourth.credential_id == second.credential_id


async def test_lower_priority_number_first(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("low", priority=5), cred("high", priority=1)))
    grants = [await bus.grant() for _ in range(3)]
    assert [g.credential_id for g in grants] == ["high", "high", "high"]
    assert (await bus.grant()).credential_id == "low"  # "high" is at its cap


async def test_exclude_and_disabled(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b"), cred("off", disabled=True)))
    assert (await bus.grant(exclude=("a",))).credential_id == "b"
    denied = await bus.acquire(exclude=("a", "b"))
    assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.NO_CREDENTIAL
    assert (await bus.action("off", "enable")).ok
    assert (await bus.grant(exclude=("a", "b"))).credential_id == "off"
    assert (await bus.action("off", "disable")).ok
    denied = await bus.acquire(exclude=("a", "b"))
    assert isinstance(denied, LeaseDenied)


async def test_empty_pool_is_not_configured(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker()
    denied = await bus.acquire()
    assert isinstance(denied, LeaseDenied)
    assert denied.reason == DenialReason.NOT_CONFIGURED and denied.retry_after_s > 0


async def test_expired_leases_of_a_dead_gateway_free_their_slots(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_max_size=2, broker_lease_ttl=0.3)
    dead = [await bus.grant(), await bus.grant()]  # never released: the gateway "died"
    assert isinstance(await bus.acquire(wait_ms=0), LeaseDenied)
    again = await bus.grant(wait_ms=3000)  # waits until a lease expires by TTL
    assert again.credential_id == "a" and again.lease_id not in {d.lease_id for d in dead}
    assert not (await bus.renew(dead[0])).ok  # an expired lease cannot be renewed


async def test_wait_then_pool_busy_with_retry_after(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_max_size=1)
    await bus.grant()
    started = time.monotonic()
    denied = await bus.acquire(wait_ms=300)
    waited = time.monotonic() - started
    assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.POOL_BUSY
    assert denied.retry_after_s > 0
    assert 0.3 <= waited < 3.0


async def test_waiter_gets_the_slot_released_on_another_broker(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    config = creds_json(cred("a"))
    brokers = [
        await start_broker(kiro_auth_token=config, session_pool_max_size=1),
        await start_broker(kiro_auth_token=config, session_pool_max_size=1),
    ]
    held = await bus.grant()
    waiter = asyncio.create_task(bus.acquire(wait_ms=5000))

    async def waiting() -> bool:
        return sum(len(b.handlers) for b in brokers) == 1

    await eventually(waiting, what="the request to wait on a broker")
    assert not waiter.done()
    started = time.monotonic()
    await bus.release(held)
    reply = await waiter
    assert isinstance(reply, LeaseGrant)
    assert time.monotonic() - started < 0.2  # woken by the release event, not a poll tick


async def test_session_pool_disabled_means_no_cap(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_enabled=False)
    grants = await asyncio.gather(*(bus.grant() for _ in range(10)))
    assert {g.credential_id for g in grants} == {"a"}


async def test_throttled_puts_the_credential_in_cooldown(start_broker: StartBroker, bus: BrokerBus) -> None:
    # SESSION_POOL_COOLDOWN is the longest back-off; the upstream's Retry-After may be longer still
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")), session_pool_cooldown="20s")
    grant = await bus.grant()
    await bus.release(grant, Outcome.THROTTLED, status_code=429, retry_after_s=60)
    other = await bus.grant()
    assert other.credential_id != grant.credential_id
    denied = await bus.acquire(exclude=(other.credential_id,))
    assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.NO_CREDENTIAL
    assert 55 <= denied.retry_after_s <= 60
    status = {c.id: c for c in (await bus.status()).credentials}
    assert status[grant.credential_id].status == "cooling_down"
    assert status[grant.credential_id].errors == 1


async def test_retry_after_of_the_upstream_wins_and_cooldown_ends(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    grant = await bus.grant()
    await bus.release(grant, Outcome.THROTTLED, retry_after_s=0.3)
    denied = await bus.acquire()
    assert isinstance(denied, LeaseDenied) and denied.retry_after_s <= 1.0
    events: asyncio.Queue[CredentialEvent] = asyncio.Queue()
    await bus.client.subscribe(CREDENTIAL_EVENTS, events.put)
    again = await eventually(lambda: _grant_or_none(bus), within_s=5, what="cooldown end")
    assert again.credential_id == "a"
    event = await asyncio.wait_for(events.get(), timeout=2)
    assert event.status == CredentialStatusKind.ACTIVE


async def _grant_or_none(bus: BrokerBus) -> LeaseGrant | None:
    reply = await bus.acquire()
    return reply if isinstance(reply, LeaseGrant) else None


async def test_quota_exhausted_parks_until_next_month(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    grant = await bus.grant()
    await bus.release(grant, Outcome.QUOTA_EXHAUSTED, status_code=402)
    status = (await bus.status()).credentials[0]
    assert status.status == "quota_parked"
    assert status.status_until is not None and status.status_until > time.time() + 3600 or _month_end_soon()
    denied = await bus.acquire()
    assert isinstance(denied, LeaseDenied) and denied.reason == DenialReason.NO_CREDENTIAL


def _month_end_soon() -> bool:
    return time.gmtime(time.time() + 3600).tm_mon != time.gmtime().tm_mon


async def test_server_errors_in_a_row_cool_down(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), broker_failure_streak=3)
    for outcome in (Outcome.SERVER_ERROR, Outcome.NETWORK_ERROR, Outcome.SUCCESS, Outcome.SERVER_ERROR):
        await bus.release(await bus.grant(), outcome)
    assert (await bus.status()).credentials[0].status == "active"  # the success reset the streak
    await bus.release(await bus.grant(), Outcome.SERVER_ERROR)
    assert (await bus.status()).credentials[0].status == "active"
    await bus.release(await bus.grant(), Outcome.SERVER_ERROR)
    status = (await bus.status()).credentials[0]
    assert status.status == "cooling_down" and status.reason == "3 upstream failures in a row"


async def test_no_penalty_outcomes(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    for outcome in (Outcome.BAD_REQUEST, Outcome.CANCELLED, Outcome.MODEL_UNAVAILABLE):
        await bus.release(await bus.grant(), outcome)
    status = (await bus.status()).credentials[0]
    assert status.status == "active" and status.errors == 0 and status.requests == 3


async def test_suspended_disables_with_reason(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a"), cred("b")))
    grant = await bus.grant()
    await bus.release(grant, Outcome.SUSPENDED, message="account suspended")
    status = {c.id: c for c in (await bus.status()).credentials}[grant.credential_id]
    assert status.status == "disabled" and status.reason == "suspended: account suspended"
    assert (await bus.grant(wait_ms=0)).credential_id != grant.credential_id


async def test_renew_extends_a_lease(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_max_size=1, broker_lease_ttl=1.0)
    grant = await bus.grant()
    for _ in range(4):
        await asyncio.sleep(0.3)  # time passes: 1.2 s in all, longer than the TTL
        assert (await bus.renew(grant)).ok
    assert isinstance(await bus.acquire(wait_ms=0), LeaseDenied)  # still held


class _Malformed(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: int = 5  # a lease request with a number for a model and no request id


# lease.acquire, sent by a client that disagrees with the table (a version skew)
_MALFORMED_ACQUIRE = Endpoint("lease_acquire", "lease.acquire", _Malformed, LeaseReplyEnvelope)


async def test_malformed_requests_get_an_error(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    with pytest.raises(BusRefused) as refused:
        await bus.client.call(_MALFORMED_ACQUIRE, _Malformed(), timeout_s=10)
    assert refused.value.code == ServiceErrorCode.BAD_REQUEST
    assert "request_id" in refused.value.description
    pong = await bus.ping()
    assert pong.redis_ok


async def test_a_slot_is_reusable_only_while_the_pool_has_room_besides_it(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), session_pool_max_size=2)
    first = await bus.grant()
    assert first.reuse_s == 0.5  # BROKER_LEASE_REUSE, one slot still free
    last = await bus.grant()
    assert last.reuse_s == 0.0  # the pool is full: this slot goes back after one request


async def test_reuse_can_be_switched_off(start_broker: StartBroker, bus: BrokerBus) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")), broker_lease_reuse=0)
    assert (await bus.grant()).reuse_s == 0.0


async def test_reuse_stays_inside_the_lease_ttl(start_broker: StartBroker, bus: BrokerBus) -> None:
    # one broker per test: a second one would answer half of the requests with its own settings
    await start_broker(kiro_auth_token=creds_json(cred("a")), broker_lease_reuse=30, broker_lease_ttl=8)
    assert (await bus.grant()).reuse_s == 2.0  # a quarter of the TTL at most


async def test_the_release_of_a_reused_slot_counts_every_request(
    start_broker: StartBroker, bus: BrokerBus
) -> None:
    await start_broker(kiro_auth_token=creds_json(cred("a")))
    await bus.release(await bus.grant(), Outcome.SUCCESS, uses=5, input_tokens=50, output_tokens=20)
    status = (await bus.status()).credentials[0]
    assert (status.requests, status.errors) == (5, 0)
    # three successes, then a server error: the streak starts at the error
    await bus.release(await bus.grant(), Outcome.SERVER_ERROR, uses=4)
    status = (await bus.status()).credentials[0]
    assert (status.requests, status.errors, status.status) == (9, 1, "active")
    # a spare slot that served nothing counts nothing
    await bus.release(await bus.grant(), Outcome.CANCELLED, uses=0)
    assert (await bus.status()).credentials[0].requests == 9
