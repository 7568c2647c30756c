"""Reasoning as data per serving account (kiro-protocol.md §19.5) and the signature retry (§19.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from gw_fakes import FakeBroker, FakeKiro, install, respond, text_events
from gw_helpers import AUTH, make_settings, running_client

from gateway.leasing import LeaseAsk
from kiroproto.bus import CatalogueModel, LeaseGrant

SCHEMA: dict[str, object] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "thinking": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": ["adaptive", "disabled"]}},
        },
        "max_tokens": {"type": "integer", "minimum": 1024, "maximum": 64000},
    },
}
HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "first"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "old thought", "signature": "sig-old"},
            {"type": "text", "text": "old answer"},
        ],
    },
    {"role": "user", "content": "now"},
]
MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 4000},
    "messages": HISTORY,
}


@dataclass
class CatalogueBroker(FakeBroker):
    """Grants carrying the serving account's catalogue entry (what the pool track's broker fills)."""

    schema: dict[str, object] | None = None

    async def acquire(self, ask: LeaseAsk) -> LeaseGrant:
        grant = await super().acquire(ask)
        info = CatalogueModel(id=ask.model, request_fields_schema=self.schema)
        return grant.model_copy(update={"model_info": info})


def signature_rejected(_: httpx.Request) -> httpx.Response:
    body = {"message": "Invalid signature in thinking block.", "reason": "THINKING_SIGNATURE_INVALID"}
    return httpx.Response(400, json=body)


def too_long(_: httpx.Request) -> httpx.Response:
    return httpx.Response(
        400, json={"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
    )


def ok(_: httpx.Request) -> httpx.Response:
    return respond(text_events("fine"))


async def call(broker: FakeBroker, kiro: FakeKiro, body: dict[str, Any] = MSG) -> httpx.Response:
    async with running_client(make_settings(), lambda state: install(state, broker, kiro)) as client:
        return await client.post("/v1/messages", json=body, headers=AUTH)


def sent(kiro: FakeKiro, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(kiro.requests[index].content)
    return body


async def test_schema_account_gets_request_fields_and_reasoning_content() -> None:
    kiro = FakeKiro(ok)
    response = await call(CatalogueBroker(schema=SCHEMA), kiro)
    assert response.status_code == 200
    body = sent(kiro)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "adaptive"}, "max_tokens": 2048}
    history = body["conversationState"]["history"]
    assert "<thinking_mode>" not in orjson.dumps(history).decode()
    assert history[1]["assistantResponseMessage"] == {
        "content": "old answer",
        "reasoningContent": {"reasoningText": {"text": "old thought", "signature": "sig-old"}},
    }


async def test_classic_account_keeps_the_tags() -> None:
    for broker in (FakeBroker(), CatalogueBroker(schema=None)):
        kiro = FakeKiro(ok)
        assert (await call(broker, kiro)).status_code == 200
        body = sent(kiro)
        assert "additionalModelRequestFields" not in body
        history = body["conversationState"]["history"]
        assert history[0]["userInputMessage"]["content"].startswith("<thinking_mode>enabled</thinking_mode>")
        assert "reasoningContent" not in orjson.dumps(history).decode()


async def test_signature_rejection_is_retried_once_without_history_reasoning() -> None:
    broker, kiro = CatalogueBroker(schema=SCHEMA), FakeKiro(signature_rejected, ok)
    response = await call(broker, kiro)
    assert response.status_code == 200
    assert response.json()["content"][-1] == {"type": "text", "text": "fine"}
    assert "reasoningContent" in kiro.requests[0].content.decode()
    retried = sent(kiro, 1)
    assert "reasoningContent" not in orjson.dumps(retried).decode()
    assert retried["conversationState"]["history"][1]["assistantResponseMessage"] == {"content": "old answer"}
    assert retried["additionalModelRequestFields"] == sent(kiro)["additionalModelRequestFields"]
    assert broker.outcomes == ["bad_request", "success"]
    assert broker.acquires == [(), ()]  # the same account may serve the retry


async def test_a_second_signature_rejection_is_the_clients_400() -> None:
    broker, kiro = CatalogueBroker(schema=SCHEMA), FakeKiro(signature_rejected)
    response = await call(broker, kiro)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(kiro.requests) == 2


async def test_the_retried_body_passes_the_size_check_again() -> None:
    broker, kiro = CatalogueBroker(schema=SCHEMA), FakeKiro(signature_rejected, too_long)
    response = await call(broker, kiro)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("prompt is too long")
