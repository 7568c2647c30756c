"""The dashboard over real HTTP with real NATS and Redis: login, cookies, CSRF, bearer auth,
actions, `/api/tokens`, health endpoints and security headers."""

from __future__ import annotations

import re

import httpx
import pytest
from dashboard_testkit import ADMIN_TOKEN, CLIENT_TOKEN, FakeBroker

from kiro_admin import COOKIE_NAME

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def _login(client: httpx.AsyncClient, token: str = ADMIN_TOKEN, next_path: str = "/") -> httpx.Response:
    return await client.post("/api/login", data={"token": token, "next": next_path})


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page carries the session's CSRF token"
    return match.group(1)


async def test_login_page_logout_and_revocation(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        page = await client.get("/")
        assert page.status_code == 200 and 'action="/api/login"' in page.text
        assert "pool-rows" not in page.text

        wrong = await _login(client, "nope")
        assert wrong.status_code == 401 and "Wrong admin token" in wrong.text
        assert COOKIE_NAME not in wrong.cookies

        ok = await _login(client, next_path="/oauth")
        assert ok.status_code == 303 and ok.headers["location"] == "/oauth"
        set_cookie = ok.headers["set-cookie"]
        assert f"{COOKIE_NAME}=" in set_cookie
        for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert flag.lower() in set_cookie.lower()
        assert ADMIN_TOKEN not in set_cookie
        cookie = ok.cookies[COOKIE_NAME]

        page = await client.get("/")
        assert page.status_code == 200 and "pool-rows" in page.text
        csrf = _csrf(page.text)

        # logout needs the CSRF token too
        refused = await client.post("/api/logout")
        assert refused.status_code == 403
        out = await client.post("/api/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        # the old cookie no longer works, even if replayed
        client.cookies.clear()
        replay = await client.get("/api/tokens", headers={"cookie": f"{COOKIE_NAME}={cookie}"})
        assert replay.status_code == 401


async def test_open_redirect_after_login_is_refused(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        for evil in ("//evil.example", "https://evil.example/", "/\\evil.example"):
            resp = await _login(client, next_path=evil)
            assert resp.headers["location"] == "/"


async def test_bearer_auth_and_wrong_tokens(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        assert (await client.get("/api/tokens")).status_code == 401
        wrong = await client.get("/api/tokens", headers={"authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"
        # the client key is not an admin key when KIRO_ADMIN_TOKEN is set
        client_key = await client.get("/api/tokens", headers={"authorization": f"Bearer {CLIENT_TOKEN}"})
        assert client_key.status_code == 401
        assert (await client.get("/api/tokens", headers=BEARER)).status_code == 200
        # a forged cookie is refused
        forged = await client.get("/api/tokens", headers={"cookie": f"{COOKIE_NAME}=v1.abc.9999999999.sig"})
        assert forged.status_code == 401


async def test_tokens_api_shape(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER) as client:
        body = (await client.get("/api/tokens")).json()
    assert body["total_tokens"] == 2 and body["active_tokens"] == 1
    assert body["pool_stats"]["by_status"] == {"active": 1, "cooling_down": 1}
    first = body["tokens"][0]
    assert first["id"] == "cred-a" and first["status"] == "active" and first["auth_type"] == "Social"
    assert first["token_preview"] == "sha256:0123456789"
    assert first["usage"]["limit"] == 555 and first["usage"]["remaining"] == 525
    assert first["expires_at"].endswith("Z") and 0 < first["expires_in_s"] <= 3000
    assert body["tokens"][1]["usage"] is None


async def test_actions_need_csrf_with_a_cookie_but_not_with_bearer(
    dashboard_url: str, broker: FakeBroker
) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        await _login(client)
        csrf = _csrf((await client.get("/")).text)

        no_token = await client.post("/api/credentials/cred-a/disable")
        assert no_token.status_code == 403 and no_token.json()["error"]["type"] == "permission_error"
        wrong = await client.post(
            "/api/credentials/cred-a/disable", headers={"x-csrf-token": csrf[:-2] + "xx"}
        )
        assert wrong.status_code == 403
        assert broker.actions == []

        ok = await client.post("/api/credentials/cred-a/disable", headers={"x-csrf-token": csrf})
        assert ok.status_code == 200 and ok.json()["ok"] is True
        assert broker.creds["cred-a"].status == "disabled"
        # the form field works too
        form = await client.post("/api/credentials/cred-a/enable", data={"csrf_token": csrf})
        assert form.status_code == 200

    async with httpx.AsyncClient(base_url=dashboard_url, headers=BEARER) as client:
        prio = await client.post("/api/credentials/cred-b/priority", json={"priority": 7})
        assert prio.status_code == 200
        assert broker.creds["cred-b"].priority == 7
        bad = await client.post("/api/credentials/cred-b/priority", json={"priority": "high"})
        assert bad.status_code == 400
        usage = await client.post("/api/credentials/cred-b/check-usage")
        assert usage.status_code == 200
        missing = await client.post("/api/credentials/nope/refresh")
        assert missing.status_code == 409 and missing.json() == {
            "ok": False,
            "message": "unknown credential 'nope'",
        }
        unknown_action = await client.post("/api/credentials/cred-b/explode")
        assert unknown_action.status_code == 422
        deleted = await client.delete("/api/credentials/cred-b")
        assert deleted.status_code == 200 and "cred-b" not in broker.creds
    kinds = [a.action for a in broker.actions]
    assert kinds == ["disable", "enable", "set_priority", "check_usage", "refresh", "delete"]


async def test_health_metrics_and_headers(dashboard_url: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        await client.get("/")
        assert (await client.get("/metrics")).status_code == 401  # the admin key, here
        metrics = (await client.get("/metrics", headers=BEARER)).text
        assert "dashboard_http_requests_total" in metrics
        page = await client.get("/")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        for asset in ("app.css", "dashboard.js", "charts.js"):
            resp = await client.get(f"/static/dashboard/{asset}")
            assert resp.status_code == 200 and len(resp.content) > 500


@pytest.mark.parametrize("path", ["/api/pool", "/api/traffic", "/api/events"])
async def test_every_api_path_needs_admin(dashboard_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=dashboard_url) as client:
        assert (await client.get(path)).status_code == 401
