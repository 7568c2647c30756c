"""Server-rendered HTML of the dashboard: the login page and the pool / traffic page shell.

The page carries its first snapshot as JSON in a non-executable `<script type="application/json">`
(escaped so that no `</script>` can close it) and the session's CSRF token in a meta tag; the
static `dashboard.js` draws rows and charts from it and from the live event stream. No inline
script or style: the Content-Security-Policy allows this origin's files only.
"""

from __future__ import annotations

from html import escape
from typing import Any

import orjson

STATIC = "/static/dashboard"


def safe_next(value: str | None) -> str:
    """Only same-origin paths may follow a login (no `//host`, no scheme, no backslash)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def json_for_html(value: Any) -> str:
    raw = orjson.dumps(value).decode()
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _head(title: str, csrf_token: str | None = None) -> str:
    meta = f'<meta name="csrf-token" content="{escape(csrf_token)}">' if csrf_token else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{meta}"
        f'<link rel="stylesheet" href="{STATIC}/app.css"><link rel="icon" href="data:,">'
        "</head>"
    )


def login_page(next_path: str, error: str | None = None) -> str:
    message = f'<p class="form-error" role="alert" id="login-error">{escape(error)}</p>' if error else ""
    return (
        _head("Kiro2API · sign in") + '<body class="login-body"><main class="login-card">'
        '<h1><span class="brand-mark">K</span> Kiro2API</h1>'
        '<p class="muted">Administrator sign-in. Use the admin token (<code>KIRO_ADMIN_TOKEN</code>, '
        "or <code>KIRO_CLIENT_TOKEN</code> when no admin token is set).</p>"
        f"{message}"
        '<form method="post" action="/api/login" id="login-form">'
        f'<input type="hidden" name="next" value="{escape(safe_next(next_path))}">'
        '<label for="token">Admin token</label>'
        '<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>'
        '<button type="submit" class="primary">Sign in</button>'
        "</form></main></body></html>"
    )


def dashboard_page(*, csrf_token: str | None, oauth_enabled: bool, initial: dict[str, Any]) -> str:
    add_link = '<a href="/oauth" class="nav-link" id="nav-oauth">Add account</a>' if oauth_enabled else ""
    logout = (
        '<form method="post" action="/api/logout" class="logout">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
        '<button type="submit" class="ghost" id="logout">Sign out</button></form>'
        if csrf_token
        else ""
    )
    return (
        _head("Kiro2API · pool", csrf_token) + "<body>"
        '<header class="top"><div class="brand"><span class="brand-mark">K</span> Kiro2API</div>'
        '<nav class="tabs" role="tablist">'
        '<a href="#pool" class="tab" id="tab-pool" role="tab" data-view="pool">Pool</a>'
        '<a href="#traffic" class="tab" id="tab-traffic" role="tab" data-view="traffic">Traffic</a>'
        '<a href="/teams" class="nav-link" id="nav-teams">Teams</a>'
        f"{add_link}</nav>"
        '<div class="live"><span class="dot" id="live-dot"></span>'
        '<span id="live-text">connecting…</span></div>'
        f"{logout}</header>"
        "<main>"
        '<section id="view-pool" class="view" aria-label="Pool">'
        '<div class="cards" id="pool-cards"></div>'
        '<p class="banner hidden" id="pool-banner" role="status"></p>'
        '<div class="table-wrap"><table class="pool" id="pool-table"><thead><tr>'
        "<th>Credential</th><th>Status</th><th>In flight</th><th>Access token</th>"
        "<th>Credits</th><th>Last hour</th><th>Last error</th><th>Priority</th><th>Actions</th>"
        '</tr></thead><tbody id="pool-rows"></tbody></table></div>'
        '<p class="empty hidden" id="pool-empty">No credentials yet. '
        + (
            'Add one on the <a href="/oauth">accounts page</a> or set <code>KIRO_AUTH_TOKEN</code>.'
            if oauth_enabled
            else "Set <code>KIRO_AUTH_TOKEN</code>, or enable the accounts page "
            "with <code>OAUTH_ENABLED=true</code>."
        )
        + "</p></section>"
        '<section id="view-traffic" class="view hidden" aria-label="Traffic">'
        '<div class="cards" id="traffic-cards"></div>'
        '<div class="charts">'
        + "".join(
            f'<figure class="chart{" hidden" if name == "teams" else ""}" id="figure-{name}">'
            f"<figcaption>{escape(title)}</figcaption>"
            f'<canvas id="chart-{name}" width="560" height="220" data-chart="{name}"></canvas>'
            f'<div class="legend" id="legend-{name}"></div></figure>'
            for name, title in (
                ("rps", "Requests per second"),
                ("errors", "Error rate"),
                ("latency", "Latency (ms): p50 / p95 / p99"),
                ("ttft", "Time to first token (ms): p50 / p95 / p99"),
                ("queue", "Queue wait for an account (ms): p50 / p95 / p99"),
                ("tokens", "Tokens per 30 s: in / out"),
                ("models", "Requests per second by model"),
                ("teams", "Requests per second by team"),
            )
        )
        + "</div>"
        '<p class="muted small" id="traffic-note">'
        "Last hour, one point per 30 seconds, across every gateway replica.</p>"
        "</section></main>"
        '<dialog id="confirm-dialog"><form method="dialog"><p id="confirm-text"></p>'
        '<div class="dialog-actions"><button value="cancel" class="ghost" id="confirm-cancel">Cancel</button>'
        '<button value="ok" class="danger" id="confirm-ok">Delete</button></div></form></dialog>'
        '<div id="toast" class="toast hidden" role="status"></div>'
        f'<script id="initial-data" type="application/json">{json_for_html(initial)}</script>'
        f'<script src="{STATIC}/charts.js"></script><script src="{STATIC}/dashboard.js"></script>'
        "</body></html>"
    )
