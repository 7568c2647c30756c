"""The usage report of `/api/usage` and the teams page (pure): ranges, month chunks, totals, CSV."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard.routes.keys import KeyBody, key_json
from dashboard.usage_report import UsageRangeError, month_chunks, parse_range, report, to_csv
from kiroproto.bus import KeyLimits, TeamBudget, TeamKey, UsageRow


def row(day: str, team: str, **n: int) -> UsageRow:
    return UsageRow(day=day, team=team, key_id="key_1", model="claude-sonnet-4.5", **n)


def test_ranges() -> None:
    assert parse_range(None, None, today=date(2026, 3, 17)) == (date(2026, 3, 1), date(2026, 3, 17))
    assert parse_range("2026-01-30", "2026-02-02") == (date(2026, 1, 30), date(2026, 2, 2))
    with pytest.raises(UsageRangeError, match="before"):
        parse_range("2026-02-02", "2026-01-30")
    with pytest.raises(UsageRangeError, match="366"):
        parse_range("2024-01-01", "2026-01-01")
    with pytest.raises(UsageRangeError, match="dates like"):
        parse_range("soon", None)
    chunks = month_chunks(date(2026, 1, 30), date(2026, 3, 2))
    assert chunks == [
        (date(2026, 1, 30), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 2)),
    ]


def test_report_totals_budgets_and_csv() -> None:
    rows = [
        row("2026-03-01", "red", requests=2, input_tokens=10, output_tokens=5),
        row("2026-03-02", "red", requests=1, errors=1, input_tokens=3),
        row("2026-03-02", "blue", requests=4, rejected=2, output_tokens=7, web_search_requests=3),
    ]
    budgets = [
        TeamBudget(team="red", month="2026-03", spent_tokens=18, budget_tokens=36),
        TeamBudget(team="green", month="2026-03", spent_tokens=0),
    ]
    body = report(rows, budgets, date(2026, 3, 1), date(2026, 3, 2), None)
    assert body["totals"] == {
        "requests": 7,
        "errors": 1,
        "rejected": 2,
        "input_tokens": 13,
        "output_tokens": 12,
        "total_tokens": 25,
        "credits": 0.0,
        "web_search_requests": 3,
    }
    teams = {t["team"]: t for t in body["teams"]}
    assert set(teams) == {"red", "blue", "green"}
    assert teams["red"]["tokens_by_day"] == [15, 3] and teams["red"]["budget_used"] == 0.5
    assert teams["blue"]["budget_tokens"] is None and teams["green"]["requests"] == 0
    lines = to_csv(rows).splitlines()
    header = "day,team,key_id,model,requests,errors,rejected,input_tokens,output_tokens,credits"
    assert lines[0] == header + ",web_search_requests"
    assert lines[1] == "2026-03-01,red,key_1,claude-sonnet-4.5,2,0,0,10,5,0.0,0"
    assert lines[3] == "2026-03-02,blue,key_1,claude-sonnet-4.5,4,0,2,0,7,0.0,3"


def test_key_bodies_and_rendering() -> None:
    body = KeyBody.model_validate(
        {"team": "red", "requests_per_minute": 5, "expires_at": "2030-01-01T00:00:00Z"}
    )
    assert body.merged_limits() == KeyLimits(requests_per_minute=5)
    assert body.expires_at == 1893456000.0
    patch = KeyBody.model_validate({"max_concurrent": 2})
    assert patch.merged_limits(KeyLimits(requests_per_minute=5)) == KeyLimits(
        requests_per_minute=5, max_concurrent=2
    )
    assert KeyBody.model_validate({"name": "x"}).merged_limits() is None
    key = TeamKey(id="key_1", team="red", hint="sk-kiro-…abcd", created_at=0.0, expires_at=10.0)
    assert key_json(key, now=5.0)["status"] == "active"
    assert key_json(key, now=11.0)["status"] == "expired"
    assert key_json(key.model_copy(update={"revoked_at": 1.0}), now=5.0)["status"] == "revoked"
