"""Inbound client models (lenient) and the Kiro body models (strict, camelCase, exclude_none)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from kiroproto.anthropic import request as anthropic
from kiroproto.anthropic.request import (
    Base64Source,
    ContentSource,
    CountTokensRequest,
    CustomTool,
    DocumentBlock,
    FileSource,
    ImageBlock,
    MessagesRequest,
    PlainTextSource,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingAdaptive,
    ThinkingBlock,
    ThinkingEnabled,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    UnknownSource,
    URLSource,
    WebSearchToolResultBlock,
)
from kiroproto.kiro.request import (
    AssistantEntry,
    AssistantResponseMessage,
    ConversationState,
    CurrentMessage,
    InputSchema,
    JsonContent,
    KiroImage,
    KiroImageSource,
    KiroRequest,
    KiroTool,
    TextContent,
    ToolResult,
    ToolSpecification,
    ToolUse,
    UserEntry,
    UserInputMessage,
    UserInputMessageContext,
)
from kiroproto.openai.request import (
    AssistantMessage,
    ChatCompletionRequest,
    FilePart,
    FunctionMessage,
    ImageURLPart,
    NamedToolChoice,
    OtherPart,
    ResponseFormatJsonSchema,
    ToolMessage,
)

CLAUDE_CODE_REQUEST: dict[str, Any] = {
    "model": "claude-opus-4-6",
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ],
    "messages": [
        {"role": "system", "content": "Injected."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                {"type": "image", "source": {"type": "s3", "key": "k"}},
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                    "title": "t",
                },
                {
                    "type": "document",
                    "source": {"type": "content", "content": [{"type": "text", "text": "c"}]},
                },
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "x"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                        },
                        {"type": "search_result", "title": "s"},
                    ],
                },
                {"type": "mcp_tool_result", "tool_use_id": "m", "content": []},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
                {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srv_1",
                    "content": [{"type": "web_search_result"}],
                },
                {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "/a"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "Read",
            "description": "r",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "custom", "name": "Deferred", "input_schema": {}, "defer_loading": True},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "mcp_toolset", "mcp_server_name": "srv"},
    ],
    "tool_choice": {"type": "tool", "name": "Read", "disable_parallel_tool_use": True},
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "max", "format": {"type": "json_schema"}},
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "container": "cont_1",
    "mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m"}],
    "service_tier": "auto",
    "metadata": {"user_id": "u", "extra": 1},
    "temperature": 1,
    "top_p": 0.9,
    "top_k": 5,
    "stop_sequences": ["x"],
}


def test_claude_code_request_parses_leniently() -> None:
    req = MessagesRequest.model_validate(CLAUDE_CODE_REQUEST)
    assert req.system_text() == "You are Claude Code."
    assert req.messages[0].role == "system"
    user_blocks = req.messages[1].blocks()
    expected: list[type[Any]] = [
        TextBlock,
        ImageBlock,
        ImageBlock,
        ImageBlock,
        ImageBlock,
        DocumentBlock,
        DocumentBlock,
        DocumentBlock,
        ToolResultBlock,
        UnknownBlock,
    ]
    assert [type(b) for b in user_blocks] == expected
    sources = [b.source for b in user_blocks if isinstance(b, ImageBlock)]
    assert [type(s) for s in sources] == [Base64Source, URLSource, FileSource, UnknownSource]
    documents = [b.source for b in user_blocks if isinstance(b, DocumentBlock)]
    assert [type(s) for s in documents] == [PlainTextSource, ContentSource, Base64Source]
    result = user_blocks[8]
    assert isinstance(result, ToolResultBlock) and result.is_error is True
    assert isinstance(result.content, list)
    assert [type(b).__name__ for b in result.content] == ["TextBlock", "ImageBlock", "UnknownBlock"]
    assert [type(b) for b in req.messages[2].blocks()] == [
        ThinkingBlock,
        RedactedThinkingBlock,
        anthropic.ServerToolUseBlock,
        WebSearchToolResultBlock,
        ToolUseBlock,
    ]
    assert req.tools is not None
    assert [type(t) for t in req.tools] == [CustomTool, CustomTool] + [anthropic.ServerTool] * 5
    assert req.tool_choice == ToolChoiceTool(type="tool", name="Read", disable_parallel_tool_use=True)
    assert isinstance(req.thinking, ThinkingAdaptive)
    assert req.output_config is not None and req.output_config.effort == "max"
    assert req.metadata is not None and req.metadata.user_id == "u"
    assert req.model_extra is not None and "context_management" in req.model_extra
    # An unknown block keeps its fields.
    unknown = user_blocks[9]
    assert unknown.model_dump() == {"type": "mcp_tool_result", "tool_use_id": "m", "content": []}


def test_count_tokens_request_needs_no_max_tokens() -> None:
    raw = {k: v for k, v in CLAUDE_CODE_REQUEST.items() if k not in ("max_tokens", "stream")}
    req = CountTokensRequest.model_validate(raw)
    assert req.system_text() == "You are Claude Code."
    assert (
        CountTokensRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        ).system_text()
        == ""
    )


def test_string_content_is_one_text_block() -> None:
    req = MessagesRequest.model_validate(
        {"model": "m", "max_tokens": 1, "system": "S", "messages": [{"role": "user", "content": "hello"}]}
    )
    assert req.messages[0].blocks() == [TextBlock(type="text", text="hello")]
    assert req.system_text() == "S"
    assert req.stream is False and req.thinking is None


def test_thinking_enabled() -> None:
    req = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "thinking": {"type": "enabled", "budget_tokens": 5},
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    assert req.thinking == ThinkingEnabled(type="enabled", budget_tokens=5)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"messages": []}, "messages"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": 5}, "model"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user"}]}, "content"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "text"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}, "tool_use_id"),
        ({"tools": [{"name": "x"}]}, "input_schema"),
        ({"tools": [{"type": 3}]}, "tools"),
        ({"thinking": {"type": "enabled"}}, "budget_tokens"),
        ({"thinking": {"type": "sometimes"}}, "thinking"),
        ({"tool_choice": {"type": "tool"}}, "name"),
        ({"output_config": {"effort": "extreme"}}, "effort"),
        ({"stream": "yes please"}, "stream"),
    ],
)
def test_invalid_requests_raise_validation_error(change: dict[str, Any], location: str) -> None:
    raw: dict[str, Any] = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        **change,
    }
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ValidationError, match=location):
        MessagesRequest.model_validate(raw)


# --- OpenAI -------------------------------------------------------------------------------


def test_openai_request_parses_leniently() -> None:
    req = ChatCompletionRequest.model_validate(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "developer", "content": [{"type": "text", "text": "d"}]},
                {
                    "role": "user",
                    "name": "bob",
                    "content": [
                        {"type": "text", "text": "t"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AA==", "detail": "high"},
                        },
                        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
                        {"type": "file", "file": {"file_id": "f"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                    "reasoning_content": "hidden",
                },
                {"role": "tool", "tool_call_id": "c", "content": "r"},
                {"role": "function", "name": "f", "content": None},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "strict": True}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "stream": None,
            "stream_options": {"include_usage": True},
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "object"}},
            },
            "reasoning_effort": "low",
            "logprobs": False,
            "store": True,
            "n": 1,
        }
    )
    user_parts = req.messages[2].content
    assert isinstance(user_parts, list)
    assert isinstance(user_parts[1], ImageURLPart) and user_parts[1].image_url.detail == "high"
    assert [type(p) for p in user_parts[2:]] == [OtherPart, FilePart]
    assistant = req.messages[3]
    assert isinstance(assistant, AssistantMessage) and assistant.tool_calls is not None
    assert isinstance(req.messages[4], ToolMessage) and isinstance(req.messages[5], FunctionMessage)
    assert isinstance(req.tool_choice, NamedToolChoice)
    assert isinstance(req.response_format, ResponseFormatJsonSchema)
    assert req.response_format.json_schema.schema_ == {"type": "object"}
    assert req.stream_options is not None and req.stream_options.include_usage is True
    assert req.stream is None


@pytest.mark.parametrize(
    "change",
    [
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "x"}]},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"no": "type"}]}]},
        {"tool_choice": "sometimes"},
        {"max_tokens": 0},
        {"response_format": {"type": "yaml"}},
    ],
)
def test_invalid_openai_requests_raise(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], **change}
        )


# --- Kiro body ----------------------------------------------------------------------------


def _body() -> KiroRequest:
    return KiroRequest(
        conversation_state=ConversationState(
            conversation_id="c",
            agent_continuation_id="a",
            current_message=CurrentMessage(
                user_input_message=UserInputMessage(
                    content="q",
                    model_id="claude-sonnet-4.5",
                    images=(KiroImage(format="png", source=KiroImageSource(bytes="AA==")),),
                    user_input_message_context=UserInputMessageContext(
                        tools=(
                            KiroTool(
                                tool_specification=ToolSpecification(
                                    name="t",
                                    description="d",
                                    input_schema=InputSchema(json_={"type": "object", "x": None}),
                                )
                            ),
                        ),
                        tool_results=(
                            ToolResult(
                                tool_use_id="u1",
                                content=(TextContent(text="ok"), JsonContent(json_={"k": None})),
                                status="success",
                            ),
                        ),
                    ),
                )
            ),
            history=(
                UserEntry(user_input_message=UserInputMessage(content="h", model_id="claude-sonnet-4.5")),
                AssistantEntry(
                    assistant_response_message=AssistantResponseMessage(
                        content=" ", tool_uses=(ToolUse(tool_use_id="u1", name="t", input={"a": None}),)
                    )
                ),
            ),
        )
    )


def test_kiro_body_serialises_to_the_wire_shape() -> None:
    expected = {
        "conversationState": {
            "agentContinuationId": "a",
            "agentTaskType": "vibe",
            "chatTriggerType": "MANUAL",
            "conversationId": "c",
            "currentMessage": {
                "userInputMessage": {
                    "content": "q",
                    "modelId": "claude-sonnet-4.5",
                    "origin": "AI_EDITOR",
                    "images": [{"format": "png", "source": {"bytes": "AA=="}}],
                    "userInputMessageContext": {
                        "tools": [
                            {
                                "toolSpecification": {
                                    "name": "t",
                                    "description": "d",
                                    "inputSchema": {"json": {"type": "object", "x": None}},
                                }
                            }
                        ],
                        "toolResults": [
                            {
                                "toolUseId": "u1",
                                "content": [{"text": "ok"}, {"json": {"k": None}}],
                                "status": "success",
                            }
                        ],
                    },
                }
            },
            "history": [
                {"userInputMessage": {"content": "h", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
                {
                    "assistantResponseMessage": {
                        "content": " ",
                        "toolUses": [{"toolUseId": "u1", "name": "t", "input": {"a": None}}],
                    }
                },
            ],
        }
    }
    body = _body()
    assert body.to_wire() == expected  # nulls inside JSON payloads survive exclude_none
    assert orjson.loads(body.to_json_bytes()) == expected
    assert KiroRequest.model_validate(expected) == body  # parses by alias


def test_kiro_models_are_strict_and_frozen() -> None:
    body = _body()
    with pytest.raises(ValidationError):
        body.profile_arn = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        UserInputMessage.model_validate({"content": "c", "modelId": "m", "surprise": 1})
    with pytest.raises(ValidationError):
        KiroImage.model_validate({"format": "bmp", "source": {"bytes": "x"}})
    with pytest.raises(ValidationError):
        ConversationState.model_validate(
            {"conversationId": "c", "chatTriggerType": "AUTO", "currentMessage": {"userInputMessage": {}}}
        )
