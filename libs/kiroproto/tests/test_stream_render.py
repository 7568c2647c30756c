"""Renderers (Anthropic SSE, OpenAI chunks), folds and the response models, event by event."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest

from kiroproto.anthropic.response import AnthropicErrorBody, ErrorDetail
from kiroproto.openai.response import (
    ChatCompletionChunk,
    OpenAIErrorBody,
    OpenAIErrorDetail,
    openai_error_type,
)
from kiroproto.sse import SSEDecoder
from kiroproto.stream import (
    AnthropicSSERenderer,
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageEnd,
    OpenAIChunkRenderer,
    OutputEvent,
    ReasoningFragment,
    ResponseAssembler,
    StreamFailedError,
    StreamFailure,
    StreamOptions,
    TextFragment,
    ToolUseFragment,
    Usage,
    fold_anthropic,
    fold_openai,
)

OPTIONS = StreamOptions(model="claude-opus-4-6", message_id="msg_x", created=1, input_tokens_estimate=0)


def sse(data: bytes) -> list[tuple[str | None, Any]]:
    decoder = SSEDecoder()
    events = decoder.feed(data)
    assert not decoder.pending
    return [(e.event, e.data if e.data == "[DONE]" else json.loads(e.data)) for e in events]


def anthropic_events(*events: OutputEvent) -> list[tuple[str | None, Any]]:
    return sse(AnthropicSSERenderer(OPTIONS).render_all(events))


def openai_deltas(*events: OutputEvent, include_usage: bool = False) -> list[Any]:
    out = []
    for _, data in sse(OpenAIChunkRenderer(OPTIONS, include_usage).render_all(events)):
        if data == "[DONE]" or "error" in data:
            out.append(data)
        else:
            ChatCompletionChunk.model_validate(data)  # our own model describes every chunk
            out.append(data["choices"][0] if data["choices"] else {"usage": data["usage"]})
    return out


# A complex response: native reasoning with a signature, text, two tool calls, a stop sequence.
COMPLEX: list[OutputEvent] = [
    BlockStart(0, "thinking"),
    BlockDelta(0, "thinking", "hmm"),
    BlockDelta(0, "signature", "sig=="),
    BlockStop(0),
    BlockStart(1, "text"),
    BlockDelta(1, "text", 'say "hi"\n'),
    BlockStop(1),
    BlockStart(2, "tool_use", "t_1", 'na"me'),
    BlockDelta(2, "input_json", '{"a": "\\u00e9"}'),
    BlockStop(2),
    BlockStart(3, "text"),
    BlockDelta(3, "text", "between"),
    BlockStop(3),
    BlockStart(4, "tool_use", "t_2", "second"),
    BlockDelta(4, "input_json", "{}"),
    BlockStop(4),
    MessageEnd("stop_sequence", "###", Usage(10, 20, 0.5)),
]


def test_anthropic_render_each_event_kind() -> None:
    events = anthropic_events(*COMPLEX)
    assert events[:4] == [
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "sig=="},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    assert events[7] == (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t_1", "name": 'na"me', "input": {}},
        },
    )
    assert events[-2:] == [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "stop_sequence", "stop_sequence": "###"},
                "usage": {"input_tokens": 10, "output_tokens": 20},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_anthropic_start_never_reports_zero_input_tokens_and_ping() -> None:
    renderer = AnthropicSSERenderer(OPTIONS)
    [(name, data)] = sse(renderer.start())
    assert name == "message_start" and data["message"]["usage"]["input_tokens"] == 1
    assert renderer.ping() == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_anthropic_api_error() -> None:
    assert anthropic_events(StreamFailure("api_error", "boom", 500)) == [
        ("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})
    ]


def test_anthropic_sdk_accumulates_a_complex_response() -> None:
    renderer = AnthropicSSERenderer(OPTIONS)
    payload = renderer.start() + renderer.ping() + renderer.render_all(COMPLEX)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://t",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    args: dict[str, Any] = {
        "model": "claude-opus-4-6",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
    }
    with client.messages.stream(**args) as stream:
        final = stream.get_final_message()
    folded = fold_anthropic(COMPLEX, OPTIONS)
    assert final.model_dump(exclude_none=True) == folded.model_dump(exclude_none=True)
    assert folded.model_dump(mode="json")["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
        {"type": "text", "text": 'say "hi"\n'},
        {"type": "tool_use", "id": "t_1", "name": 'na"me', "input": {"a": "é"}},
        {"type": "text", "text": "between"},
        {"type": "tool_use", "id": "t_2", "name": "second", "input": {}},
    ]
    assert (folded.stop_reason, folded.stop_sequence) == ("stop_sequence", "###")


def test_openai_render_each_event_kind() -> None:
    chunks = openai_deltas(*COMPLEX, include_usage=True)
    assert [c.get("delta") for c in chunks[:-3]] == [
        {"reasoning_content": "hmm"},
        {"content": 'say "hi"\n'},
        {
            "tool_calls": [
                {"index": 0, "id": "t_1", "type": "function", "function": {"name": 'na"me', "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": "\\u00e9"}'}}]},
        {"content": "between"},
        {
            "tool_calls": [
                {"index": 1, "id": "t_2", "type": "function", "function": {"name": "second", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
    ]
    assert chunks[-3:] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"},
        {"usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}},
        "[DONE]",
    ]


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("tool_use", "tool_calls"), ("max_tokens", "length")],
)
def test_openai_finish_reasons(stop_reason: Any, finish_reason: str) -> None:
    [end, done] = openai_deltas(MessageEnd(stop_reason, None, Usage(1, 1)))
    assert end["finish_reason"] == finish_reason and done == "[DONE]"


def test_openai_renders_nothing_for_non_content_events() -> None:
    renderer = OpenAIChunkRenderer(OPTIONS)
    for event in (
        BlockStart(0, "text"),
        BlockStart(1, "thinking"),
        BlockStop(0),
        BlockDelta(1, "signature", "s"),
    ):
        assert renderer.render(event) == b""
    first = sse(renderer.start())[0][1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert renderer.state.tool_calls == {}


def test_openai_error_chunk_and_type_mapping() -> None:
    assert openai_deltas(StreamFailure("api_error", "boom", 500)) == [
        {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    ]
    assert openai_error_type("overloaded_error") == "service_unavailable"
    assert openai_error_type("rate_limit_error") == "rate_limit_exceeded"
    assert openai_error_type("something_new") == "server_error"


def test_error_body_models() -> None:
    body = AnthropicErrorBody(error=ErrorDetail(type="overloaded_error", message="busy"))
    assert body.model_dump() == {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    body2 = OpenAIErrorBody(error=OpenAIErrorDetail(message="busy", type="service_unavailable"))
    assert body2.model_dump() == {
        "error": {"message": "busy", "type": "service_unavailable", "param": None, "code": None}
    }


# --- folds --------------------------------------------------------------------------------------


def test_fold_openai_complex() -> None:
    completion = fold_openai(COMPLEX, OPTIONS)
    message = completion.choices[0].message
    assert message.content == 'say "hi"\nbetween'
    assert message.reasoning_content == "hmm"
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        ("t_1", 'na"me', '{"a": "\\u00e9"}'),
        ("t_2", "second", "{}"),
    ]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 30
    assert (completion.id, completion.created, completion.model) == ("msg_x", 1, "claude-opus-4-6")


def test_fold_openai_content_is_none_with_only_tool_calls_and_empty_without_anything() -> None:
    events: list[OutputEvent] = [
        BlockStart(0, "tool_use", "t", "n"),
        BlockDelta(0, "input_json", "{}"),
        BlockStop(0),
        MessageEnd("tool_use", None, Usage(1, 1)),
    ]
    assert fold_openai(events, OPTIONS).choices[0].message.content is None
    empty = fold_openai([MessageEnd("end_turn", None, Usage(1, 1))], OPTIONS).choices[0].message
    assert (empty.content, empty.reasoning_content, empty.tool_calls) == ("", None, None)


@pytest.mark.parametrize("arguments", ['{"cut": "hal', "[1]"])
def test_fold_anthropic_unparsable_tool_input_becomes_empty_object(arguments: str) -> None:
    events: list[OutputEvent] = [
        BlockStart(0, "tool_use", "t", "n"),
        BlockDelta(0, "input_json", arguments),
        BlockStop(0),
        MessageEnd("max_tokens", None, Usage(1, 1)),
    ]
    [block] = fold_anthropic(events, OPTIONS).content
    assert block.type == "tool_use" and block.input == {}


def test_fold_needs_message_end() -> None:
    with pytest.raises(ValueError, match="without MessageEnd"):
        fold_anthropic([BlockStart(0, "text")], OPTIONS)


def test_fold_raises_stream_failed_error() -> None:
    with pytest.raises(StreamFailedError, match="boom") as info:
        fold_openai([StreamFailure("api_error", "boom", 500)], OPTIONS)
    assert info.value.failure == StreamFailure("api_error", "boom", 500)
    assert (info.value.status_hint, info.value.error_type) == (500, "api_error")


def test_assembler_output_folds_and_renders_end_to_end() -> None:
    assembler = ResponseAssembler(
        StreamOptions(
            model="m",
            message_id="msg",
            stop_sequences=("###",),
            tool_name_map={"short": "long.name"},
            thinking=True,
        )
    )
    events: list[OutputEvent] = []
    for kiro_event in (
        ReasoningFragment("r", "s"),
        TextFragment("answer ##"),
        ToolUseFragment("t", "short", '{"x":1}', True),
        TextFragment("tail ###ignored"),
    ):
        events += assembler.feed(kiro_event)
    events += assembler.finish()
    message = fold_anthropic(events, OPTIONS)
    assert [b.model_dump() for b in message.content] == [
        {"type": "thinking", "thinking": "r", "signature": "s"},
        {"type": "text", "text": "answer ##"},
        {"type": "tool_use", "id": "t", "name": "long.name", "input": {"x": 1}},
        {"type": "text", "text": "tail "},
    ]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


# --- exhaustive matches reject what the types exclude ------------------------------------------


@pytest.mark.parametrize(
    "event",
    [object(), BlockDelta(0, "bogus", "x"), BlockStart(0, "bogus")],  # type: ignore[arg-type]
    ids=["object", "delta-kind", "block-kind"],
)
def test_renderers_reject_unknown_events(event: Any) -> None:
    with pytest.raises(AssertionError):
        AnthropicSSERenderer(OPTIONS).render(event)
    if not isinstance(event, BlockStart):  # OpenAI renders nothing for non-tool block starts
        with pytest.raises(AssertionError):
            OpenAIChunkRenderer(OPTIONS).render(event)


def test_assembler_and_folds_reject_unknown_events() -> None:
    with pytest.raises(AssertionError):
        ResponseAssembler(OPTIONS).feed(object())  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        fold_anthropic([object()], OPTIONS)  # type: ignore[list-item]
    bogus: list[Any] = [
        BlockStart(0, "bogus"),  # type: ignore[arg-type]  # not a BlockKind, on purpose
        MessageEnd("end_turn", None, Usage(1, 1)),
    ]
    with pytest.raises(AssertionError):
        fold_anthropic(bogus, OPTIONS)
    with pytest.raises(AssertionError):
        fold_openai(bogus, OPTIONS)
