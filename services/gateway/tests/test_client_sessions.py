"""A client session reaches the broker (stickiness) and keeps one conversationId (§19.2, §19.8)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
from gw_fakes import FakeBroker, FakeKiro, install, respond, text_events
from gw_helpers import AUTH, make_settings, running_client

SESSION = "3f2b1c9a-8d7e-4f60-a1b2-c3d4e5f60718"
MSG: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def ok() -> Any:
    return lambda _: respond(text_events("fine"))


async def send(
    path: str, bodies: list[dict[str, Any]], headers: dict[str, str]
) -> tuple[FakeBroker, FakeKiro]:
    broker, kiro = FakeBroker(), FakeKiro(ok())
    settings = make_settings()
    async with running_client(settings, lambda state: install(state, broker, kiro)) as client:
        for body in bodies:
            assert (await client.post(path, json=body, headers={**AUTH, **headers})).status_code == 200
    return broker, kiro


def conversation_ids(kiro: FakeKiro) -> list[str]:
    return [orjson.loads(r.content)["conversationState"]["conversationId"] for r in kiro.requests]


async def test_the_session_header_rides_on_the_lease_and_names_the_conversation() -> None:
    broker, kiro = await send("/v1/messages", [MSG, MSG], {"x-claude-code-session-id": SESSION})
    assert broker.sessions == [SESSION, SESSION]
    assert conversation_ids(kiro) == [SESSION, SESSION]


async def test_the_session_in_a_json_user_id() -> None:
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})
    broker, kiro = await send("/v1/messages", [{**MSG, "metadata": {"user_id": user_id}}], {})
    assert broker.sessions == [SESSION]
    assert conversation_ids(kiro) == [SESSION]


async def test_an_openai_user_is_a_session_with_a_derived_conversation() -> None:
    chat = {"model": "claude-sonnet-4-5", "user": "alice", "messages": [{"role": "user", "content": "hi"}]}
    broker, kiro = await send("/v1/chat/completions", [chat, chat], {})
    assert broker.sessions == ["alice", "alice"]
    first, second = conversation_ids(kiro)
    assert first == second and uuid.UUID(first).version == 5


async def test_no_session_no_stickiness() -> None:
    broker, kiro = await send("/v1/messages", [MSG, MSG], {})
    assert broker.sessions == [None, None]
    first, second = conversation_ids(kiro)
    assert first != second
