"""The control API: accounts, scripts (queue / sticky / fault, per token and per account), holds,
stats, reset, and seeding from a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sim_helpers import FakeClock, SimClient, decode, interpret, simple_request

from kiro_sim import DEMO_REFRESH_TOKEN, SimSettings, create_app


async def answer(sim: SimClient, token: str) -> tuple[int, str]:
    r = await sim.chat(simple_request("question"), token)
    return r.status_code, interpret(decode(r.content)).text if r.status_code == 200 else ""


async def test_queue_then_sticky_then_default(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="queue", script=[{"text": "one"}, {"text": "two"}])
    await sim.script(account_id="a1", mode="sticky", script={"text": "always"})
    assert [await answer(sim, token) for _ in range(4)] == [
        (200, "one"),
        (200, "two"),
        (200, "always"),
        (200, "always"),
    ]
    await sim.script(account_id="a1", mode="sticky", script=None)
    assert await answer(sim, token) == (200, "Echo: question")


async def test_token_scripts_win_over_account_scripts(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    other = await sim.access_token("a1")
    await sim.script(account_id="a1", mode="sticky", script={"text": "account"})
    await sim.script(access_token=token, mode="queue", script={"text": "token"})
    assert await answer(sim, token) == (200, "token")
    assert await answer(sim, token) == (200, "account")
    assert await answer(sim, other) == (200, "account")


async def test_faults_for_n_requests_come_before_the_queue(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="queue", script={"text": "queued"})
    await sim.script(
        access_token=token, mode="fault", times=2, script={"error": "capacity", "retry_after": 3}
    )
    assert [(await answer(sim, token))[0] for _ in range(3)] == [429, 429, 200]
    assert await answer(sim, token) == (200, "Echo: question")
    desc = (await sim.http.get("/_sim/scripts")).json()
    assert desc == {"accounts": {}, "access_tokens": {}}


async def test_fault_for_a_while(sim: SimClient, clock: FakeClock) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="fault", seconds=30, script={"error": "unavailable"})
    assert [(await answer(sim, token))[0] for _ in range(3)] == [500, 500, 500]
    clock.advance(31)
    assert (await answer(sim, token))[0] == 200


async def test_directive_wins_over_scripts(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="fault", times=1, script={"error": "capacity"})
    r = await sim.chat(simple_request('<<sim:{"text": "direct"}>>'), token)
    assert interpret(decode(r.content)).text == "direct"
    assert (await answer(sim, token))[0] == 429  # the fault was not consumed by the directed request


async def test_script_api_errors(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    cases = [
        {"script": {"text": "x"}},  # neither account nor token
        {"account_id": "a1", "access_token": token, "script": {"text": "x"}},
        {"account_id": "a1", "script": {"bogus": 1}},
        {"account_id": "a1", "script": {"error": "no_such_preset"}},
        {"account_id": "a1", "mode": "fault", "script": [{"text": "x"}]},
        {"account_id": "a1", "mode": "queue"},
    ]
    for case in cases:
        r = await sim.http.post("/_sim/scripts", json=case)
        assert r.status_code == 422, case
    assert (await sim.http.post("/_sim/scripts", json={"account_id": "zz", "script": {}})).status_code == 404
    r = await sim.http.post("/_sim/scripts", json={"access_token": "aoaNope", "script": {}})
    assert r.status_code == 404
    await sim.script(account_id="a1", script={"text": "x"})
    assert (await sim.http.delete("/_sim/scripts", params={"account_id": "a1"})).status_code == 200
    assert await answer(sim, token) == (200, "Echo: question")


async def test_account_crud(sim: SimClient) -> None:
    created = await sim.add_account(
        id="i1", auth="IdC", clientId="cid", clientSecret="csecret", credits_limit=5
    )
    assert (created["auth"], created["client_id"], created["client_secret"]) == ("idc", "cid", "csecret")
    assert created["profile_arn"] is None
    assert (await sim.http.post("/_sim/accounts", json={"id": "i1"})).status_code == 409
    assert (await sim.http.post("/_sim/accounts", json={"nope": 1})).status_code == 422
    many = await sim.http.post("/_sim/accounts", json=[{"id": "b1"}, {"id": "b2", "models": ["auto"]}])
    assert [a["id"] for a in many.json()] == ["b1", "b2"]
    patched = await sim.http.patch("/_sim/accounts/b2", json={"rotate_refresh": True, "credits_used": 2})
    assert patched.json()["rotate_refresh"] is True and patched.json()["credits_used"] == 2
    assert (await sim.http.patch("/_sim/accounts/b2", json={"credits_used": -1})).status_code == 422
    assert (await sim.http.get("/_sim/accounts/zz")).status_code == 404
    assert len((await sim.http.get("/_sim/accounts")).json()["accounts"]) == 3
    assert "GET /_sim/stats" in (await sim.http.get("/_sim")).json()["endpoints"]


async def test_stats_last_request_and_headers(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = simple_request("hi")
    await sim.chat(body, token, headers={"x-amzn-kiro-agent-mode": "vibe"})
    last = (await sim.http.get("/_sim/accounts/a1/last-request")).json()
    assert last["body"] == body
    assert last["headers"]["x-amzn-kiro-agent-mode"] == "vibe"
    assert token not in last["headers"]["authorization"]
    stats = await sim.stats()
    assert stats["access_tokens"][token] == {
        "account_id": "a1",
        "requests": 1,
        "open_streams": 0,
        "peak_open_streams": 1,
    }
    assert stats["totals"]["chat_requests"] == 1 and stats["totals"]["completed_streams"] == 1
    lean = (await sim.http.get("/_sim/stats", params={"bodies": "false"})).json()
    assert "last_request" not in lean["accounts"]["a1"]
    await sim.http.post("/_sim/stats/reset")
    assert (await sim.stats())["totals"]["chat_requests"] == 0


async def test_hold_makes_concurrency_deterministic(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="sticky", script={"hold": "gate", "text": "released"})
    tasks = [asyncio.ensure_future(answer(sim, token)) for _ in range(3)]
    for _ in range(1000):
        if (await sim.http.get("/_sim/holds")).json()["holds"].get("gate") == 3:
            break
        await asyncio.sleep(0)
    stats = await sim.stats()
    assert stats["access_tokens"][token]["open_streams"] == 3
    assert stats["holds"] == {"gate": 3}
    assert (await sim.http.post("/_sim/holds/gate/release")).json() == {"released": 3}
    assert await asyncio.gather(*tasks) == [(200, "released")] * 3
    stats = await sim.stats()
    assert stats["access_tokens"][token]["open_streams"] == 0
    assert stats["access_tokens"][token]["peak_open_streams"] == 3
    assert stats["accounts"]["a1"]["peak_open_streams"] == 3


async def test_reset_clears_and_reseeds(tmp_path: Path, clock: FakeClock) -> None:
    seed_file = tmp_path / "accounts.json"
    seed_file.write_text(
        json.dumps(
            [
                {
                    "auth": "Social",
                    "refreshToken": "aorSeededOne" + "x" * 100,
                    "priority": 1,
                    "disabled": False,
                },
                {
                    "id": "idc-1",
                    "authMethod": "IdC",
                    "refreshToken": "aorSeededTwo" + "y" * 100,
                    "clientId": "c",
                    "clientSecret": "s",
                    "region": "us-east-1",
                },
            ]
        )
    )
    app = create_app(
        SimSettings(_env_file=None, seed_demo=True, accounts_file=seed_file),
        clock=clock,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as http:
        sim = SimClient(http)
        accounts = (await http.get("/_sim/accounts")).json()["accounts"]
        assert [a["auth"] for a in accounts] == ["social", "social", "idc"]
        assert accounts[0]["id"] == "demo" and accounts[0]["refresh_token"] == DEMO_REFRESH_TOKEN
        r = await http.post("/refreshToken", json={"refreshToken": DEMO_REFRESH_TOKEN})
        assert r.status_code == 200
        await sim.add_account(id="extra")
        reset = (await http.post("/_sim/reset")).json()
        assert reset["seeded"][0] == "demo" and "extra" not in reset["seeded"]
        assert (await sim.stats())["totals"]["refresh_calls"] == 0
        assert (await http.post("/_sim/reset", json={"seed": False})).json()["seeded"] == []


def test_bad_seed_file_is_reported(tmp_path: Path) -> None:
    seed_file = tmp_path / "accounts.json"
    seed_file.write_text(json.dumps([{"auth": "Social"}, {"auth": "Martian"}]))
    with pytest.raises(ValueError, match="entry 1"):
        create_app(SimSettings(_env_file=None, accounts_file=seed_file))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIRO_SIM_DISABLED_RULES", "origin, images")
    monkeypatch.setenv("KIRO_SIM_DEFAULT_MODELS", '["auto"]')
    monkeypatch.setenv("KIRO_SIM_PORT", "9100")
    settings = SimSettings(_env_file=None)
    assert settings.disabled_rules == ["origin", "images"]
    assert settings.default_models == ["auto"]
    assert settings.port == 9100
    with pytest.raises(ValueError, match="unknown rule"):
        create_app(SimSettings(_env_file=None, disabled_rules=["nope"]))


async def test_throttle_every_account_for_a_while(sim: SimClient, clock: FakeClock) -> None:
    _, one = await sim.account_with_token(id="a1")
    _, two = await sim.account_with_token(id="a2")
    r = await sim.http.post("/_sim/throttle", json={"seconds": 2, "retry_after": 2})
    assert r.status_code == 200
    assert r.json() == {"accounts": ["a1", "a2"], "from": clock.now, "until": clock.now + 2, "status": 429}
    for token in (one, two):
        reply = await sim.chat(simple_request("question"), token)
        assert reply.status_code == 429 and reply.headers["retry-after"] == "2"
        assert reply.json()["reason"] is None  # a plain 429 without a reason
    clock.advance(2)
    assert await answer(sim, one) == (200, "Echo: question")
    assert await answer(sim, two) == (200, "Echo: question")


async def test_throttle_with_a_reason_and_chosen_accounts(sim: SimClient) -> None:
    _, one = await sim.account_with_token(id="a1")
    _, two = await sim.account_with_token(id="a2")
    r = await sim.http.post(
        "/_sim/throttle", json={"seconds": 60, "error": "user_rate", "account_ids": ["a2"]}
    )
    assert r.json()["accounts"] == ["a2"]
    assert (await answer(sim, one))[0] == 200
    reply = await sim.chat(simple_request("question"), two)
    assert (reply.status_code, reply.json()["reason"]) == (429, "USER_REQUEST_RATE_EXCEEDED")
    assert (
        await sim.http.post("/_sim/throttle", json={"seconds": 1, "account_ids": ["nope"]})
    ).status_code == 404
    assert (await sim.http.post("/_sim/throttle", json={"seconds": 1, "error": "nope"})).status_code == 422
    assert (await sim.http.post("/_sim/throttle", json={"seconds": 0})).status_code == 422


@pytest.mark.parametrize(
    ("preset", "status", "reason"),
    [
        ("overage", 402, "OVERAGE_REQUEST_LIMIT_EXCEEDED"),
        ("conversation_limit", 402, "CONVERSATION_LIMIT_EXCEEDED"),
        ("monthly_limit", 429, "MONTHLY_REQUEST_COUNT"),
        ("daily_limit", 429, "DAILY_REQUEST_COUNT"),
        ("user_rate", 429, "USER_REQUEST_RATE_EXCEEDED"),
        ("credit_rate", 429, "CREDIT_CONSUMPTION_RATE_EXCEEDED"),
        ("service_rate", 429, "SERVICE_REQUEST_RATE_EXCEEDED"),
        ("capacity", 429, "INSUFFICIENT_MODEL_CAPACITY"),
        ("unavailable", 500, "MODEL_TEMPORARILY_UNAVAILABLE"),
        ("throttled", 429, None),
    ],
)
async def test_every_reason_of_the_2026_table(
    sim: SimClient, preset: str, status: int, reason: str | None
) -> None:
    _, token = await sim.account_with_token(id="a1")
    await sim.script(account_id="a1", mode="fault", times=1, script={"error": preset, "retry_after": 3})
    reply = await sim.chat(simple_request("question"), token)
    assert (reply.status_code, reply.json()["reason"], reply.headers["retry-after"]) == (status, reason, "3")
