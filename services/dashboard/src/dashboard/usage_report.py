"""`/api/usage` and the teams page: usage rows from the broker, totals per team, CSV (pure).

The broker answers at most 31 days per query, so `month_chunks` splits a longer range into
calendar-month pieces and the route asks for each. Rows are per day, team, key and model;
totals are summed here (never averaged), and each team's month spend is shown against its
budget (the largest budget among its live keys).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kiroproto.bus import TeamBudget, UsageRow

MAX_RANGE_DAYS = 366
CSV_FIELDS = tuple(UsageRow.model_fields)  # day, team, key_id, model, then the counters
KEYS = ("day", "team", "key_id", "model")
COUNTERS = tuple(name for name in CSV_FIELDS if name not in KEYS)  # summed, never averaged


class UsageRangeError(ValueError):
    """A range the API refuses (bad dates, end before start, more than a year)."""


def parse_range(start: str | None, end: str | None, today: date | None = None) -> tuple[date, date]:
    """Defaults: the current calendar month up to today (UTC)."""
    today = today or datetime.now(UTC).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last.replace(day=1)
    except ValueError as exc:
        raise UsageRangeError("from and to must be dates like 2026-01-31") from exc
    if last < first:
        raise UsageRangeError("to is before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise UsageRangeError(f"at most {MAX_RANGE_DAYS} days at once")
    return first, last


def month_chunks(first: date, last: date) -> list[tuple[date, date]]:
    """[first, last] cut at month boundaries (each piece at most 31 days)."""
    out: list[tuple[date, date]] = []
    start = first
    while start <= last:
        next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        end = min(last, next_month - timedelta(days=1))
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


@dataclass
class Totals:
    counts: dict[str, int | float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    by_day: dict[str, int] = field(default_factory=dict)  # tokens (in + out) per day

    def add(self, row: UsageRow) -> None:
        for name in COUNTERS:
            self.counts[name] += getattr(row, name)
        self.by_day[row.day] = self.by_day.get(row.day, 0) + row.input_tokens + row.output_tokens

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts)
        out["total_tokens"] = self.counts["input_tokens"] + self.counts["output_tokens"]
        out["credits"] = round(float(self.counts["credits"]), 6)
        return out


def report(
    rows: list[UsageRow], budgets: list[TeamBudget], first: date, last: date, team: str | None
) -> dict[str, Any]:
    total = Totals()
    teams: dict[str, Totals] = {}
    for row in rows:
        total.add(row)
        teams.setdefault(row.team, Totals()).add(row)
    budget_of = {b.team: b for b in budgets}
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    team_items = []
    for name in sorted(set(teams) | set(budget_of)):
        t = teams.get(name, Totals())
        b = budget_of.get(name)
        budget = b.budget_tokens if b else None
        spent = b.spent_tokens if b else 0
        credit_budget = b.budget_credits if b else None
        credits_spent = b.spent_credits if b else 0.0
        team_items.append(
            {
                "team": name,
                **t.as_json(),
                "tokens_by_day": [t.by_day.get(d, 0) for d in days],
                "month": b.month if b else None,
                "month_spent_tokens": spent,
                "budget_tokens": budget,
                "budget_used": round(spent / budget, 4) if budget else None,
                "month_spent_credits": credits_spent,
                "budget_credits": credit_budget,
                "credit_budget_used": round(credits_spent / credit_budget, 4) if credit_budget else None,
            }
        )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "team": team,
        "days": days,
        "totals": total.as_json(),
        "teams": team_items,
        "rows": [r.model_dump(mode="json") for r in rows],
    }


def to_csv(rows: list[UsageRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in rows:
        writer.writerow([getattr(r, name) for name in CSV_FIELDS])
    return buffer.getvalue()
