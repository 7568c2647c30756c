"""Contract: what the converter sends, the simulator's independent validator accepts, and what
the simulator answers, the stream pipeline turns into well-formed responses.

The simulator (`services/kiro-sim`) validates with its own code (it imports nothing from
kiroproto's converter), so this catches converter mistakes that kiroproto's own checker shares.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_convert_properties import _AGENT_REQUEST, _REQUEST

from kiro_sim import SimSettings, create_app
from kiroproto.anthropic.request import MessagesRequest
from kiroproto.convert import convert_anthropic_request
from kiroproto.eventstream import EventStreamDecoder
from kiroproto.models import ModelMap
from kiroproto.stream import (
    AnthropicSSERenderer,
    BlockStart,
    MessageEnd,
    OpenAIChunkRenderer,
    ResponseAssembler,
    StreamOptions,
    fold_anthropic,
    parse_kiro_message,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
LONG_MCP = "mcp__some_server_with_a_long_name__and_a_very_long_tool_name_indeed_yes_really"


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[TestClient, str]]:
    app = create_app(SimSettings(seed_demo=True))
    with TestClient(app) as client:
        token = client.post("/_sim/accounts/demo/access-tokens").json()["access_token"]
        yield client, token


def _send(sim: tuple[TestClient, str], raw: dict[str, Any]) -> tuple[Any, MessagesRequest, Any]:
    client, token = sim
    req = MessagesRequest.model_validate(raw)
    model = ModelMap().resolve(req.model)
    conversion = convert_anthropic_request(
        req, model, profile_arn="arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK"
    )
    resp = client.post(
        "/generateAssistantResponse",
        content=conversion.body.to_json_bytes(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    return resp, req, conversion


def _tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} tool",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }


CLAUDE_CODE_LIKE: list[dict[str, Any]] = [
    {  # parallel tool calls, results with an image, a long MCP name, system blocks
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [_tool("Read"), _tool("Bash"), _tool(LONG_MCP)],
        "messages": [
            {"role": "user", "content": "look at the files"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Reading both."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}},
                    {"type": "tool_use", "id": "toolu_2", "name": LONG_MCP, "input": {"path": "b"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [
                            {"type": "text", "text": "see image"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                            },
                        ],
                    },
                ],
            },
        ],
    },
    {  # compaction leftovers: orphan tool_use, orphan tool_result, system role inside messages
        "model": "claude-opus-4-6",
        "max_tokens": 1024,
        "tools": [_tool("Read")],
        "messages": [
            {"role": "system", "content": "Summary of earlier work."},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_8", "content": "stale"},
                    {"type": "text", "text": "continue please"},
                ],
            },
        ],
    },
    {  # empty tools with tool history (the tool must be declared by a placeholder)
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "tools": [],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Grep", "input": {"q": "x"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": ""}]},
        ],
    },
    {  # thinking on, prefill at the end
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "messages": [{"role": "user", "content": "think"}, {"role": "assistant", "content": "Sure,"}],
    },
]


CASE_IDS = ["parallel-tools", "compaction", "empty-tools", "prefill"]


@pytest.mark.parametrize("raw", CLAUDE_CODE_LIKE, ids=CASE_IDS)
def test_claude_code_like_histories_are_accepted(sim: tuple[TestClient, str], raw: dict[str, Any]) -> None:
    resp, _req, _conv = _send(sim, raw)
    assert resp.status_code == 200, resp.text


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.one_of(_REQUEST, _AGENT_REQUEST))
def test_any_converted_history_is_accepted(sim: tuple[TestClient, str], raw: dict[str, Any]) -> None:
    resp, _req, _conv = _send(sim, raw)
    assert resp.status_code == 200, resp.text


def _directive(script: dict[str, Any]) -> str:
    return "<<sim:" + orjson.dumps(script).decode() + ">>"


@pytest.mark.parametrize("seed", range(4))
def test_simulator_answers_decode_in_random_splits(sim: tuple[TestClient, str], seed: int) -> None:
    script = {
        "text": "Here you go: résumé 日本語 done.",
        "thinking": "Let me think about </thinking> carefully.",
        "tool_calls": [{"name": LONG_MCP, "input": {"path": "x" * 40, "n": [1, 2, {"k": "v"}]}}],
    }
    raw = {
        "model": "claude-sonnet-4-5-thinking",
        "max_tokens": 1024,
        "tools": [_tool(LONG_MCP)],
        "messages": [{"role": "user", "content": "go " + _directive(script)}],
    }
    resp, _req, conv = _send(sim, raw)
    assert resp.status_code == 200, resp.text
    body = resp.content
    rng = random.Random(seed)
    decoder = EventStreamDecoder()
    options = StreamOptions(
        model="claude-sonnet-4-5-thinking",
        message_id="msg_1",
        thinking=conv.thinking,
        tool_name_map=conv.tool_name_map,
        stop_sequences=conv.stop_sequences,
    )
    assembler = ResponseAssembler(options)
    events = []
    pos = 0
    while pos < len(body):
        step = rng.randint(1, 300)
        decoder.feed(body[pos : pos + step])
        pos += step
        for msg in decoder:
            events += assembler.feed(parse_kiro_message(msg))
    decoder.close()
    events += assembler.finish()
    message = fold_anthropic(events, options)
    kinds = [b.type for b in message.content]
    assert kinds == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking.strip() == script["thinking"]  # type: ignore[union-attr]
    assert message.content[1].text == script["text"]  # type: ignore[union-attr]
    assert message.content[2].name == LONG_MCP  # type: ignore[union-attr]
    assert message.content[2].input == script["tool_calls"][0]["input"]  # type: ignore[union-attr, index]
    assert message.stop_reason == "tool_use"
    assert any(isinstance(e, BlockStart) and e.name == LONG_MCP for e in events)
    assert isinstance(events[-1], MessageEnd) and events[-1].usage.input_tokens > 0
    # both renderers accept the same events and end the stream properly
    sse = AnthropicSSERenderer(options)
    anthropic_out = sse.start() + sse.render_all(events)
    assert anthropic_out.count(b"event: content_block_start") == 3
    assert anthropic_out.rstrip().endswith(b'data: {"type":"message_stop"}')
    chunks = OpenAIChunkRenderer(options, include_usage=True)
    openai_out = chunks.start() + chunks.render_all(events)
    assert b'"finish_reason":"tool_calls"' in openai_out
    assert openai_out.endswith(b"data: [DONE]\n\n")
