"""`GET /api/usage` (admin): team usage per day, team, key and model, JSON or CSV.

Query: `team` (one team), `from` / `to` (UTC dates, both included; default the current month),
`format=json|csv` (or `Accept: text/csv`). JSON: `totals`, `teams` (sums, tokens per day, the
month's spend against the budget) and `rows`; CSV: one line per row, header first.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from dashboard.deps import Admin, AppState, ask
from dashboard.usage_report import UsageRangeError, month_chunks, parse_range, report, to_csv
from kiroproto.bus import USAGE_QUERY, TeamBudget, UsageQuery, UsageRow

router = APIRouter(prefix="/api")


async def usage_data(
    state: AppState, team: str | None, start: str | None, end: str | None
) -> tuple[list[UsageRow], list[TeamBudget], date, date]:
    first, last = parse_range(start, end)
    rows: list[UsageRow] = []
    budgets: list[TeamBudget] = []
    for a, b in month_chunks(first, last):
        query = UsageQuery(start=a.isoformat(), end=b.isoformat(), team=team)
        result = await ask(state, USAGE_QUERY, query)
        rows.extend(result.rows)
        budgets = list(result.budgets)
    return rows, budgets, first, last


@router.get("/usage")
async def usage(
    request: Request,
    state: AppState,
    _admin: Admin,
    team: str | None = Query(default=None, max_length=64),
    start: str | None = Query(default=None, alias="from"),
    end: str | None = Query(default=None, alias="to"),
    fmt: str | None = Query(default=None, alias="format", pattern="^(json|csv)$"),
) -> Response:
    try:
        rows, budgets, first, last = await usage_data(state, team or None, start, end)
    except UsageRangeError as exc:
        return JSONResponse(
            {"error": {"type": "invalid_request_error", "message": str(exc)}}, status_code=400
        )
    wants_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        name = f"kiro-usage-{team or 'all'}-{first}-{last}.csv"
        return Response(
            to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    body = report(rows, budgets, first, last, team or None)
    return JSONResponse(state.redactor.scrub(body))
