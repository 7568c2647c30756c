"""Outbound Anthropic Messages API models: the non-streaming `Message` and the error body.

Built by `kiroproto.stream.fold.fold_anthropic` (content blocks, stop reason, usage) and by the
gateway's error handler (`AnthropicErrorBody`). Field order and names follow the Anthropic API,
so `model_dump(mode="json")` is the response body; the SDK's `anthropic.types.Message` parses it.

Deliberately not here: the streaming SSE events (rendered straight to bytes by
`kiroproto.stream.anthropic_sse`, without per-event models), request models (`request.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "model_context_window_exceeded",
    "refusal",
    "pause_turn",
]
WebSearchErrorCode = Literal[
    "too_many_requests",
    "invalid_tool_input",
    "max_uses_exceeded",
    "query_too_long",
    "request_too_large",
    "unavailable",
]
"""Anthropic's `web_search_tool_result_error.error_code` values."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextBlock(_Model):
    type: Literal["text"] = "text"
    text: str


class ThinkingBlock(_Model):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""
    """Empty for inline `<thinking>` output, which has no signature (§6.6)."""


class ToolUseBlock(_Model):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]
    """The parsed tool arguments (a JSON object at the client boundary)."""


class ServerToolUseBlock(_Model):
    """The gateway's own search (web search over Kiro's MCP endpoint), as Anthropic shows it."""

    type: Literal["server_tool_use"] = "server_tool_use"
    id: str
    name: str
    input: dict[str, Any]


class WebSearchResult(_Model):
    type: Literal["web_search_result"] = "web_search_result"
    url: str
    title: str
    encrypted_content: str
    """Kiro's snippet (Anthropic's is opaque; ours is the text the model was given)."""
    page_age: str | None = None


class WebSearchToolResultError(_Model):
    type: Literal["web_search_tool_result_error"] = "web_search_tool_result_error"
    error_code: WebSearchErrorCode  # why the search gave no results


class WebSearchToolResultBlock(_Model):
    type: Literal["web_search_tool_result"] = "web_search_tool_result"
    tool_use_id: str
    content: list[WebSearchResult] | WebSearchToolResultError


ContentBlock = Annotated[
    TextBlock | ThinkingBlock | ToolUseBlock | ServerToolUseBlock | WebSearchToolResultBlock,
    Field(discriminator="type"),
]


class ServerToolUsage(_Model):
    web_search_requests: int = 0


class Usage(_Model):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None = Field(default=None, exclude_if=lambda v: v is None)
    cache_read_input_tokens: int | None = Field(default=None, exclude_if=lambda v: v is None)
    """Only when Kiro reported them (metadataEvent); absent otherwise, never an estimate."""
    server_tool_use: ServerToolUsage | None = Field(default=None, exclude_if=lambda v: v is None)
    """Present only when the gateway ran a server tool (web search) for the answer."""


class Message(_Model):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason
    stop_sequence: str | None = None
    usage: Usage


class ErrorDetail(_Model):
    type: str
    message: str


class AnthropicErrorBody(_Model):
    """`{"type": "error", "error": {"type": ..., "message": ...}}`, the shape the SDK expects."""

    type: Literal["error"] = "error"
    error: ErrorDetail
