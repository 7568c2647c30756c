"""Anthropic Messages SSE renderer: canonical output events → `text/event-stream` bytes (§6.6).

    start()  message_start {message: id, model, content [], stop_reason null, usage estimate}
    BlockStart   content_block_start  text {text ""} | thinking {thinking "", signature ""} |
                                      tool_use {id, name, input {}} |
                                      server_tool_use {id, name, input {}} (input as input_json_delta) |
                                      web_search_tool_result {tool_use_id, content} (whole at start)
    BlockDelta   content_block_delta  text_delta | thinking_delta | input_json_delta
                                      (partial_json) | signature_delta
    BlockStop    content_block_stop
    MessageEnd   message_delta {delta {stop_reason, stop_sequence}, usage {input_tokens,
                 output_tokens[, server_tool_use {web_search_requests}]}} then message_stop
    StreamFailure  event: error {"type": "error", "error": {type, message}}, and no message_stop
    ping()   event: ping (keep-alive while the upstream is silent)

Thinking signatures: the SDK's accumulator needs only the `signature` key in the thinking
block's `content_block_start` (`""` here); a `signature_delta` is sent only when the upstream
gave a real signature (reasoningContentEvent). No made-up placeholder: a fake signature would
fail at Anthropic anyway and an empty one is honest. `message_start` carries the local
input-token estimate (never 0) and `output_tokens: 1`; `message_delta` carries the final
numbers, `input_tokens` included (the SDK's accumulator takes it from there), and the cache
fields only when Kiro reported them (CONTRACTS.md "Token counting": never estimated).

The JSON is written straight to bytes (orjson for strings): no models on this hot path. The
renderer holds no state besides its options, so it may be shared across a fail-over.

Deliberately not here: deciding anything about the response (assembler.py), HTTP.
"""

from __future__ import annotations

from typing import assert_never

import orjson

from kiroproto.stream import events as ev
from kiroproto.stream.options import StreamOptions
from kiroproto.stream.renderer import Renderer

_dumps = orjson.dumps

_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT = b',"delta":{"type":"text_delta","text":'
_THINKING = b',"delta":{"type":"thinking_delta","thinking":'
_INPUT_JSON = b',"delta":{"type":"input_json_delta","partial_json":'
_SIGNATURE = b',"delta":{"type":"signature_delta","signature":'
_END = b"}}\n\n"
_START_HEAD = b'event: content_block_start\ndata: {"type":"content_block_start","index":'
_STOP_HEAD = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


class AnthropicSSERenderer(Renderer):
    __slots__ = ("_options",)

    def __init__(self, options: StreamOptions) -> None:
        self._options = options

    def start(self) -> bytes:
        options = self._options
        message = {
            "type": "message_start",
            "message": {
                "id": options.message_id,
                "type": "message",
                "role": "assistant",
                "model": options.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": max(1, options.input_tokens_estimate), "output_tokens": 1},
            },
        }
        return b"event: message_start\ndata: " + _dumps(message) + b"\n\n"

    def ping(self) -> bytes:
        return _PING

    def render(self, event: ev.OutputEvent) -> bytes:
        match event:
            case ev.BlockDelta(index=index, kind=kind, data=data):
                if kind == "text":
                    head = _TEXT
                elif kind == "thinking":
                    head = _THINKING
                elif kind == "input_json":
                    head = _INPUT_JSON
                elif kind == "signature":
                    head = _SIGNATURE
                else:
                    assert_never(kind)
                return b"".join((_DELTA_HEAD, str(index).encode(), head, _dumps(data), _END))
            case ev.BlockStart(index=index, kind=kind, tool_use_id=tool_use_id, name=name, content=content):
                if kind == "text":
                    block = b'{"type":"text","text":""}'
                elif kind == "thinking":
                    block = b'{"type":"thinking","thinking":"","signature":""}'
                elif kind == "tool_use":
                    block = b'{"type":"tool_use","id":%b,"name":%b,"input":{}}' % (
                        _dumps(tool_use_id or ""),
                        _dumps(name or ""),
                    )
                elif kind == "server_tool_use":
                    block = b'{"type":"server_tool_use","id":%b,"name":%b,"input":{}}' % (
                        _dumps(tool_use_id or ""),
                        _dumps(name or ""),
                    )
                elif kind == "web_search_tool_result":
                    block = b'{"type":"web_search_tool_result","tool_use_id":%b,"content":%b}' % (
                        _dumps(tool_use_id or ""),
                        (content or "[]").encode(),
                    )
                else:
                    assert_never(kind)
                return b"".join((_START_HEAD, str(index).encode(), b',"content_block":', block, b"}\n\n"))
            case ev.BlockStop(index=index):
                return b"".join((_STOP_HEAD, str(index).encode(), b"}\n\n"))
            case ev.MessageEnd(stop_reason=stop_reason, stop_sequence=stop_sequence, usage=usage):
                final: dict[str, object] = {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                }
                if usage.cache_read_input_tokens is not None:
                    final["cache_read_input_tokens"] = usage.cache_read_input_tokens
                if usage.cache_creation_input_tokens is not None:
                    final["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
                if usage.web_search_requests:
                    final["server_tool_use"] = {"web_search_requests": usage.web_search_requests}
                delta = {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": final,
                }
                return b"event: message_delta\ndata: " + _dumps(delta) + b"\n\n" + _MESSAGE_STOP
            case ev.StreamFailure(error_type=error_type, message=message):
                body = {"type": "error", "error": {"type": error_type, "message": message}}
                return b"event: error\ndata: " + _dumps(body) + b"\n\n"
            case _:
                assert_never(event)
