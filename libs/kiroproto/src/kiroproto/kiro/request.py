"""The Kiro `generateAssistantResponse` request body (kiro-protocol.md §3).

Strict, frozen pydantic models with camelCase aliases: `KiroRequest.to_json_bytes()` (or
`model_dump(by_alias=True, exclude_none=True)`) gives exactly the §3.1 body, absent optional
fields omitted rather than sent as `null`. Field names are the snake_case of the wire names;
construct by field name, parse by alias.

This module only describes the shape. It does not enforce the conversation rules of §3.3
(alternation, tool pairing, declared tools): `kiroproto.convert` guarantees those.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ImageFormat = Literal["jpeg", "png", "gif", "webp"]  # §3.2 / §4.6: the q-cli enum


class _KiroModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class KiroImageSource(_KiroModel):
    bytes: str
    """Standard base64, no `data:` prefix."""


class KiroImage(_KiroModel):
    format: ImageFormat
    source: KiroImageSource


class InputSchema(_KiroModel):
    json_: dict[str, Any] = Field(alias="json")


class ToolSpecification(_KiroModel):
    name: str
    description: str
    input_schema: InputSchema


class KiroTool(_KiroModel):
    """`{"toolSpecification": {...}}`, only on `currentMessage` (§4.7)."""

    tool_specification: ToolSpecification


class TextContent(_KiroModel):
    text: str


class JsonContent(_KiroModel):
    json_: Any = Field(alias="json")


class ToolResult(_KiroModel):
    tool_use_id: str
    content: tuple[TextContent | JsonContent, ...]
    status: Literal["success", "error"]


class UserInputMessageContext(_KiroModel):
    tools: tuple[KiroTool, ...] | None = None
    tool_results: tuple[ToolResult, ...] | None = None


class UserInputMessage(_KiroModel):
    content: str
    model_id: str
    origin: Literal["AI_EDITOR"] = "AI_EDITOR"
    images: tuple[KiroImage, ...] | None = None
    user_input_message_context: UserInputMessageContext | None = None


class ToolUse(_KiroModel):
    tool_use_id: str
    name: str
    input: dict[str, Any]
    """A JSON object, never a JSON-encoded string (§3.3 rule 5)."""


class ReasoningText(_KiroModel):
    text: str
    signature: str | None = None


class ReasoningContent(_KiroModel):
    """`{"reasoningText": {"text", "signature"}}`: an assistant message's one reasoning block
    (§19.5); sent only to accounts whose catalogue gives the model a request-fields schema."""

    reasoning_text: ReasoningText


class AssistantResponseMessage(_KiroModel):
    content: str
    tool_uses: tuple[ToolUse, ...] | None = None
    reasoning_content: ReasoningContent | None = None


class UserEntry(_KiroModel):
    """A history element `{"userInputMessage": ...}`."""

    user_input_message: UserInputMessage


class AssistantEntry(_KiroModel):
    """A history element `{"assistantResponseMessage": ...}`."""

    assistant_response_message: AssistantResponseMessage


HistoryEntry = UserEntry | AssistantEntry


class CurrentMessage(_KiroModel):
    user_input_message: UserInputMessage


class ConversationState(_KiroModel):
    # Declared in the order of §3.1, so the serialised keys come out in that order.
    agent_continuation_id: str | None = None
    agent_task_type: Literal["vibe", "spectask"] | None = "vibe"  # §18 item 1
    chat_trigger_type: Literal["MANUAL", "INLINE_CHAT", "DIAGNOSTIC"] = "MANUAL"  # AUTO gives 400
    conversation_id: str
    current_message: CurrentMessage
    history: tuple[HistoryEntry, ...] = ()


class KiroRequest(_KiroModel):
    conversation_state: ConversationState
    profile_arn: str | None = None
    """Top level, sibling of `conversationState` (§3.2); omitted when unknown."""

    def to_wire(self) -> dict[str, Any]:
        """The §3.1 body as plain JSON values (camelCase keys, absent fields omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json_bytes(self) -> bytes:
        """The request body, serialised with orjson."""
        return orjson.dumps(self.to_wire())


__all__ = [
    "AssistantEntry",
    "AssistantResponseMessage",
    "ConversationState",
    "CurrentMessage",
    "HistoryEntry",
    "ImageFormat",
    "InputSchema",
    "JsonContent",
    "KiroImage",
    "KiroImageSource",
    "KiroRequest",
    "KiroTool",
    "ReasoningContent",
    "ReasoningText",
    "TextContent",
    "ToolResult",
    "ToolSpecification",
    "ToolUse",
    "UserEntry",
    "UserInputMessage",
    "UserInputMessageContext",
]
