"""Outbound OpenAI Chat Completions models: `ChatCompletion`, `ChatCompletionChunk`, the error body.

`ChatCompletion` is built by `kiroproto.stream.fold.fold_openai`; `ChatCompletionChunk` describes
what `kiroproto.stream.openai_chunks` writes (the renderer writes bytes directly; the model is
for tests and clients of this library). `reasoning_content` carries thinking text, as
DeepSeek-style clients expect; the official SDK keeps it as an extra field.
`openai_error_type` maps an Anthropic error type to the OpenAI one of CONTRACTS.md's table.

Deliberately not here: request models (`request.py`), rendering.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Model):
    name: str
    arguments: str
    """The tool arguments as JSON text, exactly as streamed."""


class ToolCall(_Model):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Model):
    role: Literal["assistant"] = "assistant"
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Model):
    index: int = 0  # always one choice (n=1)
    message: ChatMessage
    logprobs: None = None
    finish_reason: FinishReason


class PromptTokensDetails(_Model):
    cached_tokens: int


class CompletionUsage(_Model):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = Field(default=None, exclude_if=lambda v: v is None)
    """Only when Kiro reported a cache read (metadataEvent); absent otherwise."""


class ChatCompletion(_Model):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class FunctionDelta(_Model):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(_Model):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionDelta | None = None


class ChoiceDelta(_Model):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Model):
    index: int = 0
    delta: ChoiceDelta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(_Model):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class OpenAIErrorDetail(_Model):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(_Model):
    """`{"error": {"message", "type", "param", "code"}}`, the shape the OpenAI SDK reads."""

    error: OpenAIErrorDetail


_ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "invalid_api_key",
    "permission_error": "permission_denied",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit_exceeded",
    "overloaded_error": "service_unavailable",
    "api_error": "server_error",
}


def openai_error_type(anthropic_error_type: str) -> str:
    """The OpenAI `error.type` for an Anthropic one (CONTRACTS.md "Errors"); unknown → server_error."""
    return _ERROR_TYPES.get(anthropic_error_type, "server_error")
