"""Auth surfaces: social refresh (rotation, grace, revocation), OIDC refresh, device flow, PKCE login."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sim_helpers import FakeClock, SimClient, simple_request

INVALID_GRANT = {"error": "invalid_grant", "error_description": "Invalid refresh token provided"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/refreshToken", json={"refreshToken": token})


async def test_social_refresh_without_rotation(sim: SimClient) -> None:
    account = await sim.add_account(id="s1")
    r = await refresh(sim.http, account["refresh_token"])
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "expiresIn", "profileArn"]
    assert body["accessToken"].startswith("aoa") and len(body["accessToken"]) > 100
    assert body["refreshToken"] == account["refresh_token"]
    assert body["expiresIn"] == 3600
    assert body["profileArn"] == "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"
    assert (await sim.chat(simple_request(), body["accessToken"])).status_code == 200
    r2 = await refresh(sim.http, account["refresh_token"])
    assert r2.json()["accessToken"] != body["accessToken"]
    stats = (await sim.stats())["accounts"]["s1"]
    assert stats["refresh_calls"] == 2
    assert stats["refresh_calls_by_token"] == {account["refresh_token"]: 2}


async def test_generated_refresh_tokens_look_real(sim: SimClient) -> None:
    account = await sim.add_account()
    assert account["refresh_token"].startswith("aor") and len(account["refresh_token"]) >= 100


async def test_rotation_invalidates_the_old_token(sim: SimClient) -> None:
    account = await sim.add_account(id="s1", rotate_refresh=True)
    old = account["refresh_token"]
    first = (await refresh(sim.http, old)).json()
    assert first["refreshToken"] != old and first["refreshToken"].startswith("aor")
    r = await refresh(sim.http, old)
    assert (r.status_code, r.json()) == (400, INVALID_GRANT)
    second = await refresh(sim.http, first["refreshToken"])
    assert second.status_code == 200
    stats = (await sim.stats())["accounts"]["s1"]
    assert stats["refresh_calls_by_token"] == {old: 2, first["refreshToken"]: 1}
    assert stats["rejections"] == {"invalid_grant": 1}
    view = (await sim.http.get("/_sim/accounts/s1")).json()
    assert view["refresh_token"] == second.json()["refreshToken"]


async def test_rotation_grace_period(sim: SimClient, clock: FakeClock) -> None:
    account = await sim.add_account(id="s1", rotate_refresh=True, refresh_grace_seconds=30)
    old = account["refresh_token"]
    assert (await refresh(sim.http, old)).status_code == 200
    clock.advance(29)
    assert (await refresh(sim.http, old)).status_code == 200
    clock.advance(2)
    assert (await refresh(sim.http, old)).status_code == 400


async def test_revoked_and_unknown_tokens(sim: SimClient) -> None:
    account = await sim.add_account(id="s1")
    r = await sim.http.post("/_sim/accounts/s1/revoke")
    assert r.json() == {"revoked": account["refresh_token"]}
    for token in (account["refresh_token"], "aorUnknown"):
        r = await refresh(sim.http, token)
        assert (r.status_code, r.json()) == (400, INVALID_GRANT)
    assert (await refresh(sim.http, "")).status_code == 400


async def test_access_token_expiry(sim: SimClient, clock: FakeClock) -> None:
    account = await sim.add_account(id="s1", access_token_ttl=100)
    token = (await refresh(sim.http, account["refresh_token"])).json()
    assert token["expiresIn"] == 100
    clock.advance(99)
    assert (await sim.chat(simple_request(), token["accessToken"])).status_code == 200
    clock.advance(1)
    r = await sim.chat(simple_request(), token["accessToken"])
    assert r.status_code == 403 and "bearer token" in r.json()["message"]
    fresh = await sim.access_token("s1")
    assert (await sim.http.post("/_sim/accounts/s1/expire-access-tokens")).json() == {"expired": 1}
    assert (await sim.chat(simple_request(), fresh)).status_code == 403


async def test_refresh_fault_script(sim: SimClient) -> None:
    account = await sim.add_account(id="s1")
    await sim.script(account_id="s1", mode="fault", surface="refresh", times=2, script={"error": "internal"})
    assert (await refresh(sim.http, account["refresh_token"])).status_code == 500
    assert (await refresh(sim.http, account["refresh_token"])).status_code == 500
    assert (await refresh(sim.http, account["refresh_token"])).status_code == 200


async def test_oidc_refresh(sim: SimClient) -> None:
    account = await sim.add_account(id="i1", auth="idc", rotate_refresh=True)
    social = await sim.add_account(id="s1")
    good: dict[str, Any] = {
        "clientId": account["client_id"],
        "clientSecret": account["client_secret"],
        "refreshToken": account["refresh_token"],
        "grantType": "refresh_token",
    }
    r = await sim.http.post("/token", json={**good, "clientSecret": "wrong"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    assert r.headers["x-amzn-errortype"] == "InvalidClientException"
    r = await sim.http.post("/token", json={**good, "refreshToken": social["refresh_token"]})
    assert (r.status_code, r.json()) == (400, INVALID_GRANT)
    r = await sim.http.post("/token", json={**good, "grantType": "password"})
    assert r.json()["error"] == "unsupported_grant_type"
    r = await sim.http.post("/token", json=good)
    assert r.status_code == 200
    body = r.json()
    assert body["tokenType"] == "Bearer" and body["refreshToken"] != account["refresh_token"]
    assert "profileArn" not in body
    idc_request = simple_request()
    del idc_request["profileArn"]
    assert (await sim.chat(idc_request, body["accessToken"])).status_code == 200
    r = await sim.http.post("/token", json=good)
    assert (r.status_code, r.json()) == (400, INVALID_GRANT)
    # a social refresh token is not accepted by the OIDC endpoint and vice versa
    r = await refresh(sim.http, body["refreshToken"])
    assert r.status_code == 400


async def _register(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.post(
        "/client/register",
        json={"clientName": "Kiro IDE", "clientType": "public", "scopes": ["codewhisperer:completions"]},
    )
    assert r.status_code == 200
    reg: dict[str, Any] = r.json()
    assert set(reg) == {"clientId", "clientSecret", "clientIdIssuedAt", "clientSecretExpiresAt"}
    return reg


async def _start_device(http: httpx.AsyncClient, reg: dict[str, Any]) -> dict[str, Any]:
    r = await http.post(
        "/device_authorization",
        json={
            "clientId": reg["clientId"],
            "clientSecret": reg["clientSecret"],
            "startUrl": "https://view.awsapps.com/start",
        },
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _poll(http: httpx.AsyncClient, reg: dict[str, Any], dev: dict[str, Any]) -> httpx.Response:
    return await http.post(
        "/token",
        json={
            "clientId": reg["clientId"],
            "clientSecret": reg["clientSecret"],
            "deviceCode": dev["deviceCode"],
            "grantType": DEVICE_GRANT,
        },
    )


async def test_device_flow_pending_slow_down_approve(sim: SimClient, clock: FakeClock) -> None:
    reg = await _register(sim.http)
    dev = await _start_device(sim.http, reg)
    code = dev["userCode"]
    assert len(code) == 9 and code[4] == "-" and code.replace("-", "").isupper()
    assert dev["verificationUri"] == "http://sim.test/device"
    assert dev["verificationUriComplete"] == f"http://sim.test/device?user_code={code}"
    assert (dev["expiresIn"], dev["interval"]) == (600, 5)
    page = await sim.http.get("/device", params={"user_code": code})
    assert page.status_code == 200 and code in page.text

    r = await _poll(sim.http, reg, dev)
    assert (r.status_code, r.json()["error"]) == (400, "authorization_pending")
    r = await _poll(sim.http, reg, dev)
    assert r.json()["error"] == "slow_down"
    clock.advance(9)  # interval is now 10 s
    assert (await _poll(sim.http, reg, dev)).json()["error"] == "slow_down"
    clock.advance(15)
    assert (await _poll(sim.http, reg, dev)).json()["error"] == "authorization_pending"

    r = await sim.http.post("/_sim/device/approve", json={"user_code": code.lower()})
    assert r.json() == {"user_code": code, "status": "approved"}
    clock.advance(15)
    r = await _poll(sim.http, reg, dev)
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["tokenType"] == "Bearer"
    clock.advance(15)
    assert (await _poll(sim.http, reg, dev)).json()["error"] == "invalid_grant"

    # the new IdC account refreshes with the registered client
    r = await sim.http.post(
        "/token",
        json={
            "clientId": reg["clientId"],
            "clientSecret": reg["clientSecret"],
            "refreshToken": tokens["refreshToken"],
            "grantType": "refresh_token",
        },
    )
    assert r.status_code == 200
    accounts = (await sim.http.get("/_sim/accounts")).json()["accounts"]
    assert [a["auth"] for a in accounts] == ["idc"]


async def test_device_flow_poll_interval_rule_can_be_switched_off(sim: SimClient) -> None:
    reg = await _register(sim.http)
    dev = await _start_device(sim.http, reg)
    await sim.rules(device_poll_interval=False)
    for _ in range(3):
        assert (await _poll(sim.http, reg, dev)).json()["error"] == "authorization_pending"


async def test_device_flow_denied_and_expired(sim: SimClient, clock: FakeClock) -> None:
    reg = await _register(sim.http)
    denied = await _start_device(sim.http, reg)
    assert (
        await sim.http.post("/_sim/device/deny", json={"user_code": denied["userCode"]})
    ).status_code == 200
    assert (await _poll(sim.http, reg, denied)).json()["error"] == "access_denied"
    again = await sim.http.post("/_sim/device/approve", json={"user_code": denied["userCode"]})
    assert again.status_code == 409

    expiring = await _start_device(sim.http, reg)
    clock.advance(601)
    assert (await _poll(sim.http, reg, expiring)).json()["error"] == "expired_token"
    assert (await sim.http.post("/_sim/device/approve", json={"user_code": "XXXX-XXXX"})).status_code == 404


async def test_device_flow_page_and_existing_account(sim: SimClient, clock: FakeClock) -> None:
    reg = await _register(sim.http)
    dev = await _start_device(sim.http, reg)
    r = await sim.http.post(
        "/device",
        content=f"user_code={dev['userCode']}&action=approve",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "approved" in r.text
    assert (await _poll(sim.http, reg, dev)).status_code == 200

    await sim.add_account(id="i9", auth="idc")
    dev = await _start_device(sim.http, reg)
    await sim.http.post("/_sim/device/approve", json={"user_code": dev["userCode"], "account_id": "i9"})
    tokens = (await _poll(sim.http, reg, dev)).json()
    view = (await sim.http.get("/_sim/accounts/i9")).json()
    assert view["refresh_token"] == tokens["refreshToken"] and view["client_id"] == reg["clientId"]


async def test_device_authorization_needs_a_registered_client(sim: SimClient) -> None:
    r = await sim.http.post(
        "/device_authorization", json={"clientId": "x", "clientSecret": "y", "startUrl": "u"}
    )
    assert r.json()["error"] == "invalid_client"
    r = await sim.http.post("/client/register", json={"clientName": "x", "clientType": "confidential"})
    assert r.json()["error"] == "invalid_request"


def _pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 32).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


REDIRECT = "kiro://kiro.kiroAgent/authenticate-success"


async def test_social_pkce_login(sim: SimClient) -> None:
    verifier, challenge = _pkce()
    params = {
        "idp": "Google",
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-1",
    }
    r = await sim.http.get("/login", params=params)
    assert r.status_code == 302
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    code = query["code"][0]

    bad = await sim.http.post(
        "/oauth/token", json={"code": code, "code_verifier": "wrong", "redirect_uri": REDIRECT}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    exchange = {"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
    r = await sim.http.post("/oauth/token", json=exchange)
    assert r.status_code == 200
    tokens = r.json()
    assert set(tokens) == {"accessToken", "refreshToken", "profileArn", "expiresIn"}
    assert (await sim.chat(simple_request(), tokens["accessToken"])).status_code == 200
    assert (await refresh(sim.http, tokens["refreshToken"])).status_code == 200
    assert (await sim.http.post("/oauth/token", json=exchange)).status_code == 400  # one-time code
    accounts = (await sim.http.get("/_sim/accounts")).json()["accounts"]
    assert [a["auth"] for a in accounts] == ["social"]


async def test_login_validation_and_redirect_rule(sim: SimClient) -> None:
    _, challenge = _pkce()
    base = {"idp": "Github", "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}
    loopback = "http://127.0.0.1:9000/callback"
    assert (await sim.http.get("/login", params={**base, "redirect_uri": loopback})).status_code == 400
    assert (
        await sim.http.get("/login", params={**base, "idp": "Twitter", "redirect_uri": REDIRECT})
    ).status_code == 400
    bad_method = {**base, "code_challenge_method": "plain", "redirect_uri": REDIRECT}
    assert (await sim.http.get("/login", params=bad_method)).status_code == 400
    await sim.rules(login_redirect_uri=False)
    r = await sim.http.get("/login", params={**base, "redirect_uri": loopback})
    assert r.status_code == 302 and r.headers["location"].startswith(loopback + "?code=")


async def test_login_can_target_an_existing_account(sim: SimClient) -> None:
    account = await sim.add_account(id="s1")
    assert (await sim.http.post("/_sim/login/next", json={"account_id": "s1"})).status_code == 200
    verifier, challenge = _pkce()
    r = await sim.http.get(
        "/login",
        params={
            "idp": "Google",
            "redirect_uri": REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "x",
        },
    )
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    tokens = (
        await sim.http.post(
            "/oauth/token", json={"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
        )
    ).json()
    assert tokens["refreshToken"] != account["refresh_token"]
    assert (await refresh(sim.http, account["refresh_token"])).status_code == 400  # replaced by the login
    assert (await sim.http.get("/_sim/accounts/s1")).json()["refresh_token"] == tokens["refreshToken"]
