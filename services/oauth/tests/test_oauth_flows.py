"""The login flows over real HTTP against the project's Kiro simulator, with real NATS and Redis:
device authorization (Builder ID, IAM Identity Center), social login with a pasted redirect URL,
import; the credential reaches the broker over the bus with what refresh needs."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from oauth_testkit import ADMIN_TOKEN, FakeBroker
from redis.asyncio import Redis

from kiro_admin import COOKIE_NAME, AdminAuth, AdminKeys, SessionCodec
from kiro_oauth import Settings, create_app
from kiro_oauth.flows import DeviceFlow
from kiro_oauth.metrics import create_metrics
from kiro_oauth.service import OAuthService
from kiro_oauth.upstream import PollError
from kiro_testing.inloop import serve

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def _poll_until_done(client: httpx.AsyncClient, flow_id: str, within: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        resp = await client.post(f"/oauth/api/device/{flow_id}/poll")
        assert resp.status_code == 200, resp.text
        flow: dict[str, Any] = resp.json()
        if flow["status"] != "pending":
            return flow
        assert time.monotonic() < deadline, flow
        await asyncio.sleep(max(0.05, min(flow["retry_in"], 0.5)))


async def test_builder_id_device_flow(settings: Settings, broker: FakeBroker, sim_url: str) -> None:
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        started = await client.post("/oauth/api/device/start", json={"kind": "builder_id"})
        assert started.status_code == 200, started.text
        flow = started.json()
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", flow["user_code"])
        assert flow["verification_uri_complete"].startswith(sim_url)
        assert "client_secret" not in flow and "device_code" not in flow

        # polled before approval (and never faster than the interval): still pending
        pending = (await client.post(f"/oauth/api/device/{flow['flow_id']}/poll")).json()
        assert pending["status"] == "pending"

        async with httpx.AsyncClient(base_url=sim_url) as sim:
            approved = await sim.post("/_sim/device/approve", json={"user_code": flow["user_code"]})
            assert approved.status_code == 200, approved.text
        done = await _poll_until_done(client, flow["flow_id"])
        assert done["status"] == "done", done
        [added] = broker.added
        cred = added.credential
        assert added.verify is True
        assert cred.auth == "IdC" and cred.client_id and cred.client_secret and cred.refresh_token
        assert cred.region == "us-east-1" and cred.start_url == "https://view.awsapps.com/start"
        assert done["credential_id"] == cred.identity

        # the ended flow keeps its outcome (for the page's last poll) and no secret
        again = (await client.post(f"/oauth/api/device/{flow['flow_id']}/poll")).json()
        assert again["status"] == "done"


async def test_idc_device_flow_denied_and_validation(
    settings: Settings, broker: FakeBroker, sim_url: str
) -> None:
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        bad = await client.post(
            "/oauth/api/device/start", json={"kind": "idc", "start_url": "nope", "region": "x"}
        )
        assert bad.status_code == 400 and "start URL" in bad.json()["error"]["message"]
        started = await client.post(
            "/oauth/api/device/start",
            json={
                "kind": "idc",
                "start_url": "https://d-1234567890.awsapps.com/start",
                "region": "eu-central-1",
            },
        )
        flow = started.json()
        async with httpx.AsyncClient(base_url=sim_url) as sim:
            await sim.post("/_sim/device/deny", json={"user_code": flow["user_code"]})
        ended = await _poll_until_done(client, flow["flow_id"])
        assert ended["status"] == "denied" and "refused" in ended["message"]
        assert broker.added == []
        missing = await client.post("/oauth/api/device/unknownflow123/poll")
        assert missing.status_code == 404


async def test_device_flow_broker_rejection_is_reported(
    settings: Settings, broker: FakeBroker, sim_url: str
) -> None:
    broker.reject = "refresh failed: invalid_grant"
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        flow = (await client.post("/oauth/api/device/start", json={"kind": "builder_id"})).json()
        async with httpx.AsyncClient(base_url=sim_url) as sim:
            await sim.post("/_sim/device/approve", json={"user_code": flow["user_code"]})
        ended = await _poll_until_done(client, flow["flow_id"])
        assert ended["status"] == "error" and "invalid_grant" in ended["message"]


async def test_social_login_with_pasted_redirect(
    settings: Settings, broker: FakeBroker, sim_url: str
) -> None:
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        started = (await client.post("/oauth/api/social/start", json={"idp": "Google"})).json()
        assert started["login_url"].startswith(f"{sim_url}/login?idp=Google&redirect_uri=kiro%3A%2F%2F")
        async with httpx.AsyncClient() as browser:  # the user's browser: the portal redirects to kiro://
            portal = await browser.get(started["login_url"], follow_redirects=False)
        assert portal.status_code == 302
        pasted = portal.headers["location"]
        assert pasted.startswith("kiro://kiro.kiroAgent/authenticate-success?")

        done = await client.post("/oauth/api/social/complete", json={"redirect_url": pasted})
        assert done.status_code == 200, done.text
        [added] = broker.added
        assert added.credential.auth == "Social" and added.credential.profile_arn
        assert done.json() == {"ok": True, "credential_id": added.credential.identity, "message": None}

        # the state is used once
        replay = await client.post("/oauth/api/social/complete", json={"redirect_url": pasted})
        assert replay.status_code == 404 and "state" in replay.json()["error"]["message"]


async def test_social_login_with_foreign_state_is_refused(settings: Settings, broker: FakeBroker) -> None:
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        await client.post("/oauth/api/social/start", json={"idp": "Github"})
        forged = "kiro://kiro.kiroAgent/authenticate-success?code=abc&state=not-ours"
        resp = await client.post("/oauth/api/social/complete", json={"redirect_url": forged})
        assert resp.status_code == 404
        bad = await client.post("/oauth/api/social/complete", json={"redirect_url": "https://x/?foo=1"})
        assert bad.status_code == 400
    assert broker.added == []


async def test_import(settings: Settings, broker: FakeBroker) -> None:
    body = {
        "credentials": '[{"auth": "Social", "refreshToken": "aorAAAAAGimported"}, {"auth": "IdC", '
        '"refreshToken": "aorAAAAAGidc"}]'
    }
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, headers=BEARER) as client:
        resp = await client.post("/oauth/api/import", json=body)
    assert resp.status_code == 422  # one of two failed
    results = resp.json()["results"]
    assert results[0]["ok"] is True and results[1]["ok"] is False
    assert "clientId" in results[1]["message"]
    assert [a.credential.refresh_token for a in broker.added] == ["aorAAAAAGimported"]


async def test_disabled_page_is_404_and_auth_rules(settings: Settings, broker: FakeBroker) -> None:
    off = settings.model_copy(update={"oauth_enabled": False})
    async with serve(create_app(off)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/oauth", headers=BEARER)).status_code == 404
        assert (
            await client.post("/oauth/api/social/start", headers=BEARER, json={"idp": "Google"})
        ).status_code == 404
        assert (await client.get("/healthz")).status_code == 200

    async with serve(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            anonymous = await client.get("/oauth")
            assert anonymous.status_code == 303 and anonymous.headers["location"] == "/?next=/oauth"
            assert (await client.post("/oauth/api/social/start", json={"idp": "Google"})).status_code == 401
            wrong = await client.post(
                "/oauth/api/social/start", json={"idp": "Google"}, headers={"authorization": "Bearer wrong"}
            )
            assert wrong.status_code == 401

            # one login serves the oauth page: a session made by kiro_admin's sign-in (the one the
            # dashboard's /api/login runs; through the real dashboard: tests/integration)
            client.cookies.set(COOKIE_NAME, await _sign_in(settings))
            page = await client.get("/oauth")
            assert page.status_code == 200 and "Builder ID" in page.text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert csrf
            no_csrf = await client.post("/oauth/api/social/start", json={"idp": "Google"})
            assert no_csrf.status_code == 403
            ok = await client.post(
                "/oauth/api/social/start", json={"idp": "Google"}, headers={"x-csrf-token": csrf.group(1)}
            )
            assert ok.status_code == 200
            for asset in ("oauth.js", "app.css"):
                assert (await client.get(f"/oauth/static/{asset}")).status_code == 200


async def _sign_in(settings: Settings) -> str:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        auth = AdminAuth(SessionCodec(ADMIN_TOKEN), redis, AdminKeys(settings.kiro_redis_prefix), 600)
        cookie = await auth.login(ADMIN_TOKEN)
    finally:
        await redis.aclose()
    assert cookie is not None
    return cookie


def _flow(**changes: Any) -> DeviceFlow:
    base: dict[str, Any] = {
        "id": "f" * 10,
        "kind": "builder_id",
        "region": "us-east-1",
        "start_url": "https://view.awsapps.com/start",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://x/",
        "expires_at": 2000.0,
        "interval": 5,
        "next_poll_at": 1005.0,
        "client_id": "c",
        "client_secret": "s",
        "device_code": "d",
    }
    base.update(changes)
    return DeviceFlow(**base)


@pytest.mark.parametrize(
    ("error", "status", "interval", "next_poll_at"),
    [
        ("authorization_pending", "pending", 5, 1005.0),
        ("slow_down", "pending", 10, 1010.0),
        ("expired_token", "expired", 5, None),
        ("access_denied", "denied", 5, None),
        ("invalid_client", "error", 5, None),
    ],
)
def test_poll_answers(error: str, status: str, interval: int, next_poll_at: float | None) -> None:
    # only the decision on one poll answer is under test: no I/O parts needed
    service = OAuthService(None, None, None, None, create_metrics())  # type: ignore[arg-type]
    flow = service._on_poll_error(_flow(), PollError(error=error), now=1000.0)
    assert flow.status == status
    assert flow.interval == interval
    if next_poll_at is not None:
        assert flow.next_poll_at == next_poll_at
    else:
        assert flow.client_secret is None and flow.device_code is None  # secrets dropped at the end
