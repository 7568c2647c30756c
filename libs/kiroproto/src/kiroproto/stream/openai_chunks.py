"""OpenAI Chat Completions chunk renderer: canonical output events → `data: {chunk}` SSE bytes.

    start()        first chunk, delta {role: "assistant", content: ""}
    text delta     delta {content}
    thinking delta delta {reasoning_content}
    tool_use start delta {tool_calls: [{index, id, type: "function", function {name, arguments ""}}]}
    input_json     delta {tool_calls: [{index, function {arguments}}]}
    MessageEnd     delta {} with finish_reason (`FINISH_REASONS`: end_turn/stop_sequence/
                   pause_turn → stop, tool_use → tool_calls, max_tokens/
                   model_context_window_exceeded → length, refusal → content_filter); then,
                   with include_usage, a chunk with `choices: []` and usage {prompt_tokens
                   (uncached + cache read + cache write), completion_tokens, total_tokens,
                   prompt_tokens_details {cached_tokens} only when Kiro sent a cache read};
                   then `data: [DONE]`
    StreamFailure  `data: {"error": {message, type, param, code}}` and nothing after it

Block starts/stops of text and thinking and signature deltas render to nothing. A tool call's
`index` counts tool calls (0, 1, 2, ...), not content blocks; the mapping lives in the explicit
`OpenAIChunkState`. JSON is written straight to bytes (orjson for strings).

Deliberately not here: deciding anything about the response (assembler.py), HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import assert_never

import orjson

from kiroproto.openai.response import FinishReason, openai_error_type
from kiroproto.stream import events as ev
from kiroproto.stream.options import StreamOptions
from kiroproto.stream.renderer import Renderer

_dumps = orjson.dumps

FINISH_REASONS: dict[ev.StopReason, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
_OPEN = b',"logprobs":null,"finish_reason":null}]}\n\n'
_DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class OpenAIChunkState:
    """What the renderer remembers: block index → tool-call index."""

    tool_calls: dict[int, int] = field(default_factory=dict)


class OpenAIChunkRenderer(Renderer):
    __slots__ = ("_options", "_include_usage", "_ident", "_choice_head", "state")

    def __init__(self, options: StreamOptions, include_usage: bool = False) -> None:
        self._options = options
        self._include_usage = include_usage
        self._ident = b'data: {"id":%b,"object":"chat.completion.chunk","created":%d,"model":%b' % (
            _dumps(options.message_id),
            options.created,
            _dumps(options.model),
        )
        self._choice_head = self._ident + b',"choices":[{"index":0,"delta":'
        self.state = OpenAIChunkState()

    def start(self) -> bytes:
        return self._choice_head + b'{"role":"assistant","content":""}' + _OPEN

    def render(self, event: ev.OutputEvent) -> bytes:
        match event:
            case ev.BlockDelta(index=index, kind=kind, data=data):
                if kind == "text":
                    delta = b'{"content":' + _dumps(data) + b"}"
                elif kind == "thinking":
                    delta = b'{"reasoning_content":' + _dumps(data) + b"}"
                elif kind == "input_json":
                    delta = b'{"tool_calls":[{"index":%d,"function":{"arguments":%b}}]}' % (
                        self.state.tool_calls[index],
                        _dumps(data),
                    )
                elif kind == "signature":
                    return b""
                else:
                    assert_never(kind)
                return self._choice_head + delta + _OPEN
            case ev.BlockStart(index=index, kind=kind, tool_use_id=tool_use_id, name=name):
                if kind != "tool_use":
                    return b""
                tool_calls = self.state.tool_calls
                position = tool_calls[index] = len(tool_calls)
                delta = (
                    b'{"tool_calls":[{"index":%d,"id":%b,"type":"function","function":{"name":%b,"arguments":""}}]}'
                    % (position, _dumps(tool_use_id or ""), _dumps(name or ""))
                )
                return self._choice_head + delta + _OPEN
            case ev.BlockStop():
                return b""
            case ev.MessageEnd(stop_reason=stop_reason, usage=usage):
                out = self._choice_head + b'{},"logprobs":null,"finish_reason":%b}]}\n\n' % (
                    _dumps(FINISH_REASONS[stop_reason])
                )
                if self._include_usage:
                    prompt = usage.prompt_tokens
                    details = b""
                    if usage.cache_read_input_tokens is not None:
                        details = (
                            b',"prompt_tokens_details":{"cached_tokens":%d}' % usage.cache_read_input_tokens
                        )
                    out += self._ident + (
                        b',"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d%b}}\n\n'
                        % (prompt, usage.output_tokens, prompt + usage.output_tokens, details)
                    )
                return out + _DONE
            case ev.StreamFailure(error_type=error_type, message=message):
                body = {
                    "error": {
                        "message": message,
                        "type": openai_error_type(error_type),
                        "param": None,
                        "code": None,
                    }
                }
                return b"data: " + _dumps(body) + b"\n\n"
            case _:
                assert_never(event)
