"""Non-streaming responses: fold the assembler's output events into one response model.

`fold_anthropic` and `fold_openai` consume the very events the SSE renderers consume, so a
non-streaming answer can never disagree with a streamed one. A `StreamFailure` among the
events raises `StreamFailedError` (carrying `status_hint` and `error_type`), which the gateway
renders with its single error handler; events without a final `MessageEnd` are a caller bug
(`ValueError`).

Tool arguments: Anthropic's `input` is the concatenated JSON parsed (the assembler emits a
call only once it stopped, with a JSON object; anything else becomes `{}`). OpenAI's
`arguments` is the concatenated text as is. Usage: cache fields (Anthropic) and
`prompt_tokens_details` (OpenAI) only when Kiro reported them; OpenAI's `prompt_tokens` is
all input, cached or not.

Deliberately not here: JSON serialisation (the models' `model_dump`), HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, assert_never

import orjson

from kiroproto.anthropic import response as anthropic
from kiroproto.errors import KiroProtoError
from kiroproto.openai import response as openai
from kiroproto.stream import events as ev
from kiroproto.stream.openai_chunks import FINISH_REASONS
from kiroproto.stream.options import StreamOptions


class StreamFailedError(KiroProtoError):
    """The upstream response failed (the `StreamFailure` event as an exception)."""

    def __init__(self, failure: ev.StreamFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.status_hint = failure.status_hint
        self.error_type = failure.error_type


class _Block:
    __slots__ = ("kind", "tool_use_id", "name", "parts", "signature", "content")

    def __init__(
        self, kind: ev.BlockKind, tool_use_id: str | None, name: str | None, content: str | None = None
    ) -> None:
        self.kind = kind
        self.tool_use_id = tool_use_id or ""
        self.name = name or ""
        self.parts: list[str] = []
        self.signature = ""
        self.content = content


def _collect(events: Iterable[ev.OutputEvent]) -> tuple[list[_Block], ev.MessageEnd]:
    blocks: dict[int, _Block] = {}
    for event in events:
        match event:
            case ev.BlockDelta(index=index, kind=kind, data=data):
                if kind == "signature":
                    blocks[index].signature = data
                else:
                    blocks[index].parts.append(data)
            case ev.BlockStart(index=index, kind=kind, tool_use_id=tool_use_id, name=name, content=content):
                blocks[index] = _Block(kind, tool_use_id, name, content)
            case ev.BlockStop():
                pass
            case ev.MessageEnd():
                return [blocks[i] for i in sorted(blocks)], event
            case ev.StreamFailure():
                raise StreamFailedError(event)
            case _:
                assert_never(event)
    raise ValueError("the output events end without MessageEnd (was ResponseAssembler.finish() called?)")


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def fold_anthropic(events: Iterable[ev.OutputEvent], options: StreamOptions) -> anthropic.Message:
    blocks, end = _collect(events)
    content: list[anthropic.ContentBlock] = []
    for block in blocks:
        text = "".join(block.parts)
        if block.kind == "text":
            content.append(anthropic.TextBlock(text=text))
        elif block.kind == "thinking":
            content.append(anthropic.ThinkingBlock(thinking=text, signature=block.signature))
        elif block.kind == "tool_use":
            content.append(
                anthropic.ToolUseBlock(id=block.tool_use_id, name=block.name, input=_tool_input(text))
            )
        elif block.kind == "server_tool_use":
            content.append(
                anthropic.ServerToolUseBlock(id=block.tool_use_id, name=block.name, input=_tool_input(text))
            )
        elif block.kind == "web_search_tool_result":
            content.append(
                anthropic.WebSearchToolResultBlock(
                    tool_use_id=block.tool_use_id, content=orjson.loads(block.content or "[]")
                )
            )
        else:
            assert_never(block.kind)
    searches = end.usage.web_search_requests
    return anthropic.Message(
        id=options.message_id,
        model=options.model,
        content=content,
        stop_reason=end.stop_reason,
        stop_sequence=end.stop_sequence,
        usage=anthropic.Usage(
            input_tokens=end.usage.input_tokens,
            output_tokens=end.usage.output_tokens,
            cache_creation_input_tokens=end.usage.cache_creation_input_tokens,
            cache_read_input_tokens=end.usage.cache_read_input_tokens,
            server_tool_use=anthropic.ServerToolUsage(web_search_requests=searches) if searches else None,
        ),
    )


def fold_openai(events: Iterable[ev.OutputEvent], options: StreamOptions) -> openai.ChatCompletion:
    blocks, end = _collect(events)
    text: list[str] = []
    thinking: list[str] = []
    tool_calls: list[openai.ToolCall] = []
    for block in blocks:
        if block.kind == "text":
            text.extend(block.parts)
        elif block.kind == "thinking":
            thinking.extend(block.parts)
        elif block.kind == "tool_use":
            function = openai.FunctionCall(name=block.name, arguments="".join(block.parts))
            tool_calls.append(openai.ToolCall(id=block.tool_use_id, function=function))
        elif block.kind == "server_tool_use" or block.kind == "web_search_tool_result":
            pass  # never on the OpenAI route: there `web_search` is an ordinary client tool
        else:
            assert_never(block.kind)
    message = openai.ChatMessage(
        content="".join(text) if text or not tool_calls else None,
        reasoning_content="".join(thinking) if thinking else None,
        tool_calls=tool_calls or None,
    )
    usage = end.usage
    return openai.ChatCompletion(
        id=options.message_id,
        created=options.created,
        model=options.model,
        choices=[openai.Choice(message=message, finish_reason=FINISH_REASONS[end.stop_reason])],
        usage=openai.CompletionUsage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.output_tokens,
            total_tokens=usage.prompt_tokens + usage.output_tokens,
            prompt_tokens_details=None
            if usage.cache_read_input_tokens is None
            else openai.PromptTokensDetails(cached_tokens=usage.cache_read_input_tokens),
        ),
    )
