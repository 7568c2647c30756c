"""Team limits and usage against a real Redis: the admit script (budget, concurrency, sliding
requests-per-minute log, tokens-per-minute buckets), undo, and idempotent usage records."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from kiroproto.bus import (
    Admission,
    DenialReason,
    KeyCreate,
    KeyLimits,
    KeyListRequest,
    KeyLookup,
    KeyRevoke,
    KeyUpdate,
    LeaseDenied,
    LeaseGrant,
    LeaseRequest,
    Subjects,
    UsageBatch,
    UsageQuery,
    UsageRecord,
)
from token_broker.errors import InvalidBusRequest
from token_broker.keys import TeamRedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts
from token_broker.team_limits import month_of
from token_broker.team_service import TeamService
from token_broker.teams import hash_key


class _Nc:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, data: bytes) -> None:
        self.published.append((subject, data))


@pytest.fixture
def teams(redis_client: Redis) -> tuple[TeamService, _Nc, str]:
    prefix = "t" + uuid.uuid4().hex[:8]
    nc = _Nc()
    metrics = BrokerMetrics(CollectorRegistry())
    service = TeamService(
        redis=redis_client,
        scripts=Scripts(redis_client, metrics.observe_redis),
        prefix=prefix,
        nc=nc,
        subjects=Subjects("t"),
        metrics=metrics,
        slot_ttl_s=60,
    )
    return service, nc, prefix


def admission(team: str, **limits: Any) -> Admission:
    return Admission(key_id="key_x", team=team, limits=KeyLimits(**limits))


def record(team: str, outcome: str = "ok", **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "request_id": "req_" + uuid.uuid4().hex,
        "key_id": "key_x",
        "team": team,
        "model": "claude-sonnet-4.5",
        "outcome": outcome,
        "at": time.time(),
    }
    values.update(fields)
    return UsageRecord(**values)


async def test_requests_per_minute_is_a_sliding_log(teams: tuple[TeamService, _Nc, str]) -> None:
    service, _, _ = teams
    verdicts = [
        (await service.limits.admit(f"r{i}", admission("a", requests_per_minute=3)))[0] for i in range(5)
    ]
    assert verdicts == ["ok", "ok", "ok", "rpm", "rpm"]
    verdict, state, retry_after, message = await service.limits.admit(
        "r9", admission("a", requests_per_minute=3)
    )
    assert verdict == "rpm" and state.requests_remaining == 0 and 1 <= retry_after <= 60
    assert "3 requests per minute" in message
    await service.limits.undo("r0", "a")  # an admission given back frees its place in the window
    assert (await service.limits.admit("r10", admission("a", requests_per_minute=3)))[0] == "ok"
    assert (await service.limits.admit("b0", admission("b", requests_per_minute=3)))[0] == "ok"  # per team


async def test_concurrency_slots_end_with_the_usage_record(teams: tuple[TeamService, _Nc, str]) -> None:
    service, _, _ = teams
    limits = {"max_concurrent": 2}
    assert (await service.limits.admit("c1", admission("c", **limits)))[0] == "ok"
    assert (await service.limits.admit("c2", admission("c", **limits)))[0] == "ok"
    verdict, _, retry_after, message = await service.limits.admit("c3", admission("c", **limits))
    assert verdict == "concurrency" and retry_after == 1 and "2 requests in flight" in message
    await service.usage.record(record("c", request_id="c1", admitted=True))
    assert (await service.limits.admit("c4", admission("c", **limits)))[0] == "ok"


async def test_budget_and_tokens_per_minute_count_finished_tokens(
    teams: tuple[TeamService, _Nc, str],
) -> None:
    service, _, _ = teams
    assert (await service.limits.admit("d1", admission("d", monthly_token_budget=100, tokens_per_minute=50)))[
        0
    ] == "ok"
    await service.usage.record(record("d", request_id="d1", input_tokens=40, output_tokens=20, admitted=True))
    verdict, state, retry_after, message = await service.limits.admit(
        "d2", admission("d", monthly_token_budget=1000, tokens_per_minute=50)
    )
    assert verdict == "tpm" and state.tokens_remaining == 0 and retry_after >= 1
    verdict, state, retry_after, message = await service.limits.admit(
        "d3", admission("d", monthly_token_budget=60)
    )
    assert verdict == "budget" and state.budget_remaining == 0 and "budget is spent (60 of 60" in message
    assert retry_after > 60  # until the first day of next month
    (budget,) = await service.usage.budgets("d")
    assert budget.spent_tokens == 60 and budget.month == month_of(time.time())


async def test_usage_records_are_applied_once_and_queried_by_day(teams: tuple[TeamService, _Nc, str]) -> None:
    service, _, _ = teams
    first = record("e", input_tokens=10, output_tokens=5, credits=0.25, web_search_requests=1)
    batch = UsageBatch(records=(first, first, record("e", "error"), record("e", "rejected"), record("f")))
    ack = await service.usage.record_batch(batch)
    assert ack.message == "4 applied, 1 already known"
    day = time.strftime("%Y-%m-%d", time.gmtime())
    report = await service.usage.query(UsageQuery(start=day, end=day, team="e"))
    (row,) = report.rows
    assert (row.requests, row.errors, row.rejected, row.input_tokens, row.output_tokens) == (2, 1, 1, 10, 5)
    assert row.credits == 0.25 and row.model == "claude-sonnet-4.5" and row.key_id == "key_x"
    assert row.web_search_requests == 1  # the duplicate record counted once
    with pytest.raises(InvalidBusRequest, match="at most 31 days"):
        await service.usage.query(UsageQuery(start="2026-01-01", end="2026-03-01"))
    with pytest.raises(InvalidBusRequest, match="dates like"):
        await service.usage.query(UsageQuery(start="yesterday", end=day))


async def test_keys_are_stored_as_hashes_and_events_are_published(
    teams: tuple[TeamService, _Nc, str], redis_client: Redis
) -> None:
    service, nc, prefix = teams
    d = service.directory
    created = await d.create(
        KeyCreate(team="g", name="ci", allowed_models=("claude-*",), limits=KeyLimits(max_concurrent=3))
    )
    assert created.ok and created.secret is not None and created.key is not None
    secret, key = created.secret, created.key
    assert secret.startswith("sk-kiro-") and key.hint.endswith(secret[-4:])
    found = await d.lookup(KeyLookup(key_hash=hash_key(secret)))
    assert found.key == key
    assert (await d.lookup(KeyLookup(key_hash=hash_key(secret + "x")))).key is None
    for name in await redis_client.keys(prefix + ":*"):
        assert secret not in name
        kind = await redis_client.type(name)
        if kind == "hash":
            assert secret not in str(await redis_client.hgetall(name))
        elif kind == "string":
            assert secret not in str(await redis_client.get(name))
    updated = await d.update(KeyUpdate(id=key.id, limits=KeyLimits(requests_per_minute=9)))
    assert updated.key is not None and updated.key.limits.requests_per_minute == 9
    revoked = await d.revoke(KeyRevoke(id=key.id))
    assert revoked.key is not None and revoked.key.revoked_at is not None
    assert (await d.update(KeyUpdate(id=key.id, name="x"))).ok is False
    assert [k.id for k in (await d.list(KeyListRequest(team="g"))).keys] == [key.id]
    assert [s for s, _ in nc.published] == ["t.v1.events.key"] * 3
    assert TeamRedisKeys(prefix).key_hash(hash_key(secret)) in await redis_client.keys(prefix + ":*")


async def test_a_denied_lease_gives_the_admission_back(teams: tuple[TeamService, _Nc, str]) -> None:
    service, _, _ = teams

    async def busy(_req: LeaseRequest) -> LeaseGrant | LeaseDenied:
        return LeaseDenied(reason=DenialReason.POOL_BUSY, message="busy", retry_after_s=5)

    req = LeaseRequest(
        request_id="h1", model="m", admission=admission("h", max_concurrent=1, requests_per_minute=1)
    )
    reply = await service.limits.acquire(req, busy)
    assert (
        isinstance(reply, LeaseDenied) and reply.reason == DenialReason.POOL_BUSY and reply.limits is not None
    )
    again = await service.limits.acquire(req.model_copy(update={"request_id": "h2"}), busy)
    assert isinstance(again, LeaseDenied) and again.reason == DenialReason.POOL_BUSY  # not team_rate_limited
