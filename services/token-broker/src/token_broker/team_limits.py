"""Team limits, checked and counted on the lease round trip (one `admit.lua` call).

A lease request that carries an `Admission` (the first attempt of a team-key request) is
admitted first: monthly token budget or monthly credit budget (Kiro credits from the
`meteringEvent`s of the team's usage records) spent → `team_budget`; as many requests in flight as
`max_concurrent` → `team_rate_limited`; `requests_per_minute` admissions in the last 60 s
(a sliding log, exact across replicas) → `team_rate_limited`; `tokens_per_minute` tokens
finished in the last 60 s (per-second buckets) → `team_rate_limited`. Every counter belongs to
the TEAM (all its keys together: rotating a key resets nothing); the limit values come from
the presented key. Admitted requests hold a concurrency slot until their usage record arrives
(team_usage.py) or `BROKER_TEAM_SLOT_TTL` passes (a gateway that died). If the pool then
denies the lease, the admission is undone (the slot and the request-log entry are removed).

Tokens are counted when a request ends, so a request admitted just under a limit may take
the team over it by its own size (as in every token-bucket proxy); the next one is refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis

from kiroproto.bus import (
    Admission,
    DenialReason,
    KeyLimits,
    LeaseAdmitted,
    LeaseDenied,
    LeaseGrant,
    LeaseRequest,
    LimitState,
)
from token_broker.credential_quota import next_month_start_ms
from token_broker.keys import WINDOW_MS, TeamRedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts

_MESSAGES = {
    "budget": "the team's monthly token budget is spent ({spent} of {budget} tokens); it renews on {reset}",
    "credit_budget": "the team's monthly credit budget is spent ({credits:g} of {credit_budget:g} credits); "
    "it renews on {reset}",
    "concurrency": "the team has {inflight} requests in flight, its limit is {limit}",
    "rpm": "the team's limit of {limit} requests per minute is reached",
    "tpm": "the team's limit of {limit} tokens per minute is reached",
}


def month_of(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m")


@dataclass(slots=True)
class TeamLimits:
    redis: Redis
    scripts: Scripts
    keys: TeamRedisKeys
    metrics: BrokerMetrics
    slot_ttl_s: float = field(kw_only=True)

    async def acquire(
        self, req: LeaseRequest, lease: Callable[[LeaseRequest], Awaitable[LeaseGrant | LeaseDenied]]
    ) -> LeaseGrant | LeaseDenied:
        """Admit, then lease; a denied lease gives the admission back."""
        admission = req.admission
        assert admission is not None
        state = await self._judged(req.request_id, admission)
        if isinstance(state, LeaseDenied):
            return state
        reply = await lease(req)
        if isinstance(reply, LeaseDenied):
            await self.undo(req.request_id, admission.team)
            return reply.model_copy(update={"limits": state})
        return reply.model_copy(update={"limits": state})

    async def admit_only(self, req: LeaseRequest) -> LeaseAdmitted | LeaseDenied:
        """An admission without a new lease. `admission_only` (count_tokens): count the request
        in the team's requests-per-minute window and refuse it when that is full; no concurrency
        slot, no budget check (the request spends no tokens). `reused_lease` (the gateway hands a
        slot it holds to this request): every limit, as for a lease."""
        admission = req.admission
        assert admission is not None
        full = req.reused_lease is not None and not req.admission_only
        if not full:
            admission = admission.model_copy(
                update={"limits": KeyLimits(requests_per_minute=admission.limits.requests_per_minute)}
            )
        state = await self._judged(req.request_id, admission, hold_slot=full)
        return state if isinstance(state, LeaseDenied) else LeaseAdmitted(limits=state)

    async def _judged(
        self, request_id: str, admission: Admission, *, hold_slot: bool = True
    ) -> LimitState | LeaseDenied:
        """`admit`, counted in the admissions metric: the team's counters, or the denial."""
        verdict, state, retry_after, message = await self.admit(request_id, admission, hold_slot=hold_slot)
        self.metrics.team_admissions.labels(
            team=self.metrics.team_label(admission.team), result=verdict
        ).inc()
        if verdict == "ok":
            return state
        budgets = ("budget", "credit_budget")
        reason = DenialReason.TEAM_BUDGET if verdict in budgets else DenialReason.TEAM_RATE_LIMITED
        return LeaseDenied(reason=reason, message=message, retry_after_s=retry_after, limits=state)

    async def admit(
        self, request_id: str, admission: Admission, *, hold_slot: bool = True
    ) -> tuple[str, LimitState, float, str]:
        now = int(time.time() * 1000)
        limits = admission.limits
        team = admission.team
        budget = limits.monthly_token_budget
        credit_budget = limits.monthly_credit_budget
        month = month_of(now / 1000)
        raw = await self.scripts.run(
            "admit",
            [
                self.keys.inflight(team),
                self.keys.rpm(team),
                self.keys.tpm(team),
                self.keys.spent(team, month),
                self.keys.credits_spent(team, month),
            ],
            [
                request_id,
                now,
                limits.requests_per_minute or 0,
                limits.tokens_per_minute or 0,
                limits.max_concurrent or 0,
                -1 if budget is None else budget,
                now + int(self.slot_ttl_s * 1000) if hold_slot else 0,  # 0: no slot (admit.lua)
                WINDOW_MS,
                -1 if credit_budget is None else repr(float(credit_budget)),
            ],
        )
        verdict = str(raw[0])
        requests, requests_reset, tokens, tokens_reset, spent, inflight = (int(x) for x in raw[1:7])
        credits = float(raw[7]) if len(raw) > 7 else 0.0
        month_end = next_month_start_ms(now / 1000)
        state = LimitState(
            requests_limit=limits.requests_per_minute,
            requests_remaining=_remaining(limits.requests_per_minute, requests),
            requests_reset_at=requests_reset / 1000 if limits.requests_per_minute else None,
            tokens_limit=limits.tokens_per_minute,
            tokens_remaining=_remaining(limits.tokens_per_minute, tokens),
            tokens_reset_at=tokens_reset / 1000 if limits.tokens_per_minute else None,
            budget_tokens=budget,
            budget_remaining=_remaining(budget, spent),
            budget_resets_at=month_end / 1000 if budget is not None or credit_budget is not None else None,
            budget_credits=credit_budget,
            budget_credits_remaining=None
            if credit_budget is None
            else round(max(0.0, credit_budget - credits), 6),
        )
        retry_ms = {
            "ok": 0,
            "budget": month_end - now,
            "credit_budget": month_end - now,
            "concurrency": 1000,
            "rpm": requests_reset - now,
            "tpm": tokens_reset - now,
        }.get(verdict, 1000)
        message = _MESSAGES.get(verdict, "").format(
            spent=spent,
            budget=budget,
            credits=credits,
            credit_budget=credit_budget or 0.0,
            reset=datetime.fromtimestamp(month_end / 1000, tz=UTC).strftime("%Y-%m-%d"),
            inflight=inflight,
            limit={
                "concurrency": limits.max_concurrent,
                "rpm": limits.requests_per_minute,
                "tpm": limits.tokens_per_minute,
            }.get(verdict),
        )
        return verdict, state, max(1.0, math.ceil(retry_ms / 1000)), message

    async def undo(self, request_id: str, team: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.inflight(team), request_id)
            pipe.zrem(self.keys.rpm(team), request_id)
            await pipe.execute()


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)
