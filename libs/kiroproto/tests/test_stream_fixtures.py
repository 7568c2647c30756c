"""The five shared fixtures through the whole response pipeline.

    bytes --EventStreamDecoder--> Message --parse_kiro_message--> KiroEvent
          --ResponseAssembler--> OutputEvent --AnthropicSSERenderer / OpenAIChunkRenderer--> bytes

Each fixture is fed whole, byte by byte and in random splits; the exact Anthropic SSE event
sequence and the exact OpenAI chunk sequence are asserted. The official SDKs then read our bytes
over an `httpx2.MockTransport` (the transport both SDKs use): the Anthropic stream accumulator
must rebuild exactly `fold_anthropic` of the same events, and the OpenAI client must parse every
chunk and rebuild exactly `fold_openai`.

Expected output-token numbers are computed with `output_tokens` so that they follow the token
counter in use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroproto.eventstream import EventStreamDecoder
from kiroproto.sse import SSEDecoder
from kiroproto.stream import (
    AnthropicSSERenderer,
    OpenAIChunkRenderer,
    OutputEvent,
    ResponseAssembler,
    StreamFailedError,
    StreamOptions,
    fold_anthropic,
    fold_openai,
    output_tokens,
    parse_kiro_message,
)

OPTIONS = StreamOptions(
    model="claude-sonnet-4-6",
    message_id="msg_01",
    thinking=True,
    input_tokens_estimate=12,
    context_window=200_000,
    created=1_700_000_000,
)
TOOL_ID = "tooluse_Zk3Qm8TnR2yWc5XbVd1AoE"
THINKING = "The user greets me. Mentioning `</thinking>` in prose must not close the block.\n"


# --- pipeline helpers -----------------------------------------------------------------------------


def pipeline(chunks: Iterable[bytes], options: StreamOptions = OPTIONS) -> list[OutputEvent]:
    decoder = EventStreamDecoder()
    assembler = ResponseAssembler(options)
    out: list[OutputEvent] = []
    for chunk in chunks:
        decoder.feed(chunk)
        for message in decoder:
            out += assembler.feed(parse_kiro_message(message))
    decoder.close()
    out += assembler.finish()
    return out


def anthropic_bytes(events: list[OutputEvent], options: StreamOptions = OPTIONS) -> bytes:
    renderer = AnthropicSSERenderer(options)
    return renderer.start() + renderer.render_all(events)


def openai_bytes(events: list[OutputEvent], include_usage: bool = True) -> bytes:
    renderer = OpenAIChunkRenderer(OPTIONS, include_usage=include_usage)
    return renderer.start() + renderer.render_all(events)


def sse(data: bytes) -> list[tuple[str | None, Any]]:
    decoder = SSEDecoder()
    events = decoder.feed(data)
    assert not decoder.pending, "every event ends with a blank line"
    return [(e.event, e.data if e.data == "[DONE]" else json.loads(e.data)) for e in events]


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted(cuts)
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# --- expected Anthropic SSE -----------------------------------------------------------------------


def message_start() -> tuple[str, Any]:
    usage = {"input_tokens": 12, "output_tokens": 1}  # no cache fields: Kiro has not said yet
    message: dict[str, object] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return ("message_start", {"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, Any]) -> tuple[str, Any]:
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def block_delta(index: int, delta: dict[str, Any]) -> tuple[str, Any]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def text_delta(index: int, text: str) -> tuple[str, Any]:
    return block_delta(index, {"type": "text_delta", "text": text})


def block_stop(index: int) -> tuple[str, Any]:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_end(stop_reason: str, input_tokens: int, emitted: str) -> list[tuple[str, Any]]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens(emitted)},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


TEXT_BLOCK = {"type": "text", "text": ""}

EXPECTED_ANTHROPIC: dict[str, list[tuple[str, Any]]] = {
    "synthetic-text-turn": [
        message_start(),
        block_start(0, TEXT_BLOCK),
        text_delta(0, "Hello"),
        text_delta(0, ", wor"),
        text_delta(0, "ld!"),
        block_stop(0),
        *message_end("end_turn", 3896, "Hello, world!"),
    ],
    "synthetic-tool-turn": [
        message_start(),
        block_start(0, TEXT_BLOCK),
        text_delta(0, "Let me check the weather."),
        block_stop(0),
        block_start(1, {"type": "tool_use", "id": TOOL_ID, "name": "get_weather", "input": {}}),
        block_delta(1, {"type": "input_json_delta", "partial_json": '{"ci'}),
        block_delta(1, {"type": "input_json_delta", "partial_json": 'ty": "Par'}),
        block_delta(1, {"type": "input_json_delta", "partial_json": 'is"}'}),
        block_stop(1),
        *message_end("tool_use", 5000, 'Let me check the weather.{"city": "Paris"}'),
    ],
    "synthetic-thinking-turn": [
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": THINKING}),
        block_stop(0),
        block_start(1, TEXT_BLOCK),
        text_delta(1, "Hi there!"),
        block_stop(1),
        *message_end("end_turn", 1500, THINKING + "Hi there!"),
    ],
    "synthetic-midstream-throttling": [
        message_start(),
        block_start(0, TEXT_BLOCK),
        text_delta(0, "Partial"),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Rate exceeded"}}),
    ],
    "synthetic-content-length-exceeded": [
        message_start(),
        block_start(0, TEXT_BLOCK),
        text_delta(0, "A long answer that gets cut"),
        block_stop(0),
        *message_end("max_tokens", 12, "A long answer that gets cut"),
    ],
}


# --- expected OpenAI chunks -----------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> tuple[None, Any]:
    return (
        None,
        {
            "id": "msg_01",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "claude-sonnet-4-6",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        },
    )


def chunk_end(finish_reason: str, prompt_tokens: int, emitted: str) -> list[tuple[None, Any]]:
    completion_tokens = output_tokens(emitted)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    usage_chunk = {
        "id": "msg_01",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "claude-sonnet-4-6",
        "choices": [],
        "usage": usage,
    }
    return [chunk({}, finish_reason), (None, usage_chunk), (None, "[DONE]")]


ROLE = chunk({"role": "assistant", "content": ""})

EXPECTED_OPENAI: dict[str, list[tuple[None, Any]]] = {
    "synthetic-text-turn": [
        ROLE,
        chunk({"content": "Hello"}),
        chunk({"content": ", wor"}),
        chunk({"content": "ld!"}),
        *chunk_end("stop", 3896, "Hello, world!"),
    ],
    "synthetic-tool-turn": [
        ROLE,
        chunk({"content": "Let me check the weather."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": TOOL_ID,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Par'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'is"}'}}]}),
        *chunk_end("tool_calls", 5000, 'Let me check the weather.{"city": "Paris"}'),
    ],
    "synthetic-thinking-turn": [
        ROLE,
        chunk({"reasoning_content": THINKING}),
        chunk({"content": "Hi there!"}),
        *chunk_end("stop", 1500, THINKING + "Hi there!"),
    ],
    "synthetic-midstream-throttling": [
        ROLE,
        chunk({"content": "Partial"}),
        (
            None,
            {
                "error": {
                    "message": "Rate exceeded",
                    "type": "service_unavailable",
                    "param": None,
                    "code": None,
                }
            },
        ),
    ],
    "synthetic-content-length-exceeded": [
        ROLE,
        chunk({"content": "A long answer that gets cut"}),
        *chunk_end("length", 12, "A long answer that gets cut"),
    ],
}

FIXTURES = sorted(EXPECTED_ANTHROPIC)


def body(shared_fixtures: Path, name: str) -> bytes:
    return (shared_fixtures / f"{name}.eventstream").read_bytes()


# --- exact transcripts ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_exact_transcripts_whole_and_byte_by_byte(shared_fixtures: Path, name: str) -> None:
    data = body(shared_fixtures, name)
    whole = pipeline([data])
    assert pipeline(data[i : i + 1] for i in range(len(data))) == whole
    assert sse(anthropic_bytes(whole)) == EXPECTED_ANTHROPIC[name]
    assert sse(openai_bytes(whole)) == EXPECTED_OPENAI[name]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(FIXTURES), data=st.data())
def test_random_splits(shared_fixtures: Path, name: str, data: st.DataObject) -> None:
    raw = body(shared_fixtures, name)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert sse(anthropic_bytes(pipeline(splits(raw, cuts)))) == EXPECTED_ANTHROPIC[name]


def test_text_turn_bytes_are_pinned(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-text-turn")])
    rendered = anthropic_bytes(events)
    assert rendered.startswith(
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message",'
    )
    assert (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":", wor"}}\n\n' in rendered
    )
    assert rendered.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert openai_bytes(events).endswith(b"data: [DONE]\n\n")


def test_thinking_fixture_with_extraction_off_passes_tags_through(shared_fixtures: Path) -> None:
    options = StreamOptions(model="m", message_id="msg_01")
    events = pipeline([body(shared_fixtures, "synthetic-thinking-turn")], options)
    text = "".join(
        e["delta"]["text"]
        for name, e in sse(anthropic_bytes(events, options))
        if name == "content_block_delta"
    )
    assert text == "<thinking>\n" + THINKING + "</thinking>\n\nHi there!"


def test_openai_without_usage_chunk(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-text-turn")])
    expected = EXPECTED_OPENAI["synthetic-text-turn"]
    assert sse(openai_bytes(events, include_usage=False)) == [*expected[:-2], expected[-1]]


# --- the official SDKs read our bytes -------------------------------------------------------------


def sdk_http_client(payload: bytes, chunk_size: int) -> httpx2.Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        chunks: Iterator[bytes] = (payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size))
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def anthropic_client(payload: bytes, chunk_size: int = 7) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=sdk_http_client(payload, chunk_size),
    )


def openai_client(payload: bytes, chunk_size: int = 7) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="test",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=sdk_http_client(payload, chunk_size),
    )


ANTHROPIC_ARGS: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "hi"}],
}
OPENAI_ARGS: dict[str, Any] = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
SUCCESSFUL = [name for name in FIXTURES if name != "synthetic-midstream-throttling"]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
@pytest.mark.parametrize("name", SUCCESSFUL)
def test_anthropic_sdk_accumulates_the_folded_message(
    shared_fixtures: Path, name: str, chunk_size: int
) -> None:
    events = pipeline([body(shared_fixtures, name)])
    client = anthropic_client(anthropic_bytes(events), chunk_size)
    with client.messages.stream(**ANTHROPIC_ARGS) as stream:
        final = stream.get_final_message()
    folded = fold_anthropic(events, OPTIONS)
    assert final.model_dump(exclude_none=True) == folded.model_dump(exclude_none=True)
    # The non-streaming body parses as the SDK's own Message type, too.
    assert anthropic.types.Message.model_validate(folded.model_dump(mode="json")) == anthropic.types.Message(
        **final.model_dump(exclude_none=True)
    )


def test_anthropic_sdk_final_message_contents(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-tool-turn")])
    with anthropic_client(anthropic_bytes(events)).messages.stream(**ANTHROPIC_ARGS) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.usage.input_tokens == 5000
    [text, tool_use] = final.content
    assert text.type == "text" and text.text == "Let me check the weather."
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == (TOOL_ID, "get_weather", {"city": "Paris"})

    events = pipeline([body(shared_fixtures, "synthetic-thinking-turn")])
    with anthropic_client(anthropic_bytes(events)).messages.stream(**ANTHROPIC_ARGS) as stream:
        final = stream.get_final_message()
    [thinking, text] = final.content
    assert thinking.type == "thinking" and thinking.thinking == THINKING and thinking.signature == ""
    assert text.type == "text" and text.text == "Hi there!"


def test_anthropic_sdk_raises_on_midstream_error(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-midstream-throttling")])
    with pytest.raises(anthropic.APIStatusError, match="Rate exceeded") as info:
        with anthropic_client(anthropic_bytes(events)).messages.stream(**ANTHROPIC_ARGS) as stream:
            stream.get_final_message()
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(StreamFailedError, match="Rate exceeded") as failed:
        fold_anthropic(events, OPTIONS)
    assert (failed.value.status_hint, failed.value.error_type) == (529, "overloaded_error")


def accumulate_openai(chunks: Iterable[openai.types.chat.ChatCompletionChunk]) -> dict[str, Any]:
    """A plain accumulator over SDK-parsed chunks, as client code writes it."""
    content: list[str] = []
    reasoning: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    finish_reason = None
    usage = None
    for item in chunks:
        if item.usage is not None:
            usage = item.usage.model_dump(exclude_none=True)
        for choice in item.choices:
            delta = choice.delta
            content.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
            for call in delta.tool_calls or []:
                slot = tools.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] = call.function.name or slot["name"]
                    slot["arguments"] += call.function.arguments or ""
            finish_reason = choice.finish_reason or finish_reason
    return {
        "content": "".join(content),
        "reasoning": "".join(reasoning),
        "tools": [tools[i] for i in sorted(tools)],
        "finish_reason": finish_reason,
        "usage": usage,
    }


@pytest.mark.parametrize("chunk_size", [1, 4096])
@pytest.mark.parametrize("name", SUCCESSFUL)
def test_openai_sdk_parses_our_chunks(shared_fixtures: Path, name: str, chunk_size: int) -> None:
    events = pipeline([body(shared_fixtures, name)])
    client = openai_client(openai_bytes(events), chunk_size)
    got = accumulate_openai(client.chat.completions.create(**OPENAI_ARGS, stream=True))
    folded = fold_openai(events, OPTIONS)
    message = folded.choices[0].message
    assert got["content"] == (message.content or "")
    assert got["reasoning"] == (message.reasoning_content or "")
    assert got["tools"] == [
        {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
        for call in message.tool_calls or []
    ]
    for call in got["tools"]:
        assert isinstance(json.loads(call["arguments"]), dict)
    assert got["finish_reason"] == folded.choices[0].finish_reason
    assert got["usage"] == folded.usage.model_dump()
    # The non-streaming body parses as the SDK's own ChatCompletion type.
    parsed = openai.types.chat.ChatCompletion.model_validate(folded.model_dump(mode="json"))
    assert parsed.choices[0].message.content == message.content


def test_openai_sdk_stream_helper_builds_the_folded_completion(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-tool-turn")])
    with openai_client(openai_bytes(events)).chat.completions.stream(**OPENAI_ARGS) as stream:
        final = stream.get_final_completion()
    folded = fold_openai(events, OPTIONS)
    [call] = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        TOOL_ID,
        "get_weather",
        {"city": "Paris"},
    )
    assert final.choices[0].finish_reason == "tool_calls"
    assert (
        final.choices[0].message.content == folded.choices[0].message.content == "Let me check the weather."
    )
    assert final.usage is not None and final.usage.model_dump(exclude_none=True) == folded.usage.model_dump()


def test_openai_sdk_raises_on_midstream_error(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-midstream-throttling")])
    stream = openai_client(openai_bytes(events)).chat.completions.create(**OPENAI_ARGS, stream=True)
    with pytest.raises(openai.APIError, match="Rate exceeded") as info:
        list(stream)
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "service_unavailable"
    with pytest.raises(StreamFailedError):
        fold_openai(events, OPTIONS)


def test_content_length_exceeded_maps_to_max_tokens_and_length(shared_fixtures: Path) -> None:
    events = pipeline([body(shared_fixtures, "synthetic-content-length-exceeded")])
    assert fold_anthropic(events, OPTIONS).stop_reason == "max_tokens"
    assert fold_openai(events, OPTIONS).choices[0].finish_reason == "length"
