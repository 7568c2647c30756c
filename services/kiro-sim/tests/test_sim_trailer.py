"""The scripted `metadataEvent` and trailer-less answers (kiro-protocol.md §19.1)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sim_helpers import SimClient, decode, interpret, simple_request, tool_spec


def directive(**script: Any) -> str:
    return "<<sim:" + json.dumps(script) + ">>"


async def test_metadata_event_precedes_the_trailer_with_usage_and_stop_reason(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    meta = {
        "uncached_input_tokens": 9,
        "output_tokens": 4,
        "cache_read_input_tokens": 100,
        "stop_reason": "MAX_TOKENS",
    }
    got = interpret(
        decode((await sim.chat(simple_request(directive(text="abc", metadata=meta)), token)).content)
    )
    assert got.events[-3:] == ["metadataEvent", "contextUsageEvent", "meteringEvent"]
    assert got.payload_of("metadataEvent") == {
        "tokenUsage": {
            "uncachedInputTokens": 9,
            "outputTokens": 4,
            "totalTokens": 113,
            "cacheReadInputTokens": 100,
        },
        "stopReason": "MAX_TOKENS",
    }


async def test_metadata_defaults_and_refusal_details(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    script = directive(text="abcdefgh", metadata={"stop_reason": "CONTENT_FILTERED", "refusal": "policy"})
    got = interpret(decode((await sim.chat(simple_request(script), token)).content))
    payload = got.payload_of("metadataEvent")
    assert payload["stopReason"] == "CONTENT_FILTERED" and payload["stopDetails"] == {"refusal": "policy"}
    usage = payload["tokenUsage"]
    assert set(usage) == {"uncachedInputTokens", "outputTokens", "totalTokens"}  # no invented cache counts
    assert usage["outputTokens"] == 2 and usage["uncachedInputTokens"] > 0
    got = interpret(
        decode(
            (
                await sim.chat(simple_request(directive(text="x", metadata={"token_usage": False})), token)
            ).content
        )
    )
    assert got.payload_of("metadataEvent") == {}


async def test_metadata_without_trailer_is_still_a_cut_answer(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    script = directive(text="x", metadata={"stop_reason": "END_TURN"}, context_usage=False, metering=False)
    got = interpret(decode((await sim.chat(simple_request(script), token)).content))
    assert got.events == ["assistantResponseEvent", "metadataEvent"]


async def test_a_tool_call_can_be_left_unfinished(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    script = directive(tool_calls=[{"name": "Read", "input": {"path": "x"}, "stop": False}])
    got = interpret(
        decode((await sim.chat(simple_request(script, tools=[tool_spec("Read")]), token)).content)
    )
    payloads = [orjson.loads(m.payload) for m in got.messages if m.event_type == "toolUseEvent"]
    assert payloads and not any(p.get("stop") for p in payloads)
    assert got.events[-2:] == ["contextUsageEvent", "meteringEvent"]
