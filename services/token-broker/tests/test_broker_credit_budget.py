"""A team's monthly credit budget (Kiro credits from meteringEvent) beside its token budget:
enforced by admit.lua, counted by usage.lua, reported with the budgets, stored on the key."""

from __future__ import annotations

import time

from redis.asyncio import Redis
from test_broker_teams import _Nc, admission, record, teams  # noqa: F401 - the fixture

from kiroproto.bus import DenialReason, KeyCreate, KeyLimits, LeaseGrant, LeaseRequest, UsageQuery
from token_broker.team_service import TeamService


async def test_credit_budget_is_enforced_once_spent(teams: tuple[TeamService, _Nc, str]) -> None:  # noqa: F811
    service, _, _ = teams
    limits = {"monthly_credit_budget": 1.0, "monthly_token_budget": 10**9}
    verdict, state, _, _ = await service.limits.admit("k1", admission("cr", **limits))
    assert verdict == "ok" and state.budget_credits == 1.0 and state.budget_credits_remaining == 1.0
    await service.usage.record(record("cr", request_id="k1", credits=0.6, admitted=True))
    verdict, state, _, _ = await service.limits.admit("k2", admission("cr", **limits))
    assert verdict == "ok" and state.budget_credits_remaining == 0.4
    await service.usage.record(record("cr", request_id="k2", credits=0.45, admitted=True))
    verdict, state, retry_after, message = await service.limits.admit("k3", admission("cr", **limits))
    assert verdict == "credit_budget" and state.budget_credits_remaining == 0.0
    assert "credit budget is spent (1.05 of 1 credits)" in message and retry_after > 60
    # the token budget alone would have let it through; another team is not affected
    assert (await service.limits.admit("o1", admission("other", **limits)))[0] == "ok"


async def test_credit_budget_denial_is_a_team_budget_denial(teams: tuple[TeamService, _Nc, str]) -> None:  # noqa: F811
    service, _, _ = teams
    await service.usage.record(record("cb", credits=2.0))

    async def never(_req: LeaseRequest) -> LeaseGrant:
        raise AssertionError("no lease once the budget is spent")

    req = LeaseRequest(request_id="z1", model="m", admission=admission("cb", monthly_credit_budget=2.0))
    reply = await service.limits.acquire(req, never)
    assert reply.reason == DenialReason.TEAM_BUDGET  # type: ignore[union-attr]


async def test_credit_budget_is_reported_and_stored(
    teams: tuple[TeamService, _Nc, str],  # noqa: F811
    redis_client: Redis,
) -> None:
    service, _, _ = teams
    created = await service.directory.create(
        KeyCreate(team="rep", limits=KeyLimits(monthly_credit_budget=12.5, monthly_token_budget=1000))
    )
    assert created.key is not None
    stored = await service.directory.get(created.key.id)
    assert stored is not None and stored.limits.monthly_credit_budget == 12.5
    await service.usage.record(record("rep", credits=0.25, input_tokens=3, output_tokens=4))
    await service.usage.record(record("rep", credits=0.5))
    (budget,) = await service.usage.budgets("rep")
    assert (budget.spent_credits, budget.budget_credits) == (0.75, 12.5)
    assert (budget.spent_tokens, budget.budget_tokens) == (7, 1000)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    report = await service.usage.query(UsageQuery(start=day, end=day, team="rep"))
    assert report.budgets[0].spent_credits == 0.75
