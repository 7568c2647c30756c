"""The team-key side of the broker: key administration, the gateway's key lookup, usage records
and usage queries (endpoints of the bus table in kiroproto.bus, routed by
`service.BrokerService.routes`), plus the admission that rides on `lease.acquire`
(team_limits.py). Built by `runtime.Broker`.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from kiroproto.bus import Subjects
from token_broker.keys import TeamRedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts
from token_broker.team_limits import TeamLimits
from token_broker.team_usage import TeamUsageStore
from token_broker.teams import TeamDirectory


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
        self._metrics = metrics
        self.directory = TeamDirectory(redis, keys, nc, subjects)
        self.limits = TeamLimits(redis, scripts, keys, metrics, slot_ttl_s=slot_ttl_s)
        self.usage = TeamUsageStore(redis, scripts, keys, self.directory, metrics)

    async def refresh_gauges(self) -> None:
        """Month spend and budget per team (called on a /metrics scrape)."""
        self._metrics.team_budget.clear()  # a budget removed since the last scrape disappears
        for budget in await self.usage.budgets():
            team = self._metrics.team_label(budget.team)
            self._metrics.team_spent.labels(team).set(budget.spent_tokens)
            if budget.budget_tokens is not None:
                self._metrics.team_budget.labels(team).set(budget.budget_tokens)
