"""`admission_only` lease requests (the gateway's `count_tokens` for a team key): counted in the
team's requests-per-minute window and refused beyond it, holding no concurrency slot and
ignoring the token limits and budget (the request spends no tokens)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from kiroproto.bus import (
    Admission,
    DenialReason,
    KeyLimits,
    LeaseAdmitted,
    LeaseDenied,
    LeaseRequest,
    Subjects,
)
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts
from token_broker.team_service import TeamService


class _Nc:
    async def publish(self, subject: str, data: bytes) -> None:
        return None


@pytest.fixture
def service(redis_client: Redis) -> TeamService:
    metrics = BrokerMetrics(CollectorRegistry())
    return TeamService(
        redis=redis_client,
        scripts=Scripts(redis_client, metrics.observe_redis),
        prefix="c" + uuid.uuid4().hex[:8],
        nc=_Nc(),
        subjects=Subjects("c"),
        metrics=metrics,
        slot_ttl_s=60,
    )


def admission(team: str, **limits: Any) -> Admission:
    return Admission(key_id="key_x", team=team, limits=KeyLimits(**limits))


def count_request(team: str, *, reused_lease: str | None = None, **limits: Any) -> LeaseRequest:
    """`admission_only` (count_tokens), or with `reused_lease` a full admission for a held slot."""
    return LeaseRequest(
        request_id="req_" + uuid.uuid4().hex,
        model="" if reused_lease is None else "claude-sonnet-4.5",
        wait_ms=0,
        admission=admission(team, **limits),
        admission_only=reused_lease is None,
        reused_lease=reused_lease,
    )


async def test_counted_in_the_request_window_and_refused_beyond_it(service: TeamService) -> None:
    replies = [await service.limits.admit_only(count_request("a", requests_per_minute=3)) for _ in range(4)]
    assert [type(r) for r in replies] == [LeaseAdmitted] * 3 + [LeaseDenied]
    first, refused = replies[0], replies[3]
    assert isinstance(first, LeaseAdmitted) and first.limits.requests_remaining == 2
    assert isinstance(refused, LeaseDenied) and refused.reason == DenialReason.TEAM_RATE_LIMITED
    assert refused.retry_after_s >= 1
    # the same window as the team's chat requests
    verdict = (await service.limits.admit("chat", admission("a", requests_per_minute=3)))[0]
    assert verdict == "rpm"


async def test_no_slot_no_token_limit_no_budget(service: TeamService) -> None:
    limits: dict[str, Any] = {
        "requests_per_minute": 100,
        "max_concurrent": 1,
        "tokens_per_minute": 1,
        "monthly_token_budget": 0,
    }
    for _ in range(5):  # a budget of 0 and one concurrent slot would refuse a chat request
        assert isinstance(await service.limits.admit_only(count_request("b", **limits)), LeaseAdmitted)
    # no concurrency slot is left held by them
    verdict = (await service.limits.admit("chat", admission("b", requests_per_minute=100, max_concurrent=1)))[
        0
    ]
    assert verdict == "ok"


async def test_a_count_never_frees_the_slots_chat_requests_hold(service: TeamService) -> None:
    """Regression (found in review): an admission-only request used to set the team's in-flight
    set to expire a second later, dropping every slot its chat requests held."""
    held = admission("d", requests_per_minute=100, max_concurrent=1)
    assert (await service.limits.admit("chat-1", held))[0] == "ok"  # holds the one slot
    counted = await service.limits.admit_only(count_request("d", requests_per_minute=100))
    assert isinstance(counted, LeaseAdmitted)
    limits = service.limits
    inflight = limits.keys.inflight("d")  # the key the slots live in
    assert await limits.redis.pttl(inflight) > 30_000
    assert (await service.limits.admit("chat-2", held))[0] == "concurrency"  # the slot is still held


def reuse_request(team: str, **limits: Any) -> LeaseRequest:
    return count_request(team, reused_lease="lease_" + uuid.uuid4().hex, **limits)


async def test_a_reused_slot_admits_the_team_as_fully_as_a_new_lease(service: TeamService) -> None:
    """A gateway that hands a slot it holds to a team request asks for the whole admission:
    concurrency slot, budget and rate, as a lease request would."""
    one_at_a_time = {"requests_per_minute": 100, "max_concurrent": 1}
    first = await service.limits.admit_only(reuse_request("e", **one_at_a_time))
    assert isinstance(first, LeaseAdmitted)
    second = await service.limits.admit_only(reuse_request("e", **one_at_a_time))
    assert isinstance(second, LeaseDenied) and second.reason == DenialReason.TEAM_RATE_LIMITED
    spent = await service.limits.admit_only(reuse_request("f", monthly_token_budget=0))
    assert isinstance(spent, LeaseDenied) and spent.reason == DenialReason.TEAM_BUDGET
