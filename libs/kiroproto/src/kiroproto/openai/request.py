"""Inbound OpenAI Chat Completions models: `ChatCompletionRequest` and its parts.

Lenient: extra fields are allowed everywhere, and content parts or tools of a type this gateway
cannot serve (`input_audio`, `file`, non-function tools, ...) still parse, so that the converter
can answer with a precise 400 instead of a generic validation error. Wrong types and missing
required fields raise pydantic's `ValidationError` (rendered as a 400 by the gateway).

This module does not convert (see `kiroproto.convert.openai_to_anthropic`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- content parts --------------------------------------------------------------------------


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ImageURL(_Lenient):
    url: str
    detail: str | None = None


class ImageURLPart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageURL


class FileData(_Lenient):
    file_data: str | None = None  # a data: URL (`data:application/pdf;base64,...`)
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Lenient):
    """A file attached inline (`file_data`); becomes an Anthropic document."""

    type: Literal["file"]
    file: FileData


class RefusalPart(_Lenient):
    type: Literal["refusal"]
    refusal: str


class OtherPart(_Lenient):
    """`input_audio` or any newer part type; the converter rejects it with a 400."""

    type: str


def _part_tag(value: Any) -> str | None:
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(tag, str):
        return None
    return tag if tag in ("text", "image_url", "file", "refusal") else "other"


ContentPart = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ImageURLPart, Tag("image_url")]
    | Annotated[FilePart, Tag("file")]
    | Annotated[RefusalPart, Tag("refusal")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_part_tag),
]


# --- messages -------------------------------------------------------------------------------


class FunctionCall(_Lenient):
    name: str
    arguments: str = ""
    """A JSON-encoded object, as produced by the model."""


class ToolCall(_Lenient):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class _ContentMessage(_Lenient):
    content: str | list[ContentPart]
    name: str | None = None


class SystemMessage(_ContentMessage):
    role: Literal["system"]


class DeveloperMessage(_ContentMessage):
    role: Literal["developer"]


class UserMessage(_ContentMessage):
    role: Literal["user"]


class AssistantMessage(_Lenient):
    role: Literal["assistant"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None


class ToolMessage(_Lenient):
    role: Literal["tool"]
    tool_call_id: str
    content: str | list[ContentPart]


class FunctionMessage(_Lenient):
    """The deprecated `function` role (answer to an assistant `function_call`)."""

    role: Literal["function"]
    name: str
    content: str | None = None


ChatMessage = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


# --- tools ----------------------------------------------------------------------------------


class FunctionDefinition(_Lenient):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(_Lenient):
    """A tool; only `type: "function"` is served (the converter rejects other types)."""

    type: str = "function"
    function: FunctionDefinition | None = None


class NamedFunction(_Lenient):
    name: str


class NamedToolChoice(_Lenient):
    type: Literal["function"] = "function"
    function: NamedFunction


# --- response format ------------------------------------------------------------------------


class ResponseFormatText(_Lenient):
    type: Literal["text"]


class ResponseFormatJsonObject(_Lenient):
    type: Literal["json_object"]


class JsonSchemaSpec(_Lenient):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJsonSchema(_Lenient):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema,
    Field(discriminator="type"),
]


class StreamOptions(_Lenient):
    include_usage: bool | None = None


# --- the request ----------------------------------------------------------------------------


class ChatCompletionRequest(_Lenient):
    """`POST /v1/chat/completions`. Sampling fields are accepted and ignored (Kiro has none)."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None
    functions: list[FunctionDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)  # wins over max_tokens
    response_format: ResponseFormat | None = None  # a system instruction (json_object, json_schema)
    reasoning_effort: str | None = None  # adaptive thinking at that effort
    user: str | None = None  # metadata.user_id
    n: int | None = None  # 1 only
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None  # ignored
    frequency_penalty: float | None = None  # ignored
    seed: int | None = None  # ignored


__all__ = [
    "AssistantMessage",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatTool",
    "ContentPart",
    "DeveloperMessage",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "FileData",
    "FilePart",
    "ImageURL",
    "ImageURLPart",
    "JsonSchemaSpec",
    "NamedFunction",
    "NamedToolChoice",
    "OtherPart",
    "RefusalPart",
    "ResponseFormat",
    "ResponseFormatJsonObject",
    "ResponseFormatJsonSchema",
    "ResponseFormatText",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
]
