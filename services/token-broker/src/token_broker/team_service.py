"""The team-key side of the broker on the bus: key administration, the gateway's key lookup,
usage records and usage queries (subjects in kiroproto.bus), plus the admission that rides on
`lease.acquire` (team_limits.py). Built by `runtime.Broker`, registered by `service.BrokerService`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from kiroproto.bus import (
    KeyCreate,
    KeyListRequest,
    KeyLookup,
    KeyRevoke,
    KeyUpdate,
    Subjects,
    UsageBatch,
    UsageQuery,
)
from token_broker.keys import TeamRedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts
from token_broker.team_limits import TeamLimits
from token_broker.team_usage import TeamUsageStore
from token_broker.teams import TeamDirectory

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Any], Awaitable[None]]
MakeEndpoint = Callable[[type[M], Callable[[M], Awaitable[BaseModel]]], Handler]


class TeamService:
    def __init__(
        self,
        *,
        redis: Redis,
        scripts: Scripts,
        prefix: str,
        nc: Any,
        subjects: Subjects,
        metrics: BrokerMetrics,
        slot_ttl_s: float,
    ) -> None:
        keys = TeamRedisKeys(prefix)
        self._subjects = subjects
        self._metrics = metrics
        self.directory = TeamDirectory(redis, keys, nc, subjects)
        self.limits = TeamLimits(redis, scripts, keys, metrics, slot_ttl_s=slot_ttl_s)
        self.usage = TeamUsageStore(redis, scripts, keys, self.directory, metrics)

    def endpoints(self, make: Callable[..., Handler]) -> list[tuple[str, str, Handler]]:
        s = self._subjects
        d = self.directory
        return [
            ("key_create", s.key_create, make(KeyCreate, d.create)),
            ("key_list", s.key_list, make(KeyListRequest, d.list)),
            ("key_update", s.key_update, make(KeyUpdate, d.update)),
            ("key_revoke", s.key_revoke, make(KeyRevoke, d.revoke)),
            ("key_lookup", s.key_lookup, make(KeyLookup, d.lookup)),
            ("usage_record", s.usage_record, make(UsageBatch, self.usage.record_batch)),
            ("usage_query", s.usage_query, make(UsageQuery, self.usage.query)),
        ]

    async def refresh_gauges(self) -> None:
        """Month spend and budget per team (called on a /metrics scrape)."""
        self._metrics.team_budget.clear()  # a budget removed since the last scrape disappears
        for budget in await self.usage.budgets():
            team = self._metrics.team_label(budget.team)
            self._metrics.team_spent.labels(team).set(budget.spent_tokens)
            if budget.budget_tokens is not None:
                self._metrics.team_budget.labels(team).set(budget.budget_tokens)
