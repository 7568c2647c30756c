"""The trailer (§19.1, CONTRACTS.md "Errors" and "Token counting"): completeness, truncation,
metadataEvent usage and stop reasons, through the assembler, both renderers and both folds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.errors import DecodeError
from kiroproto.eventstream import Message
from kiroproto.sse import SSEDecoder
from kiroproto.stream import (
    FINISH_REASONS,
    KIRO_STOP_REASONS,
    AnthropicSSERenderer,
    BlockDelta,
    ContextUsage,
    KiroEvent,
    MessageEnd,
    Metadata,
    Metering,
    OpenAIChunkRenderer,
    OutputEvent,
    ResponseAssembler,
    StreamFailure,
    StreamOptions,
    TextFragment,
    TokenUsage,
    ToolUseFragment,
    Usage,
    fold_anthropic,
    fold_openai,
    parse_kiro_message,
)

OPTIONS = StreamOptions(
    model="claude-sonnet-4-5", message_id="msg_t", input_tokens_estimate=42, context_window=1000
)


def run(events: list[KiroEvent], options: StreamOptions = OPTIONS) -> list[OutputEvent]:
    assembler = ResponseAssembler(options)
    out: list[OutputEvent] = []
    for event in events:
        out += assembler.feed(event)
    return out + assembler.finish()


def metadata_event(payload: dict[str, Any]) -> Message:
    headers = {":event-type": "metadataEvent", ":content-type": "application/json", ":message-type": "event"}
    return Message(headers, json.dumps(payload).encode())


# --- parsing ---------------------------------------------------------------------------------------


def test_metadata_event_parses_usage_and_stop_reason() -> None:
    payload = {
        "tokenUsage": {
            "uncachedInputTokens": 10,
            "outputTokens": 5,
            "totalTokens": 115,
            "cacheReadInputTokens": 100,
            "cacheWriteInputTokens": 0,
            "contextUsagePercentage": 1.5,
        },
        "stopReason": "MAX_TOKENS",
        "stopDetails": {"refusal": None},
    }
    assert parse_kiro_message(metadata_event(payload)) == Metadata(
        TokenUsage(10, 5, 100, 0, 1.5), "MAX_TOKENS"
    )


def test_metadata_event_fields_are_optional() -> None:
    assert parse_kiro_message(metadata_event({})) == Metadata(None, None)
    assert parse_kiro_message(metadata_event({"tokenUsage": {"outputTokens": 3}})) == Metadata(
        TokenUsage(output=3), None
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"tokenUsage": [1]},
        {"tokenUsage": {"outputTokens": "3"}},
        {"tokenUsage": {"outputTokens": -1}},
        {"tokenUsage": {"outputTokens": True}},
        {"tokenUsage": {"contextUsagePercentage": "x"}},
        {"stopReason": 3},
    ],
)
def test_malformed_metadata_event_is_a_decode_error(payload: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        parse_kiro_message(metadata_event(payload))


# --- completeness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("trailer", [ContextUsage(1.0), Metering(0.1, "credit")])
def test_either_trailer_event_completes_the_answer(trailer: KiroEvent) -> None:
    end = run([TextFragment("hi"), trailer])[-1]
    assert isinstance(end, MessageEnd)
    assert (end.stop_reason, end.truncated) == ("end_turn", False)


def test_content_without_trailer_is_max_tokens_and_truncated() -> None:
    end = run([TextFragment("half an ans"), Metadata(None, "END_TURN")])[-1]
    assert isinstance(end, MessageEnd)
    assert (end.stop_reason, end.truncated) == ("max_tokens", True)


def test_no_content_and_no_trailer_is_a_failure_without_content() -> None:
    assembler = ResponseAssembler(OPTIONS)
    assert assembler.feed(TextFragment("")) == []
    assert assembler.finish() == [
        StreamFailure("api_error", "the upstream answer ended without content", 502)
    ]
    assert not assembler.has_content and assembler.done


def test_truncated_answer_renders_max_tokens_and_length() -> None:
    events = run([TextFragment("cut")])
    assert fold_anthropic(events, OPTIONS).stop_reason == "max_tokens"
    assert fold_openai(events, OPTIONS).choices[0].finish_reason == "length"


# --- stop reasons ----------------------------------------------------------------------------------

ANTHROPIC_AND_OPENAI = {
    "END_TURN": ("end_turn", "stop"),
    "TOOL_USE": ("end_turn", "stop"),  # no tool call in this answer: never a tool_use without one
    "MAX_TOKENS": ("max_tokens", "length"),
    "MODEL_CONTEXT_WINDOW_EXCEEDED": ("model_context_window_exceeded", "length"),
    "CONTENT_FILTERED": ("refusal", "content_filter"),
    "PAUSE_TURN": ("pause_turn", "stop"),
    "SOMETHING_NEW": ("end_turn", "stop"),  # unknown reasons are ignored
}


@pytest.mark.parametrize(("kiro", "expected"), ANTHROPIC_AND_OPENAI.items())
def test_metadata_stop_reason_maps_to_both_apis(kiro: str, expected: tuple[str, str]) -> None:
    events = run([TextFragment("x"), Metadata(None, kiro), ContextUsage(1.0)])
    assert fold_anthropic(events, OPTIONS).stop_reason == expected[0]
    assert fold_openai(events, OPTIONS).choices[0].finish_reason == expected[1]
    stream = OpenAIChunkRenderer(OPTIONS).render_all(events)
    assert f'"finish_reason":"{expected[1]}"'.encode() in stream
    sse = AnthropicSSERenderer(OPTIONS).render_all(events)
    assert f'"stop_reason":"{expected[0]}"'.encode() in sse


def test_every_kiro_stop_reason_has_a_finish_reason() -> None:
    assert set(KIRO_STOP_REASONS.values()) <= set(FINISH_REASONS)


def test_end_turn_with_a_tool_call_stays_tool_use() -> None:
    events = run(
        [
            ToolUseFragment("t1", "Read", '{"a":1}', False),
            ToolUseFragment("t1", "Read", None, True),
            Metadata(None, "END_TURN"),
            Metering(0.1, "credit"),
        ]
    )
    assert isinstance(events[-1], MessageEnd) and events[-1].stop_reason == "tool_use"


def test_thinking_only_with_a_kiro_stop_reason_keeps_it() -> None:
    options = StreamOptions(model="m", message_id="msg", thinking=True)
    events = run(
        [TextFragment("<thinking>\nhm"), Metadata(None, "PAUSE_TURN"), Metering(0.1, "credit")], options
    )
    end = events[-1]
    assert isinstance(end, MessageEnd) and end.stop_reason == "pause_turn"
    assert BlockDelta(1, "text", " ") in events


# --- usage -----------------------------------------------------------------------------------------


def test_metadata_usage_wins_and_cache_fields_come_only_from_kiro() -> None:
    usage = TokenUsage(uncached_input=7, output=9, cache_read=100, cache_write=20)
    events = run([TextFragment("x"), Metadata(usage, None), ContextUsage(50.0), Metering(0.5, "credit")])
    end = events[-1]
    assert isinstance(end, MessageEnd)
    assert end.usage == Usage(7, 9, 0.5, 100, 20)
    message = fold_anthropic(events, OPTIONS).model_dump(mode="json")
    assert message["usage"] == {
        "input_tokens": 7,
        "output_tokens": 9,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 100,
    }
    completion = fold_openai(events, OPTIONS).model_dump(mode="json")
    assert completion["usage"] == {
        "prompt_tokens": 127,
        "completion_tokens": 9,
        "total_tokens": 136,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    sse = sse_events(AnthropicSSERenderer(OPTIONS).render_all(events))
    assert sse[-2]["usage"] == {
        "input_tokens": 7,
        "output_tokens": 9,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    }
    chunks = sse_events(OpenAIChunkRenderer(OPTIONS, include_usage=True).render_all(events))
    assert chunks[-1]["usage"] == completion["usage"]


def test_without_metadata_there_are_no_cache_fields() -> None:
    events = run([TextFragment("x"), ContextUsage(50.0)])
    end = events[-1]
    assert isinstance(end, MessageEnd) and end.usage == Usage(500, end.usage.output_tokens, None)
    assert "cache" not in json.dumps(fold_anthropic(events, OPTIONS).model_dump(mode="json"))
    assert "prompt_tokens_details" not in json.dumps(fold_openai(events, OPTIONS).model_dump(mode="json"))
    start = AnthropicSSERenderer(OPTIONS).start()
    assert b"cache" not in start + AnthropicSSERenderer(OPTIONS).render_all(events)
    assert b"prompt_tokens_details" not in OpenAIChunkRenderer(OPTIONS, include_usage=True).render_all(events)


def test_metadata_percentage_is_used_when_no_context_usage_event_came() -> None:
    events = run(
        [TextFragment("x"), Metadata(TokenUsage(output=3, context_percentage=10.0), None), Metering(1, "c")]
    )
    end = events[-1]
    assert isinstance(end, MessageEnd) and (end.usage.input_tokens, end.usage.output_tokens) == (100, 3)


def sse_events(data: bytes) -> list[Any]:
    decoder = SSEDecoder()
    return [json.loads(e.data) for e in decoder.feed(data) if e.data != "[DONE]"]


# --- properties ------------------------------------------------------------------------------------

_usage = st.builds(
    TokenUsage,
    uncached_input=st.none() | st.integers(0, 10**7),
    output=st.none() | st.integers(0, 10**6),
    cache_read=st.none() | st.integers(0, 10**7),
    cache_write=st.none() | st.integers(0, 10**7),
    context_percentage=st.none() | st.floats(0, 150),
)
_event = st.one_of(
    st.builds(TextFragment, st.text(max_size=8)),
    st.builds(ContextUsage, st.floats(0, 150)),
    st.builds(Metering, st.floats(0, 5), st.just("credit")),
    st.builds(Metadata, st.none() | _usage, st.none() | st.sampled_from([*KIRO_STOP_REASONS, "X"])),
    st.builds(
        ToolUseFragment,
        st.sampled_from(["t1", "t2"]),
        st.just("Read"),
        st.none() | st.sampled_from(["", "{", '"a":1', "}", "{}"]),
        st.booleans(),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_event, max_size=25))
def test_any_event_sequence_ends_once_and_obeys_the_trailer_rules(events: list[KiroEvent]) -> None:
    out = run(events)
    terminal = out[-1]
    assert sum(isinstance(e, MessageEnd | StreamFailure) for e in out) == 1
    trailer = any(isinstance(e, ContextUsage | Metering) for e in events)
    if isinstance(terminal, MessageEnd):
        if not trailer:
            assert terminal.truncated and terminal.stop_reason == "max_tokens"
        if terminal.truncated:
            assert terminal.stop_reason == "max_tokens"
        reported = [e.token_usage for e in events if isinstance(e, Metadata) and e.token_usage is not None]
        last = reported[-1] if reported else None
        assert terminal.usage.cache_read_input_tokens == (last.cache_read if last else None)
        assert terminal.usage.cache_creation_input_tokens == (last.cache_write if last else None)
        # a tool block appears only for an id whose stop arrived, and only once
        started = [e for e in out if getattr(e, "kind", None) == "tool_use" and hasattr(e, "tool_use_id")]
        stopped = {e.tool_use_id for e in events if isinstance(e, ToolUseFragment) and e.stop}
        assert len(started) == len({e.tool_use_id for e in started})
        assert {e.tool_use_id for e in started} <= stopped
        fold_anthropic(out, OPTIONS)
        fold_openai(out, OPTIONS)


_COUNT_KEYS = {
    "uncachedInputTokens": "uncached_input",
    "outputTokens": "output",
    "cacheReadInputTokens": "cache_read",
    "cacheWriteInputTokens": "cache_write",
}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(_COUNT_KEYS)), st.integers(0, 10**9)),
    st.none() | st.text(max_size=30),
    st.booleans(),
)
def test_metadata_event_round_trips_what_kiro_sent(
    counts: dict[str, int], stop: str | None, total: bool
) -> None:
    usage: dict[str, Any] = dict(counts)
    if total:
        usage["totalTokens"] = sum(counts.values())
    payload: dict[str, Any] = {"tokenUsage": usage}
    if stop is not None:
        payload["stopReason"] = stop
    parsed = parse_kiro_message(metadata_event(payload))
    assert isinstance(parsed, Metadata)
    assert parsed.stop_reason == (stop or None)
    assert parsed.token_usage is not None
    for wire_key, field_name in _COUNT_KEYS.items():
        assert getattr(parsed.token_usage, field_name) == counts.get(wire_key)
