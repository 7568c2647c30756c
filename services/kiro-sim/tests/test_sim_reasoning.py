"""Reasoning as data on accounts with `request_fields_schemas` (kiro-protocol.md §19.5)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sim_helpers import SimClient, assistant_msg, decode, interpret, simple_request, user_msg

from kiro_sim.reasoning import ADAPTIVE_ONLY, WITH_BUDGET, signature_of, violation

MODELS = ["claude-sonnet-5", "claude-opus-4.8", "claude-sonnet-4.5"]


def with_fields(
    fields: dict[str, Any] | None, model: str = "claude-sonnet-5", history: Any = None
) -> dict[str, Any]:
    body = simple_request("Think about it", model=model)
    if fields is not None:
        body["additionalModelRequestFields"] = fields
    if history is not None:
        body["conversationState"]["history"] = history
    return body


def reasoning_history(text: str, signature: str, model: str = "claude-sonnet-5") -> list[dict[str, Any]]:
    answer = assistant_msg("earlier answer")
    answer["assistantResponseMessage"]["reasoningContent"] = {
        "reasoningText": {"text": text, "signature": signature}
    }
    return [user_msg("earlier", modelId=model), answer]


async def test_catalogue_gives_schemas_only_on_accounts_that_have_them(sim: SimClient) -> None:
    for account_id, flag in (("new", True), ("classic", False)):
        _, token = await sim.account_with_token(id=account_id, models=MODELS, request_fields_schemas=flag)
        r = await sim.http.get(
            "/ListAvailableModels",
            params={"origin": "AI_EDITOR", "maxResults": "50"},
            headers={"authorization": f"Bearer {token}"},
        )
        schemas = {m["modelId"]: m.get("additionalModelRequestFieldsSchema") for m in r.json()["models"]}
        if flag:
            assert schemas == {
                "claude-sonnet-5": ADAPTIVE_ONLY,
                "claude-opus-4.8": WITH_BUDGET,
                "claude-sonnet-4.5": None,
            }
        else:
            assert set(schemas.values()) == {None}


async def test_valid_fields_are_answered_with_reasoning_events(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", models=MODELS, request_fields_schemas=True)
    fields = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}, "max_tokens": 4096}
    r = await sim.chat(with_fields(fields), token)
    assert r.status_code == 200
    got = interpret(decode(r.content))
    reasoning = [orjson.loads(m.payload) for m in got.messages if m.event_type == "reasoningContentEvent"]
    text = "".join(p.get("text", "") for p in reasoning)
    assert text and reasoning[-1] == {"signature": signature_of(text)}
    assert "<thinking>" not in got.text


@pytest.mark.parametrize(
    ("fields", "model", "flag"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "claude-sonnet-5", True),  # no budgets
        ({"max_tokens": 100}, "claude-sonnet-5", True),
        ({"temperature": 0.5}, "claude-sonnet-5", True),
        ({"thinking": {"type": "adaptive"}}, "claude-sonnet-4.5", True),  # no schema for the model
        ({"thinking": {"type": "adaptive"}}, "claude-sonnet-5", False),  # the classic host
    ],
)
async def test_fields_the_schema_does_not_allow_are_rejected(
    sim: SimClient, fields: dict[str, Any], model: str, flag: bool
) -> None:
    _, token = await sim.account_with_token(id="a1", models=MODELS, request_fields_schemas=flag)
    r = await sim.chat(with_fields(fields, model), token)
    assert r.status_code == 400
    assert (await sim.stats())["totals"]["rejections"] == {"reasoning_fields": 1}


async def test_budget_allowed_where_the_schema_has_one(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", models=MODELS, request_fields_schemas=True)
    fields = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert (await sim.chat(with_fields(fields, "claude-opus-4.8"), token)).status_code == 200


async def test_history_signatures_are_checked(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1", models=MODELS, request_fields_schemas=True)
    good = reasoning_history("earlier thought", signature_of("earlier thought"))
    assert (await sim.chat(with_fields(None, history=good), token)).status_code == 200
    bad = reasoning_history("earlier thought", "forged")
    r = await sim.chat(with_fields(None, history=bad), token)
    assert r.status_code == 400 and r.json()["reason"] == "THINKING_SIGNATURE_INVALID"


@pytest.mark.parametrize(
    ("content", "flag"),
    [
        ({"reasoningText": {"text": "x", "signature": signature_of("x")}}, False),  # no schema
        ({"reasoningText": {"text": "x"}}, True),
        ({"reasoningText": "x"}, True),
        ({"reasoningText": {"text": "x", "signature": "s"}, "more": 1}, True),
    ],
)
async def test_reasoning_content_shape_and_place(sim: SimClient, content: Any, flag: bool) -> None:
    _, token = await sim.account_with_token(id="a1", models=MODELS, request_fields_schemas=flag)
    history = reasoning_history("x", "s")
    history[1]["assistantResponseMessage"]["reasoningContent"] = content
    r = await sim.chat(with_fields(None, history=history), token)
    assert r.status_code == 400
    assert (await sim.stats())["totals"]["rejections"] == {"reasoning_content": 1}


def test_violation_messages() -> None:
    assert (
        violation(ADAPTIVE_ONLY, {"thinking": {}}) == "additionalModelRequestFields.thinking.type is required"
    )
    assert (
        violation(ADAPTIVE_ONLY, {"max_tokens": "x"})
        == "additionalModelRequestFields.max_tokens is not of type integer"
    )
    assert violation(ADAPTIVE_ONLY, {"max_tokens": 10**6}) is not None
    assert violation(ADAPTIVE_ONLY, []) is not None
    assert violation(None, 1) is None
