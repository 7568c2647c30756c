"""Team usage: durable counters per day, team, key and model, written once per request.

Gateways send a `UsageBatch` after requests end (`usage.record`); each record is applied by
ONE `usage.lua` call that, atomically: marks the request id done (a repeated record is a
no-op, so gateways may retry until acknowledged), adds requests / errors / rejected / input and
output tokens / credits / web searches to `usage:{YYYY-MM-DD}`, adds the tokens to the team's month counter
(the budget) and to its per-second token buckets (tokens per minute), and frees the request's
concurrency slot. The reply is sent after Redis has the write (run Redis with
`appendfsync always`, CONTRACTS.md), so an acknowledged record survives any restart.

`usage.query` reads whole days back (at most 31 per query; the dashboard asks month by month)
and the month's spend per team against its budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from redis.asyncio import Redis

from kiroproto.bus import (
    Ack,
    TeamBudget,
    UsageBatch,
    UsageQuery,
    UsageRecord,
    UsageReport,
    UsageRow,
)
from token_broker.errors import InvalidBusRequest
from token_broker.keys import SPENT_TTL_S, USAGE_DONE_TTL_S, WINDOW_MS, TeamRedisKeys
from token_broker.metrics import BrokerMetrics
from token_broker.scripts import Scripts
from token_broker.team_limits import month_of
from token_broker.teams import TeamDirectory, largest_per_team

MAX_QUERY_DAYS = 31
ROW_KEYS = ("day", "team", "key_id", "model")
METRICS = tuple(name for name in UsageRow.model_fields if name not in ROW_KEYS)  # counted per row
SEP = "|"


class UsageQueryError(InvalidBusRequest):
    """A query the broker refuses (bad dates, too long a range): answered with a 400."""


def day_of(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d")


def _clean(label: str) -> str:
    return label.replace(SEP, "_")[:120] or "-"


def parse_range(start: str, end: str) -> list[str]:
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise UsageQueryError("start and end must be dates like 2026-01-31") from exc
    if last < first:
        raise UsageQueryError("end is before start")
    days = (last - first).days + 1
    if days > MAX_QUERY_DAYS:
        raise UsageQueryError(f"at most {MAX_QUERY_DAYS} days per query (asked for {days})")
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]


@dataclass(slots=True)
class TeamUsageStore:
    redis: Redis
    scripts: Scripts
    keys: TeamRedisKeys
    directory: TeamDirectory
    metrics: BrokerMetrics

    async def record_batch(self, batch: UsageBatch) -> Ack:
        applied = 0
        for record in batch.records:
            applied += await self.record(record)
        return Ack(message=f"{applied} applied, {len(batch.records) - applied} already known")

    async def record(self, r: UsageRecord) -> int:
        prefix = SEP.join((_clean(r.team), _clean(r.key_id), _clean(r.model))) + SEP
        applied = await self.scripts.run(
            "usage",
            [
                self.keys.done(r.request_id),
                self.keys.usage_day(day_of(r.at)),
                self.keys.spent(r.team, month_of(r.at)),
                self.keys.tpm(r.team),
                self.keys.inflight(r.team),
                self.keys.teams,
                self.keys.credits_spent(r.team, month_of(r.at)),
            ],
            [
                USAGE_DONE_TTL_S,
                prefix,
                1 if r.outcome != "rejected" else 0,
                1 if r.outcome == "error" else 0,
                1 if r.outcome == "rejected" else 0,
                r.input_tokens,
                r.output_tokens,
                repr(float(r.credits)) if r.credits else 0,
                int(r.at),
                r.request_id,
                "1" if r.admitted else "0",
                r.team,
                SPENT_TTL_S,
                WINDOW_MS // 1000 * 2,
                r.web_search_requests,
            ],
        )
        if int(applied):
            self.metrics.usage_records.labels(outcome=r.outcome).inc()
        else:
            self.metrics.usage_records.labels(outcome="duplicate").inc()
        return int(applied)

    async def query(self, q: UsageQuery) -> UsageReport:
        days = parse_range(q.start, q.end)
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.keys.usage_day(day))
            hashes = cast("list[dict[str, str]]", await pipe.execute())
        rows: list[UsageRow] = []
        for day, fields in zip(days, hashes, strict=True):
            grouped: dict[tuple[str, str, str], dict[str, float]] = {}
            for name, value in fields.items():
                parts = name.split(SEP)
                if len(parts) != 4 or parts[3] not in METRICS:
                    continue
                team, key_id, model, metric = parts
                if q.team is not None and team != q.team:
                    continue
                grouped.setdefault((team, key_id, model), {})[metric] = float(value)
            for (team, key_id, model), counts in sorted(grouped.items()):
                row: dict[str, str | float] = {"day": day, "team": team, "key_id": key_id, "model": model}
                for metric in METRICS:
                    count = counts.get(metric, 0.0)
                    row[metric] = round(count, 6) if metric == "credits" else int(count)
                rows.append(UsageRow.model_validate(row))
        return UsageReport(rows=tuple(rows), budgets=tuple(await self.budgets(q.team)))

    async def budgets(self, team: str | None = None, at: float | None = None) -> list[TeamBudget]:
        month = month_of(at if at is not None else datetime.now(UTC).timestamp())
        live = await self.directory.live_keys()
        by_team = largest_per_team(live, lambda key: key.limits.monthly_token_budget)
        credit_budgets = largest_per_team(live, lambda key: key.limits.monthly_credit_budget)
        teams = sorted(cast("set[str]", await self.redis.smembers(self.keys.teams)) | set(by_team))
        if team is not None:
            teams = [t for t in teams if t == team]
        if not teams:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in teams:
                pipe.get(self.keys.spent(name, month))
                pipe.get(self.keys.credits_spent(name, month))
            values = cast("list[str | None]", await pipe.execute())
        return [
            TeamBudget(
                team=name,
                month=month,
                spent_tokens=int(values[2 * i] or 0),
                budget_tokens=by_team.get(name),
                spent_credits=round(float(values[2 * i + 1] or 0.0), 6),
                budget_credits=credit_budgets.get(name),
            )
            for i, name in enumerate(teams)
        ]
