"""Usage limits, model list, MCP, quota (402) and suspension (403)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sim_helpers import SOCIAL_ARN, FakeClock, SimClient, decode, interpret, simple_request

USAGE = {"origin": "AI_EDITOR", "resourceType": "AGENTIC_REQUEST"}


async def usage(sim: SimClient, token: str, **extra: str) -> Any:
    return await sim.http.get(
        "/getUsageLimits", params={**USAGE, **extra}, headers={"authorization": f"Bearer {token}"}
    )


async def test_usage_limits_shape_and_credits(sim: SimClient, clock: FakeClock) -> None:
    _, token = await sim.account_with_token(id="a1", credits_limit=50, trial_credits=500, bonus_credits=100)
    r = await usage(sim, token)
    assert r.status_code == 200
    body = r.json()
    assert {
        "daysUntilReset",
        "nextDateReset",
        "limits",
        "overageConfiguration",
        "subscriptionInfo",
        "usageBreakdownList",
        "userInfo",
    } <= set(body)
    (entry,) = body["usageBreakdownList"]
    assert entry["resourceType"] == "CREDIT"
    assert entry["usageLimitWithPrecision"] == 50.0 and entry["currentUsageWithPrecision"] == 0
    assert isinstance(entry["nextDateReset"], float) and entry["nextDateReset"] > clock.now
    assert entry["freeTrialInfo"]["freeTrialStatus"] == "ACTIVE"
    assert entry["freeTrialInfo"]["usageLimitWithPrecision"] == 500.0
    assert (
        entry["bonuses"][0]["status"] == "ACTIVE" and entry["bonuses"][0]["usageLimitWithPrecision"] == 100.0
    )
    assert body["userInfo"]["email"] is None
    assert (await usage(sim, token, isEmailRequired="true")).json()["userInfo"]["email"] == "a1@example.com"

    await sim.http.patch("/_sim/accounts/a1", json={"credits_used": 620.5})
    entry = (await usage(sim, token)).json()["usageBreakdownList"][0]
    total_used = (
        entry["currentUsageWithPrecision"]
        + entry["freeTrialInfo"]["currentUsageWithPrecision"]
        + entry["bonuses"][0]["currentUsageWithPrecision"]
    )
    assert total_used == pytest.approx(620.5)
    assert entry["freeTrialInfo"]["currentUsageWithPrecision"] == 500


async def test_usage_limits_reflect_chat_metering(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", credits_limit=50)
    r = await sim.chat(simple_request('<<sim:{"credits": 1.25}>>'), token)
    assert interpret(decode(r.content)).payload_of("meteringEvent")["usage"] == 1.25
    entry = (await usage(sim, token)).json()["usageBreakdownList"][0]
    assert entry["currentUsageWithPrecision"] == 1.25


async def test_quota_402_once_credits_are_spent(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", credits_limit=1)
    assert (await sim.chat(simple_request('<<sim:{"credits": 0.6}>>'), token)).status_code == 200
    assert (await sim.chat(simple_request('<<sim:{"credits": 0.6}>>'), token)).status_code == 200
    r = await sim.chat(simple_request(), token)
    assert (r.status_code, r.json()) == (
        402,
        {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"},
    )
    assert r.headers["x-amzn-errortype"] == "ServiceQuotaExceededException"
    assert (await sim.stats())["accounts"]["a1"]["rejections"] == {"quota": 1}
    await sim.http.patch("/_sim/accounts/a1", json={"credits_used": 0})
    assert (await sim.chat(simple_request(), token)).status_code == 200


async def test_suspended_account(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.http.patch("/_sim/accounts/a1", json={"suspended": True})
    r = await sim.chat(simple_request(), token)
    assert r.status_code == 403
    assert r.json()["reason"] == "TEMPORARILY_SUSPENDED" and "temporarily suspended" in r.json()["message"]
    assert (await usage(sim, token)).status_code == 403
    await sim.http.patch("/_sim/accounts/a1", json={"suspended": False})
    assert (await sim.chat(simple_request(), token)).status_code == 200


async def test_usage_query_rules(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    assert (await usage(sim, token, profileArn=SOCIAL_ARN)).status_code == 200
    r = await usage(sim, token, profileArn="arn:aws:codewhisperer:us-east-1:1:profile/X")
    assert r.status_code == 403 and r.json()["message"].startswith("User is not authorized")
    r = await sim.http.get("/getUsageLimits", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 400
    assert (await usage(sim, "aoaNope")).status_code == 403
    await sim.rules(runtime_query=False)
    r = await sim.http.get("/getUsageLimits", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_list_available_models(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    auth = {"authorization": f"Bearer {token}"}
    r = await sim.http.get(
        "/ListAvailableModels", params={"origin": "AI_EDITOR", "maxResults": "50"}, headers=auth
    )
    assert r.status_code == 200
    body = r.json()
    assert body["defaultModel"]["modelId"] == "auto"
    ids = [m["modelId"] for m in body["models"]]
    # the 2026 catalogue (CONTRACTS.md "Models")
    opus = [f"claude-opus-{v}" for v in ("4.5", "4.6", "4.7", "4.8", "5", "5.5")]
    sonnet = [f"claude-sonnet-{v}" for v in ("4", "4.5", "4.6", "5", "5.5")]
    assert ids == [*opus, *sonnet, "claude-haiku-4.5"]
    assert body["nextToken"] is None
    limits = {m["modelId"]: m["tokenLimits"]["maxInputTokens"] for m in body["models"]}
    assert limits["claude-sonnet-4.6"] == 1_000_000 and limits["claude-sonnet-4.5"] == 200_000
    assert limits["claude-opus-5.5"] == 1_000_000 and limits["claude-sonnet-4"] == 200_000
    first = body["models"][0]
    assert {"modelName", "description", "rateMultiplier", "rateUnit", "supportedInputTypes"} <= set(first)

    page = (
        await sim.http.get(
            "/ListAvailableModels", params={"origin": "AI_EDITOR", "maxResults": "2"}, headers=auth
        )
    ).json()
    assert len(page["models"]) == 2 and page["nextToken"] == "2"
    rest = (
        await sim.http.get(
            "/ListAvailableModels",
            params={"origin": "AI_EDITOR", "maxResults": "2", "nextToken": page["nextToken"]},
            headers=auth,
        )
    ).json()
    assert [m["modelId"] for m in rest["models"]] == ids[2:4]


async def test_usage_fault_script(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(access_token=token, mode="fault", surface="usage", script={"error": "capacity"})
    assert (await usage(sim, token)).status_code == 429
    assert (await usage(sim, token)).status_code == 200


MCP_ID = "web_search_tooluse_" + "a" * 22 + "_1717000000000_abcd1234"


async def test_mcp_web_search(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    auth = {"authorization": f"Bearer {token}", "x-amzn-kiro-profile-arn": SOCIAL_ARN}
    call = {
        "id": MCP_ID,
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "web_search", "arguments": {"query": "rust async"}},
    }
    r = await sim.http.post("/mcp", json=call, headers=auth)
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["isError"] is False
    inner = json.loads(result["content"][0]["text"])
    assert inner["query"] == "rust async" and len(inner["results"]) == 3
    bad = await sim.http.post(
        "/mcp", json={**call, "params": {"name": "other", "arguments": {}}}, headers=auth
    )
    assert bad.json()["error"]["code"] == -32602
    listed = await sim.http.post(
        "/mcp", json={"id": 1, "jsonrpc": "2.0", "method": "tools/list"}, headers=auth
    )
    assert listed.json()["result"]["tools"][0]["name"] == "web_search"


async def test_windows_per_account_change_at_run_time(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="w1", models=["claude-opus-4.8"])
    auth = {"authorization": f"Bearer {token}"}
    params = {"origin": "AI_EDITOR", "maxResults": "50"}

    async def window() -> int:
        body = (await sim.http.get("/ListAvailableModels", params=params, headers=auth)).json()
        return int(body["models"][0]["tokenLimits"]["maxInputTokens"])

    assert await window() == 1_000_000
    r = await sim.http.patch("/_sim/accounts/w1", json={"windows": {"claude-opus-4.8": 272_000}})
    assert r.status_code == 200
    assert await window() == 272_000


async def test_api_key_account_needs_tokentype(sim: SimClient) -> None:
    r = await sim.http.post("/_sim/accounts", json={"id": "k1", "auth": "api_key"})
    assert r.status_code in (200, 201)
    key = r.json()["api_key"]
    assert key.startswith("ksk_")
    params = {"origin": "AI_EDITOR", "maxResults": "50"}
    bare = await sim.http.get(
        "/ListAvailableModels", params=params, headers={"authorization": f"Bearer {key}"}
    )
    assert bare.status_code == 403
    ok = await sim.http.get(
        "/ListAvailableModels",
        params=params,
        headers={"authorization": f"Bearer {key}", "tokentype": "API_KEY"},
    )
    assert ok.status_code == 200 and ok.json()["models"]
