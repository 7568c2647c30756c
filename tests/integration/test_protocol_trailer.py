"""End to end, both SDKs, streaming and not: the trailer (kiro-protocol.md §19.1, CONTRACTS.md
"Errors" and "Token counting"). A trailer-less answer is `max_tokens` / `length`; a trailer-less
answer without content fails over; `metadataEvent.stopReason` maps; cache fields appear exactly
when the simulator sent them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from kiro_testing.pytest_plugin import Stacks
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import Stack, StackConfig

pytestmark = pytest.mark.integration

MODEL = "claude-sonnet-4-6"
NO_TRAILER = {"context_usage": False, "metering": False}


def say(script: dict[str, Any], text: str = "") -> str:
    return f"{text}<<sim:{json.dumps(script)}>>"


@pytest.fixture(scope="module")
def accounts(sim: Sim) -> dict[str, dict[str, Any]]:
    """`cut` is tried first (priority 0) and answers nothing and no trailer unless the request
    carries a directive; `good` (priority 1) answers normally."""
    cut, good = sim.add_account(), sim.add_account()
    sim.script(account_id=cut["id"], mode="sticky", script={"text": "", **NO_TRAILER})
    return {"cut": cut, "good": good}


@pytest.fixture(scope="module")
def pool(sim: Sim, accounts: dict[str, dict[str, Any]], module_stacks: Stacks) -> Stack:
    return module_stacks(
        StackConfig(
            credentials=[credential(accounts["cut"], priority=0), credential(accounts["good"], priority=1)],
            env={"BROKER_FAILURE_STREAK": "1000"},
        ),
        sim=sim,
    )


def anthropic_message(client: anthropic.Anthropic, content: str, stream: bool) -> anthropic.types.Message:
    messages: Any = [{"role": "user", "content": content}]
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=messages) as s:
            return s.get_final_message()
    return client.messages.create(model=MODEL, max_tokens=64, messages=messages)


def openai_completion(client: openai.OpenAI, content: str, stream: bool) -> tuple[str, str | None, Any]:
    """(content, finish_reason, usage) of one chat completion, streamed (with usage) or not."""
    messages: Any = [{"role": "user", "content": content}]
    if not stream:
        completion = client.chat.completions.create(model=MODEL, max_tokens=64, messages=messages)
        return (
            completion.choices[0].message.content or "",
            completion.choices[0].finish_reason,
            completion.usage,
        )
    text, finish, usage = "", None, None
    chunks = client.chat.completions.create(
        model=MODEL, max_tokens=64, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return text, finish, usage


# ------------------------------------------------------------------ truncation


@pytest.mark.parametrize("stream", [False, True])
def test_trailerless_answer_is_max_tokens(claude: anthropic.Anthropic, stream: bool) -> None:
    message = anthropic_message(claude, say({"text": "a cut answ", **NO_TRAILER}), stream)
    assert message.stop_reason == "max_tokens"
    assert [b.text for b in message.content if b.type == "text"] == ["a cut answ"]


@pytest.mark.parametrize("stream", [False, True])
def test_trailerless_answer_is_length(oai: openai.OpenAI, stream: bool) -> None:
    text, finish, _ = openai_completion(oai, say({"text": "a cut answ", **NO_TRAILER}), stream)
    assert (text, finish) == ("a cut answ", "length")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("sdk", ["anthropic", "openai"])
def test_trailerless_contentless_answer_fails_over(
    sim: Sim,
    accounts: dict[str, dict[str, Any]],
    claude: anthropic.Anthropic,
    oai: openai.OpenAI,
    sdk: str,
    stream: bool,
) -> None:
    cut_before = sim.account_stats(accounts["cut"]["id"]).get("chat_requests", 0)
    good_before = sim.account_stats(accounts["good"]["id"]).get("chat_requests", 0)
    if sdk == "anthropic":
        message = anthropic_message(claude, "fail over please", stream)
        text, stop = message.content[0].text, message.stop_reason  # type: ignore[union-attr]
        assert stop == "end_turn"
    else:
        text, finish, _ = openai_completion(oai, "fail over please", stream)
        assert finish == "stop"
    assert text == "Echo: fail over please"
    assert sim.account_stats(accounts["cut"]["id"])["chat_requests"] == cut_before + 1
    assert sim.account_stats(accounts["good"]["id"])["chat_requests"] == good_before + 1


# ------------------------------------------------------------------ metadataEvent

STOP_REASONS = {
    "END_TURN": ("end_turn", "stop"),
    "MAX_TOKENS": ("max_tokens", "length"),
    "MODEL_CONTEXT_WINDOW_EXCEEDED": ("model_context_window_exceeded", "length"),
    "CONTENT_FILTERED": ("refusal", "content_filter"),
    "PAUSE_TURN": ("pause_turn", "stop"),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kiro", list(STOP_REASONS))
def test_metadata_stop_reason_is_mapped(
    claude: anthropic.Anthropic, oai: openai.OpenAI, kiro: str, stream: bool
) -> None:
    content = say({"text": "answer", "metadata": {"stop_reason": kiro}})
    assert anthropic_message(claude, content, stream).stop_reason == STOP_REASONS[kiro][0]
    assert openai_completion(oai, content, stream)[1] == STOP_REASONS[kiro][1]


def test_metadata_tool_use_stop_reason(claude: anthropic.Anthropic, oai: openai.OpenAI) -> None:
    tool: Any = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}
    script = {"tool_calls": [{"input": {"city": "Paris"}}], "metadata": {"stop_reason": "TOOL_USE"}}
    message = claude.messages.create(
        model=MODEL,
        max_tokens=64,
        tools=[tool],
        messages=[{"role": "user", "content": say(script)}],
    )
    assert message.stop_reason == "tool_use" and message.content[-1].type == "tool_use"
    completion = oai.chat.completions.create(
        model=MODEL,
        max_tokens=64,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        messages=[{"role": "user", "content": say(script)}],
    )
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_metadata_usage_with_cache_fields(
    claude: anthropic.Anthropic, oai: openai.OpenAI, stream: bool
) -> None:
    meta = {
        "uncached_input_tokens": 11,
        "output_tokens": 7,
        "cache_read_input_tokens": 300,
        "cache_write_input_tokens": 40,
    }
    content = say({"text": "cached", "metadata": meta})
    usage = anthropic_message(claude, content, stream).usage
    assert (usage.input_tokens, usage.output_tokens) == (11, 7)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (300, 40)
    _, _, oai_usage = openai_completion(oai, content, stream)
    assert (oai_usage.prompt_tokens, oai_usage.completion_tokens, oai_usage.total_tokens) == (351, 7, 358)
    assert (
        oai_usage.prompt_tokens_details is not None and oai_usage.prompt_tokens_details.cached_tokens == 300
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("metadata", [None, {"uncached_input_tokens": 11, "output_tokens": 7}])
def test_no_cache_fields_unless_kiro_sent_them(
    claude: anthropic.Anthropic, oai: openai.OpenAI, stream: bool, metadata: dict[str, Any] | None
) -> None:
    script: dict[str, Any] = {"text": "plain"}
    if metadata is not None:
        script["metadata"] = metadata
    usage = anthropic_message(claude, say(script), stream).usage
    assert usage.cache_read_input_tokens is None and usage.cache_creation_input_tokens is None
    if metadata is not None:
        assert (usage.input_tokens, usage.output_tokens) == (11, 7)
    _, _, oai_usage = openai_completion(oai, say(script), stream)
    assert oai_usage.prompt_tokens_details is None


# ------------------------------------------------------------------ unfinished tool calls

WEATHER: Any = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}
OAI_WEATHER: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
]
UNFINISHED = {"text": "Let me check.", "tool_calls": [{"input": {"city": "Paris"}, "stop": False}]}


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_without_its_stop_is_never_sent(
    claude: anthropic.Anthropic, oai: openai.OpenAI, stream: bool
) -> None:
    messages: Any = [{"role": "user", "content": say(UNFINISHED)}]
    if stream:
        with claude.messages.stream(model=MODEL, max_tokens=64, tools=[WEATHER], messages=messages) as s:
            message: anthropic.types.Message = s.get_final_message()
    else:
        message = claude.messages.create(model=MODEL, max_tokens=64, tools=[WEATHER], messages=messages)
    assert [b.type for b in message.content] == ["text"] and message.stop_reason == "max_tokens"
    if stream:
        calls: list[Any] = []
        finish = None
        for chunk in oai.chat.completions.create(
            model=MODEL, tools=OAI_WEATHER, messages=messages, stream=True
        ):
            for choice in chunk.choices:
                calls += choice.delta.tool_calls or []
                finish = choice.finish_reason or finish
    else:
        completion = oai.chat.completions.create(model=MODEL, tools=OAI_WEATHER, messages=messages)
        calls, finish = (
            list(completion.choices[0].message.tool_calls or []),
            completion.choices[0].finish_reason,
        )
    assert (calls, finish) == ([], "length")
