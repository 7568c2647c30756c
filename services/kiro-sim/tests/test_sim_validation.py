"""Each validator rule, one by one: the rich base request passes; each mutation breaks exactly one
rule, which rejects it with the documented body and is counted; switched off, the request passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sim_helpers import (
    SOCIAL_ARN,
    SimClient,
    assistant_msg,
    rich_request,
    tool_result,
    tool_spec,
    user_msg,
)

IMPROPER = {"message": "Improperly formed request.", "reason": None}

Body = dict[str, Any]


def _cs(body: Body) -> Body:
    state: Body = body["conversationState"]
    return state


def _current(body: Body) -> Body:
    msg: Body = _cs(body)["currentMessage"]["userInputMessage"]
    return msg


def _hist(body: Body, index: int) -> Body:
    entry: Body = _cs(body)["history"][index]
    return next(iter(entry.values()))


def _tools(body: Body) -> list[Body]:
    tools: list[Body] = _current(body)["userInputMessageContext"]["tools"]
    return tools


def _spec(body: Body, index: int) -> Body:
    spec: Body = _tools(body)[index]["toolSpecification"]
    return spec


def _results(body: Body) -> list[Body]:
    results: list[Body] = _current(body)["userInputMessageContext"]["toolResults"]
    return results


def _ends_with_user(body: Body) -> None:
    _cs(body)["history"].append(
        user_msg("Thanks", userInputMessageContext={"toolResults": [tool_result("tooluse_A")]})
    )
    del _current(body)["userInputMessageContext"]["toolResults"]


def _history_shape(body: Body) -> None:
    history = _cs(body)["history"]
    history[0] = {
        "userInputMessage": history[0]["userInputMessage"],
        "assistantResponseMessage": {"content": "x"},
    }
    history[1] = "not an object"


def _history_not_a_list(body: Body) -> None:
    _cs(body)["history"] = {"not": "a list"}
    _results(body).clear()


def _tool_use_unique(body: Body) -> None:
    history = _cs(body)["history"]
    history[1]["assistantResponseMessage"]["toolUses"] = [
        {"toolUseId": "tooluse_A", "name": "get_weather", "input": {}}
    ]
    history[2]["userInputMessage"]["userInputMessageContext"] = {"toolResults": [tool_result("tooluse_A")]}


@dataclass
class Case:
    rule: str
    mutate: Callable[[Body], object]
    status: int = 400
    body: dict[str, Any] | None = None  # expected JSON body; default IMPROPER


CASES = [
    Case("chat_trigger_type", lambda b: _cs(b).update(chatTriggerType="AUTO")),
    Case("agent_task_type", lambda b: _cs(b).update(agentTaskType="chat")),
    Case("conversation_id", lambda b: _cs(b).update(conversationId="conversation-1")),
    Case("conversation_id", lambda b: _cs(b).update(agentContinuationId=42)),
    Case("profile_arn", lambda b: b.pop("profileArn")),
    Case(
        "profile_arn",
        lambda b: b.update(profileArn="arn:aws:codewhisperer:us-east-1:1:profile/OTHER"),
        403,
        {"message": "User is not authorized to make this call.", "reason": None},
    ),
    Case("origin", lambda b: _current(b).update(origin="CLI")),
    Case("origin", lambda b: _hist(b, 2).pop("origin")),
    Case("model_id", lambda b: _current(b).pop("modelId")),
    Case(
        "model_id",
        lambda b: _current(b).update(modelId="claude-3.7-sonnet"),
        400,
        {
            "message": "Invalid model. Please select a different model to continue.",
            "reason": "INVALID_MODEL_ID",
        },
    ),
    Case("history_model_id", lambda b: _hist(b, 2).pop("modelId")),
    Case("history_shape", _history_shape),
    Case("history_shape", _history_not_a_list),
    Case("history_alternation", lambda b: _cs(b)["history"].insert(3, user_msg("And in Rome?"))),
    Case("history_alternation", lambda b: _cs(b)["history"].insert(0, assistant_msg("Hello!"))),
    Case("history_ends_with_assistant", _ends_with_user),
    Case("user_content", lambda b: _hist(b, 2).update(content="")),
    Case("user_content", lambda b: _hist(b, 2).update(content=None)),
    Case("assistant_content", lambda b: _hist(b, 1).update(content="")),
    Case("images", lambda b: _hist(b, 0)["images"][0].update(format="bmp")),
    Case("images", lambda b: _hist(b, 0)["images"][0]["source"].update(bytes="not base64!")),
    Case(
        "tools_only_current",
        lambda b: _hist(b, 2).update(userInputMessageContext={"tools": [tool_spec("x")]}),
    ),
    Case("tool_spec_shape", lambda b: _tools(b).append({"name": "bare"})),
    Case("tool_name", lambda b: _spec(b, 1).update(name="r" * 65)),
    Case("tool_name", lambda b: _spec(b, 1).update(name="read file")),
    Case("tool_names_unique", lambda b: _tools(b).append(tool_spec("read_file"))),
    Case(
        "tool_description_empty",
        lambda b: _spec(b, 1).update(description=""),
        400,
        {"message": "Invalid tool use format.", "reason": "REQUEST_BODY_INVALID"},
    ),
    Case("tool_description_length", lambda b: _spec(b, 1).update(description="d" * 10_001)),
    Case("tool_schema", lambda b: _spec(b, 1).update(inputSchema={"json": {"type": "string"}})),
    Case("tool_schema", lambda b: _spec(b, 1).update(inputSchema={"json": '{"type": "object"}'})),
    Case("tool_schema", lambda b: _spec(b, 1)["inputSchema"]["json"].update(required="city")),
    Case(
        "history_tools_declared",
        lambda b: _tools(b).pop(0),
        400,
        {
            "message": "Tool configuration is missing for a tool used in the conversation.",
            "reason": "TOOL_CONFIG_MISSING",
        },
    ),
    Case("tool_use_shape", lambda b: _hist(b, 3)["toolUses"][0].update(input='{"city": "Paris"}')),
    Case("tool_use_unique", _tool_use_unique),
    Case(
        "tool_use_answered",
        lambda b: _hist(b, 3)["toolUses"].append(
            {"toolUseId": "tooluse_B", "name": "read_file", "input": {}}
        ),
    ),
    Case("tool_result_shape", lambda b: _results(b)[0].update(status="ok")),
    Case("tool_result_shape", lambda b: _results(b)[0].update(content=[{"image": "x"}])),
    Case("tool_result_matches_use", lambda b: _results(b).append(tool_result("tooluse_Z"))),
    Case("tool_result_unique", lambda b: _results(b).append(tool_result("tooluse_A", "again"))),
]


async def test_rich_request_passes_every_rule(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    r = await sim.chat(rich_request(), token)
    assert r.status_code == 200, r.text
    assert (await sim.stats())["totals"]["rejections"] == {}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}-{i}" for i, c in enumerate(CASES)])
async def test_rule_rejects_and_can_be_switched_off(sim: SimClient, case: Case) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    case.mutate(body)

    r = await sim.chat(body, token)
    assert r.status_code == case.status, r.text
    assert r.json() == (case.body or IMPROPER)
    stats = await sim.stats()
    assert stats["totals"]["rejections"] == {case.rule: 1}
    assert stats["accounts"]["a1"]["rejections"] == {case.rule: 1}
    assert stats["accounts"]["a1"]["last_request"] == body

    await sim.rules(**{case.rule: False})
    r = await sim.chat(body, token)
    assert r.status_code == 200, r.text
    assert (await sim.stats())["totals"]["rejections"] == {case.rule: 1}


async def test_empty_current_content_allowed_only_with_tool_results(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    _current(body)["content"] = ""
    assert (await sim.chat(body, token)).status_code == 200

    body = rich_request()
    _cs(body)["history"] = _cs(body)["history"][:2]
    _current(body)["content"] = ""
    del _current(body)["userInputMessageContext"]["toolResults"]
    r = await sim.chat(body, token)
    assert r.status_code == 400
    assert (await sim.stats())["totals"]["rejections"] == {"user_content": 1}


async def test_tool_name_limit_is_a_setting(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    _spec(body, 1)["name"] = "n" * 64
    assert (await sim.chat(body, token)).status_code == 200


async def test_body_size_threshold(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    _current(body)["content"] = "x" * 600_001
    r = await sim.chat(body, token)
    assert r.status_code == 400
    assert r.json() == {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
    await sim.rules(body_size=False)
    assert (await sim.chat(body, token)).status_code == 200


async def test_content_type_rule(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    r = await sim.chat(rich_request(), token, headers={"content-type": "text/plain"})
    assert r.status_code == 400
    assert (await sim.stats())["totals"]["rejections"] == {"content_type": 1}
    await sim.rules(content_type=False)
    assert (await sim.chat(rich_request(), token, headers={"content-type": "text/plain"})).status_code == 200


@pytest.mark.parametrize(
    "raw", [b"not json", b"[]", b'{"conversationState": {}}', b'{"conversationState": 1}']
)
async def test_envelope_is_always_checked(sim: SimClient, raw: bytes) -> None:
    _, token = await sim.account_with_token(id="a1")
    r = await sim.chat(raw, token)
    assert r.status_code == 400
    assert r.json() == IMPROPER
    assert (await sim.stats())["totals"]["rejections"] == {"envelope": 1}


async def test_model_list_is_per_account(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", models=["claude-haiku-4.5"])
    body = rich_request()
    r = await sim.chat(body, token)
    assert r.json()["reason"] == "INVALID_MODEL_ID"
    _current(body)["modelId"] = "claude-haiku-4.5"
    assert (await sim.chat(body, token)).status_code == 200


async def test_idc_account_needs_no_profile_arn(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="i1", auth="idc")
    assert (await sim.chat(rich_request(profile_arn=None), token)).status_code == 200
    r = await sim.chat(rich_request(profile_arn=SOCIAL_ARN), token)
    assert r.status_code == 403


async def test_bearer_token_required(sim: SimClient) -> None:
    await sim.add_account(id="a1")
    for token in (None, "aoaUnknown"):
        r = await sim.chat(rich_request(), token)
        assert r.status_code == 403
        assert r.json() == {"message": "The bearer token included in the request is invalid.", "reason": None}
    assert (await sim.stats())["totals"]["rejections"] == {"bearer_token": 2}


async def test_rule_switch_errors(sim: SimClient) -> None:
    r = await sim.http.patch("/_sim/rules", json={"no_such_rule": False})
    assert r.status_code == 422
    r = await sim.http.patch("/_sim/rules", json={"envelope": False})
    assert r.status_code == 422
    r = await sim.http.get("/_sim/rules")
    rules = r.json()["rules"]
    assert all(rules.values())
    assert set(r.json()["descriptions"]) == set(rules)
    await sim.rules(origin=False)
    assert (await sim.http.get("/_sim/rules")).json()["rules"]["origin"] is False
    assert (await sim.http.post("/_sim/rules/reset")).json()["rules"]["origin"] is True
