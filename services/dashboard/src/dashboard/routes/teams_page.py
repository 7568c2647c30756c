"""`GET /teams` (admin): usage per team for a date range, the month's budget as a bar, the team
keys, and a chart of tokens per day (drawn by `teams.js` with the dashboard's own chart code).

Server-rendered: the numbers are in the HTML; the chart data travels in a non-executable
`<script type="application/json">`. No inline script or style (the page's CSP forbids them):
budget bars are `<progress>` elements.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.deps import AppState
from dashboard.routes.keys import key_json, team_keys
from dashboard.routes.usage import usage_data
from dashboard.usage_report import UsageRangeError, report
from dashboard.views import STATIC, json_for_html

router = APIRouter()


def _n(value: int | float) -> str:
    return f"{value:,.0f}" if isinstance(value, int) or value == int(value) else f"{value:,.2f}"


def _limits(key: dict[str, Any]) -> str:
    limits = key.get("limits") or {}
    parts = [
        f"{_n(limits[k])} {label}"
        for k, label in (
            ("requests_per_minute", "req/min"),
            ("tokens_per_minute", "tok/min"),
            ("max_concurrent", "concurrent"),
            ("monthly_token_budget", "tok/month"),
            ("monthly_credit_budget", "credits/month"),
        )
        if limits.get(k) is not None
    ]
    return ", ".join(parts) or "unlimited"


def teams_page(body: dict[str, Any], keys: list[dict[str, Any]], error: str | None) -> str:
    totals = body["totals"]
    rows = []
    for t in body["teams"]:
        budget = t["budget_tokens"]
        used = t["month_spent_tokens"]
        if budget:
            bar = (
                f'<progress class="budget" max="{budget}" value="{min(used, budget)}" '
                f'aria-label="budget used by {escape(t["team"])}"></progress>'
                f'<span class="small"> {_n(used)} / {_n(budget)} ({round(100 * used / budget)}%)</span>'
            )
        else:
            bar = f'<span class="muted small">{_n(used)} tokens, no budget</span>'
        credit_budget = t.get("budget_credits")
        credits_used = t.get("month_spent_credits") or 0.0
        if credit_budget:
            bar += (
                f'<br><progress class="budget credit-budget" max="{credit_budget}" '
                f'value="{min(credits_used, credit_budget)}" '
                f'aria-label="credit budget used by {escape(t["team"])}"></progress>'
                f'<span class="small"> {_n(credits_used)} / {_n(credit_budget)} credits '
                f"({round(100 * credits_used / credit_budget)}%)</span>"
            )
        rows.append(
            f'<tr data-team="{escape(t["team"])}"><td>{escape(t["team"])}</td>'
            f"<td>{_n(t['requests'])}</td><td>{_n(t['errors'])}</td><td>{_n(t['rejected'])}</td>"
            f"<td>{_n(t['input_tokens'])}</td><td>{_n(t['output_tokens'])}</td>"
            f"<td>{_n(t['credits'])}</td><td>{bar}</td></tr>"
        )
    key_rows = [
        f"<tr><td><code>{escape(k['id'])}</code></td><td>{escape(k['team'])}</td><td>{escape(k['name'])}</td>"
        f"<td><code>{escape(k['hint'])}</code></td><td>{escape(', '.join(k['allowed_models']) or 'all')}</td>"
        f"<td>{escape(_limits(k))}</td><td>{escape(k['expires'] or '')}</td>"
        f'<td><span class="badge status-{escape(k["status"])}">{escape(k["status"])}</span></td></tr>'
        for k in keys
    ]
    chart = {
        "days": body["days"],
        "teams": [{"team": t["team"], "tokens": t["tokens_by_day"]} for t in body["teams"]],
    }
    cards = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{_n(value)}</div></div>'
        for label, value in (
            ("Requests", totals["requests"]),
            ("Errors", totals["errors"]),
            ("Rejected by limits", totals["rejected"]),
            ("Tokens in", totals["input_tokens"]),
            ("Tokens out", totals["output_tokens"]),
            ("Kiro credits", totals["credits"]),
        )
    )
    team_value = escape(body["team"] or "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Kiro2API · teams</title><link rel="stylesheet" href="{STATIC}/app.css">'
        '<link rel="icon" href="data:,"></head><body>'
        '<header class="top"><div class="brand"><span class="brand-mark">K</span> Kiro2API</div>'
        '<nav class="tabs"><a href="/#pool" class="tab">Pool</a><a href="/#traffic" class="tab">Traffic</a>'
        '<a href="/teams" class="tab" aria-selected="true" id="tab-teams">Teams</a></nav></header><main>'
        '<form method="get" action="/teams" class="filters" id="usage-filter">'
        f'<label>From <input type="date" name="from" value="{escape(body["from"])}"></label> '
        f'<label>To <input type="date" name="to" value="{escape(body["to"])}"></label> '
        f'<label>Team <input type="text" name="team" value="{team_value}" placeholder="all"></label> '
        '<button type="submit">Show</button> '
        f'<a href="/api/usage?format=csv&amp;from={escape(body["from"])}&amp;to={escape(body["to"])}'
        f'{"&amp;team=" + team_value if team_value else ""}" id="usage-csv">CSV</a></form>'
        + (f'<p class="banner" role="alert">{escape(error)}</p>' if error else "")
        + f'<div class="cards" id="usage-cards">{cards}</div>'
        '<div class="table-wrap"><table class="pool" id="teams-table"><thead><tr>'
        "<th>Team</th><th>Requests</th><th>Errors</th><th>Rejected</th><th>Tokens in</th>"
        "<th>Tokens out</th><th>Credits</th><th>Budget this month</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<figure class="chart" id="figure-team-tokens"><figcaption>Tokens per day by team</figcaption>'
        '<canvas id="chart-team-tokens" width="900" height="240"></canvas>'
        '<div class="legend" id="legend-team-tokens"></div></figure>'
        '<h2 class="small">Team keys</h2>'
        '<div class="table-wrap"><table class="pool" id="keys-table"><thead><tr>'
        "<th>Id</th><th>Team</th><th>Name</th><th>Key</th><th>Models</th><th>Limits</th><th>Expires</th>"
        f"<th>Status</th></tr></thead><tbody>{''.join(key_rows)}</tbody></table></div>"
        '<p class="muted small">Create, change and revoke keys with <code>/api/keys</code>; '
        "a key is shown once, when it is created.</p></main>"
        f'<script id="teams-data" type="application/json">{json_for_html(chart)}</script>'
        f'<script src="{STATIC}/charts.js"></script><script src="{STATIC}/teams.js"></script>'
        "</body></html>"
    )


@router.get("/teams", response_class=HTMLResponse)
async def teams(
    request: Request,
    state: AppState,
    team: str | None = Query(default=None, max_length=64),
    start: str | None = Query(default=None, alias="from"),
    end: str | None = Query(default=None, alias="to"),
) -> Response:
    if await state.admin.auth.identify(request) is None:
        return RedirectResponse("/?next=/teams", status_code=303)
    error = None
    try:
        rows, budgets, first, last = await usage_data(state, team or None, start, end)
    except UsageRangeError as exc:
        error = str(exc)
        rows, budgets, first, last = await usage_data(state, team or None, None, None)
    body = report(rows, budgets, first, last, team or None)
    keys = [key_json(k) for k in await team_keys(state, team or None)]
    return HTMLResponse(teams_page(state.redactor.scrub(body), keys, error))
