"""The 200 answer: frames decode, follow kiro-protocol.md §5.7, and do what the script says."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import SimClient, decode, interpret, rich_request, simple_request, tool_spec, user_msg

from kiro_sim.plan import build_plan, split_points
from kiro_sim.script import DirectiveError, Script, ToolCallScript, find_directive
from kiro_sim.stream import random_sizes
from kiro_sim.validate import ChatSummary

WEATHER = [tool_spec("get_weather")]


def directive(**script: Any) -> str:
    return "<<sim:" + json.dumps(script) + ">>"


async def test_default_answer_echoes_and_ends_with_usage_and_metering(sim: SimClient) -> None:
    account, token = await sim.account_with_token(id="a1")
    body = simple_request("Hello, simulator!")
    r = await sim.chat(body, token)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-codewhisperer-conversation-id"] == body["conversationState"]["conversationId"]
    assert r.headers["x-amzn-requestid"]
    assert "connection" not in r.headers
    got = interpret(decode(r.content))
    assert got.text == "Echo: Hello, simulator!"
    assert got.events[-2:] == ["contextUsageEvent", "meteringEvent"]
    assert set(got.events[:-2]) == {"assistantResponseEvent"}
    assert len(got.events) - 2 >= 4  # several short text frames
    for message in got.messages[:-2]:
        assert len(orjson.loads(message.payload)["content"]) <= 6
        assert message.payload.startswith(b'{"content":')
    sent = len(orjson.dumps(body))
    assert got.payload_of("contextUsageEvent") == {
        "contextUsagePercentage": round(sent // 4 / 200_000 * 100, 6)
    }
    metering = got.payload_of("meteringEvent")
    assert list(metering) == ["unit", "unitPlural", "usage"]
    assert metering["unit"] == "credit" and metering["unitPlural"] == "credits"
    assert 0 < metering["usage"] < 1
    view = (await sim.http.get("/_sim/accounts/a1")).json()
    assert view["credits_used"] == pytest.approx(metering["usage"])


async def test_context_window_is_one_million_for_4_6_models(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = simple_request("Hi", model="claude-opus-4.6")
    r = await sim.chat(body, token)
    pct = interpret(decode(r.content)).payload_of("contextUsageEvent")["contextUsagePercentage"]
    assert pct == round(len(orjson.dumps(body)) // 4 / 1_000_000 * 100, 6)


async def test_tool_call_frames(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    args = {"city": "Paris", "units": "metric", "days": [1, 2, 3], "note": 'He said "hi" \\ é'}
    text = "Weather please " + directive(text="Let me check.", tool_calls=[{"input": args}])
    r = await sim.chat(simple_request(text, tools=WEATHER), token)
    got = interpret(decode(r.content))
    assert got.text == "Let me check."
    (use_id, call), *rest = got.tools.items()
    assert not rest
    assert use_id.startswith("tooluse_") and len(use_id) == len("tooluse_") + 22
    assert call["name"] == "get_weather" and call["stopped"] == 1
    assert json.loads(call["input"]) == args
    tool_payloads = [m.payload for m in got.messages if m.event_type == "toolUseEvent"]
    assert tool_payloads[0] == orjson.dumps({"name": "get_weather", "toolUseId": use_id})
    assert tool_payloads[1] == orjson.dumps({"input": "", "name": "get_weather", "toolUseId": use_id})
    assert all(p.startswith(b'{"input":') for p in tool_payloads[2:-1])
    assert len(tool_payloads) > 4  # the JSON is split into several fragments
    assert tool_payloads[-1] == orjson.dumps({"name": "get_weather", "stop": True, "toolUseId": use_id})
    assert got.events[-2:] == ["contextUsageEvent", "meteringEvent"]


async def test_two_tool_calls_are_sequential_with_given_ids(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    calls = [
        {"name": "get_weather", "input": {"city": "A"}, "id": "tooluse_one"},
        {"name": "read_file", "input": {"path": "/x"}},
    ]
    text = directive(tool_calls=calls)
    r = await sim.chat(simple_request(text, tools=[*WEATHER, tool_spec("read_file")]), token)
    got = interpret(decode(r.content))
    assert got.text == ""
    ids = list(got.tools)
    assert ids[0] == "tooluse_one" and got.tools[ids[1]]["name"] == "read_file"
    order = [orjson.loads(m.payload)["toolUseId"] for m in got.messages if m.event_type == "toolUseEvent"]
    first_of_second = order.index(ids[1])
    assert set(order[:first_of_second]) == {"tooluse_one"}


async def test_tool_call_without_any_tool_is_a_directive_error(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    r = await sim.chat(simple_request(directive(tool_calls=[{"input": {}}])), token)
    assert r.status_code == 400
    assert r.json()["reason"] == "SIM_DIRECTIVE_INVALID"


@pytest.mark.parametrize("mode", ["enabled", "adaptive"])
async def test_thinking_tags_when_requested(sim: SimClient, mode: str) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    first = body["conversationState"]["history"][0]["userInputMessage"]
    first["content"] = f"<thinking_mode>{mode}</thinking_mode>" + first["content"]
    got = interpret(decode((await sim.chat(body, token)).content))
    assert got.text.startswith("<thinking>\n")
    head, _, answer = got.text.partition("\n</thinking>\n\n")
    assert head[len("<thinking>\n") :] and answer == "Echo: Here is the weather."
    texts = [
        orjson.loads(m.payload)["content"] for m in got.messages if m.event_type == "assistantResponseEvent"
    ]
    assert not any("<thinking>" in t or "</thinking>" in t for t in texts)  # tags always split
    assert not any("</thinking>\n\n" in t for t in texts)


async def test_scripted_thinking_text_and_no_thinking_by_default(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    got = interpret(decode((await sim.chat(simple_request("plain"), token)).content))
    assert "<thinking>" not in got.text
    text = directive(thinking="Deep thought.", text="42")
    got = interpret(decode((await sim.chat(simple_request(text), token)).content))
    assert got.text == "<thinking>\nDeep thought.\n</thinking>\n\n42"


async def test_midstream_exception_after_n_events(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    text = directive(
        text="abcdefghijklmnopqrstuvwxyz", fragment_max=2, exception="ThrottlingException", exception_after=3
    )
    r = await sim.chat(simple_request(text), token)
    assert r.status_code == 200
    got = interpret(decode(r.content))
    assert got.events == ["assistantResponseEvent"] * 3 + ["exception:ThrottlingException"]
    last = got.messages[-1]
    assert last.message_type == "exception"
    assert orjson.loads(last.payload) == {"message": "Rate exceeded", "reason": "INSUFFICIENT_MODEL_CAPACITY"}
    stats = await sim.stats()
    assert stats["accounts"]["a1"]["midstream_exceptions"] == 1
    assert stats["accounts"]["a1"]["credits_charged"] == 0


async def test_content_length_exceeded_exception_with_custom_message(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    text = directive(
        text="cut",
        exception="ContentLengthExceededException",
        exception_after=99,
        exception_message="Output budget reached",
    )
    got = interpret(decode((await sim.chat(simple_request(text), token)).content))
    assert got.text == "cut"
    assert got.events[-1] == "exception:ContentLengthExceededException"
    assert orjson.loads(got.payloads[-1]) == {"message": "Output budget reached"}


async def test_scripted_http_errors(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    r = await sim.chat(simple_request(directive(error="capacity", retry_after=7)), token)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json() == {
        "message": "I am experiencing high traffic, please try again shortly.",
        "reason": "INSUFFICIENT_MODEL_CAPACITY",
    }
    r = await sim.chat(simple_request(directive(error="unavailable")), token)
    assert (r.status_code, r.json()["reason"]) == (500, "MODEL_TEMPORARILY_UNAVAILABLE")
    r = await sim.chat(simple_request(directive(status=418, body={"odd": True})), token)
    assert (r.status_code, r.json()) == (418, {"odd": True})
    r = await sim.chat(simple_request(directive(error="bad_gateway")), token)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert (await sim.stats())["accounts"]["a1"]["scripted_errors"] == 4


async def test_omit_trailer_and_fixed_numbers(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    got = interpret(
        decode((await sim.chat(simple_request(directive(text="x", metering=False)), token)).content)
    )
    assert got.events == ["assistantResponseEvent", "contextUsageEvent"]
    got = interpret(
        decode(
            (
                await sim.chat(simple_request(directive(text="x", context_usage=False, credits=0.5)), token)
            ).content
        )
    )
    assert got.events == ["assistantResponseEvent", "meteringEvent"]
    assert got.payload_of("meteringEvent")["usage"] == 0.5
    text = directive(text="x", context_usage_percentage=12.5)
    got = interpret(decode((await sim.chat(simple_request(text), token)).content))
    assert got.payload_of("contextUsageEvent") == {"contextUsagePercentage": 12.5}


async def test_text_length_gives_long_answers(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    got = interpret(decode((await sim.chat(simple_request(directive(text_length=5000)), token)).content))
    assert len(got.text) == 5000


async def test_same_request_same_bytes(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = simple_request(directive(tool_calls=[{"input": {"a": 1}}]), tools=WEATHER)
    first, second = await sim.chat(body, token), await sim.chat(body, token)
    assert first.content == second.content
    assert first.headers["x-kiro-sim-seed"] == second.headers["x-kiro-sim-seed"]
    seeded = simple_request(
        directive(seed=int(first.headers["x-kiro-sim-seed"]), tool_calls=[{"input": {"a": 1}}]), tools=WEATHER
    )
    third = await sim.chat(seeded, token)
    assert interpret(decode(third.content)).tools.keys() == interpret(decode(first.content)).tools.keys()


async def test_directive_in_tool_result_and_malformed_directive(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    results = body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"]
    results["toolResults"][0]["content"] = [{"text": "18C " + directive(text="From the result.")}]
    got = interpret(decode((await sim.chat(body, token)).content))
    assert got.text == "From the result."
    r = await sim.chat(simple_request("<<sim:{not json}>>"), token)
    assert r.status_code == 400 and r.json()["reason"] == "SIM_DIRECTIVE_INVALID"
    r = await sim.chat(simple_request('<<sim:{"txet": "typo"}>>'), token)
    assert r.status_code == 400
    assert (await sim.stats())["totals"]["rejections"] == {"sim_directive": 2}


def test_find_directive_syntax() -> None:
    found = find_directive('before <<sim:{"text": "a >> b"}>> after')
    assert found is not None
    assert found.script.text == "a >> b"
    assert found.stripped_text == "before  after"
    assert find_directive("no directive here") is None
    with pytest.raises(DirectiveError, match="followed by"):
        find_directive('<<sim:{"text": "x"}')
    with pytest.raises(DirectiveError, match="JSON object"):
        find_directive("<<sim:[1]>>")


def test_random_sizes_cover_tiny_and_multi_frame_chunks() -> None:
    sizes = random_sizes(Random(1), 50_000)
    assert sum(sizes) == 50_000
    assert min(sizes) == 1
    assert max(sizes) > 1000


def test_split_points_keep_forced_points() -> None:
    points = split_points(Random(3), 100, 50, forced=(6, 77))
    assert 6 in points and 77 in points
    assert points == sorted(set(points)) and all(0 < p < 100 for p in points)


_SUMMARY = ChatSummary("c", "claude-sonnet-4.5", "hi", "hi", ("tool",), ())
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=300),
    thinking=st.text(min_size=1, max_size=100),
    args=st.dictionaries(st.text(max_size=10), _json, max_size=5),
    seed=st.integers(0, 2**32),
)
def test_plan_round_trips_any_text_and_input(
    text: str, thinking: str, args: dict[str, Any], seed: int
) -> None:
    script = Script(text=text, thinking=thinking, tool_calls=[ToolCallScript(input=args)])
    plan = build_plan(
        _SUMMARY, script, Random(seed), user_text="hi", input_tokens=10, window=200_000, fragment_max=6
    )
    got = interpret(decode(b"".join(plan.frames)))
    assert got.text == "<thinking>\n" + thinking + "\n</thinking>\n\n" + text
    (call,) = got.tools.values()
    assert json.loads(call["input"]) == args
    assert got.events[-2:] == ["contextUsageEvent", "meteringEvent"]


async def test_history_user_entries_do_not_trigger_thinking_unless_first(sim: SimClient) -> None:
    _, token = await sim.account_with_token(id="a1")
    body = rich_request()
    body["conversationState"]["history"].insert(2, {"assistantResponseMessage": {"content": "ok"}})
    body["conversationState"]["history"].insert(2, user_msg("<thinking_mode>enabled</thinking_mode>"))
    r = await sim.chat(body, token)
    assert r.status_code == 200, r.text
    got = interpret(decode(r.content))
    assert "<thinking>" not in got.text
