"""Inbound Anthropic Messages API models: `MessagesRequest`, `CountTokensRequest` and their parts.

Lenient by design: every model allows extra fields (`cache_control`, `context_management`,
`container`, `mcp_servers`, `defer_loading`, ...) and an unknown content-block type parses as
`UnknownBlock`, so a newer client never gets a 400 for a field we do not use. Wrong types,
missing required fields and an empty `messages` list still raise pydantic's `ValidationError`,
which the gateway renders as a 400 `invalid_request_error`.

This module does not convert anything (see `kiroproto.convert`) and does not check semantic
rules such as tool-use/tool-result pairing: the converter repairs those.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

JsonObject = dict[str, Any]
"""A JSON object as parsed from the request body (tool inputs, JSON schemas)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


def _open_union(members: object, fallback: str = "unknown") -> Discriminator:
    """A discriminator on the `type` key for `members`, a union of `Annotated[Model, Tag(...)]`:
    a type tagged there picks its model, any other string type picks the `fallback` tag."""
    known = frozenset(
        meta.tag
        for member in get_args(members)
        for meta in get_args(member)[1:]
        if isinstance(meta, Tag) and meta.tag != fallback
    )

    def pick(value: Any) -> str | None:
        tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        if not isinstance(tag, str):
            return None  # not an object with a string "type": a validation error
        return tag if tag in known else fallback

    return Discriminator(pick)


class _UnknownType(_Lenient):
    """Any `type` this gateway does not know, kept so that parsing never fails on it."""

    type: str


class UnknownSource(_UnknownType):
    """An image or document source of a type this gateway does not know."""


class UnknownBlock(_UnknownType):
    """A content block of a type this gateway does not know."""


# --- image and document sources -------------------------------------------------------------


class Base64Source(_Lenient):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(_Lenient):
    type: Literal["url"]
    url: str


class FileSource(_Lenient):
    type: Literal["file"]
    file_id: str


class PlainTextSource(_Lenient):
    type: Literal["text"]
    data: str
    media_type: str = "text/plain"


_ImageSources = (
    Annotated[Base64Source, Tag("base64")]
    | Annotated[URLSource, Tag("url")]
    | Annotated[FileSource, Tag("file")]
    | Annotated[UnknownSource, Tag("unknown")]
)
ImageSource = Annotated[_ImageSources, _open_union(_ImageSources)]


# --- content blocks -------------------------------------------------------------------------


class TextBlock(_Lenient):
    type: Literal["text"]
    text: str


class ImageBlock(_Lenient):
    type: Literal["image"]
    source: ImageSource


_DocumentContentBlocks = (
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[UnknownBlock, Tag("unknown")]
)
DocumentContentBlock = Annotated[_DocumentContentBlocks, _open_union(_DocumentContentBlocks)]
"""A block of a `content` document source."""


class ContentSource(_Lenient):
    """A document whose content is given as blocks (`source.type == "content"`)."""

    type: Literal["content"]
    content: str | list[DocumentContentBlock]


_DocumentSources = (
    _ImageSources | Annotated[PlainTextSource, Tag("text")] | Annotated[ContentSource, Tag("content")]
)
DocumentSource = Annotated[_DocumentSources, _open_union(_DocumentSources)]
"""Any image source, or the document's text or blocks inline."""


class DocumentBlock(_Lenient):
    type: Literal["document"]
    source: DocumentSource
    title: str | None = None
    context: str | None = None


_ToolResultContentBlocks = _DocumentContentBlocks | Annotated[DocumentBlock, Tag("document")]
ToolResultContentBlock = Annotated[_ToolResultContentBlocks, _open_union(_ToolResultContentBlocks)]
"""A block inside `tool_result` content (Claude Code's Read tool returns PDFs as documents)."""


class ToolUseBlock(_Lenient):
    type: Literal["tool_use"]
    id: str
    name: str
    input: JsonObject


class ToolResultBlock(_Lenient):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultContentBlock] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Lenient):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_Lenient):
    type: Literal["redacted_thinking"]
    data: str


class ServerToolUseBlock(_Lenient):
    type: Literal["server_tool_use"]
    id: str
    name: str
    input: JsonObject = Field(default_factory=dict)


class WebSearchToolResultBlock(_Lenient):
    type: Literal["web_search_tool_result"]
    tool_use_id: str
    content: Any = None


_ContentBlocks = (
    _ToolResultContentBlocks
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[RedactedThinkingBlock, Tag("redacted_thinking")]
    | Annotated[ServerToolUseBlock, Tag("server_tool_use")]
    | Annotated[WebSearchToolResultBlock, Tag("web_search_tool_result")]
)
ContentBlock = Annotated[_ContentBlocks, _open_union(_ContentBlocks)]
"""A block of a message: any tool-result content block, or a tool, thinking or search block."""


class Message(_Lenient):
    """One entry of `messages`. `role: "system"` is accepted (some clients send it there)."""

    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]

    def blocks(self) -> list[ContentBlock]:
        """The content as a block list (a string is one text block)."""
        if isinstance(self.content, str):
            return [TextBlock(type="text", text=self.content)]
        return list(self.content)


# --- tools ----------------------------------------------------------------------------------


class CustomTool(_Lenient):
    """A client-executed tool (`type` absent or `"custom"`)."""

    name: str
    input_schema: JsonObject
    description: str | None = None
    type: Literal["custom"] | None = None


class ServerTool(_Lenient):
    """An Anthropic server / built-in tool (`web_search_20250305`, `bash_20250124`, ...)."""

    type: str
    name: str | None = None


def _tool_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("type")
    else:
        tag = getattr(value, "type", None)
    if tag is None or tag == "custom":
        return "custom"
    return "server" if isinstance(tag, str) else None


Tool = Annotated[
    Annotated[CustomTool, Tag("custom")] | Annotated[ServerTool, Tag("server")],
    Discriminator(_tool_tag),
]


class _ToolChoiceUse(_Lenient):
    """A choice that lets the model use tools (`auto`, `any`, `tool`)."""

    disable_parallel_tool_use: bool | None = None


class ToolChoiceAuto(_ToolChoiceUse):
    type: Literal["auto"]


class ToolChoiceAny(_ToolChoiceUse):
    type: Literal["any"]


class ToolChoiceTool(_ToolChoiceUse):
    type: Literal["tool"]
    name: str


class ToolChoiceNone(_Lenient):
    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")
]


# --- thinking and the rest ------------------------------------------------------------------


class ThinkingEnabled(_Lenient):
    type: Literal["enabled"]
    budget_tokens: int


class ThinkingDisabled(_Lenient):
    type: Literal["disabled"]


class ThinkingAdaptive(_Lenient):
    type: Literal["adaptive"]


ThinkingConfig = Annotated[ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive, Field(discriminator="type")]

Effort = Literal["low", "medium", "high", "max"]


class OutputConfig(_Lenient):
    effort: Effort | None = None


class Metadata(_Lenient):
    user_id: str | None = None


class _ConversationRequest(_Lenient):
    """Fields shared by `/v1/messages` and `/v1/messages/count_tokens`."""

    model: str
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None

    def system_text(self) -> str:
        """The top-level system prompt as one string (blocks joined with a newline)."""
        if self.system is None:
            return ""
        if isinstance(self.system, str):
            return self.system
        return "\n".join(block.text for block in self.system)


class MessagesRequest(_ConversationRequest):
    """`POST /v1/messages`. Sampling fields are accepted and ignored (Kiro has none, §3.2)."""

    max_tokens: int = Field(ge=1)
    metadata: Metadata | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None


class CountTokensRequest(_ConversationRequest):
    """`POST /v1/messages/count_tokens`."""


__all__ = [
    "Base64Source",
    "ContentBlock",
    "ContentSource",
    "CountTokensRequest",
    "CustomTool",
    "DocumentBlock",
    "DocumentContentBlock",
    "DocumentSource",
    "Effort",
    "FileSource",
    "ImageBlock",
    "ImageSource",
    "JsonObject",
    "Message",
    "MessagesRequest",
    "Metadata",
    "OutputConfig",
    "PlainTextSource",
    "RedactedThinkingBlock",
    "ServerTool",
    "ServerToolUseBlock",
    "TextBlock",
    "ThinkingAdaptive",
    "ThinkingBlock",
    "ThinkingConfig",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "Tool",
    "ToolChoice",
    "ToolChoiceAny",
    "ToolChoiceAuto",
    "ToolChoiceNone",
    "ToolChoiceTool",
    "ToolResultBlock",
    "ToolResultContentBlock",
    "ToolUseBlock",
    "URLSource",
    "UnknownBlock",
    "UnknownSource",
    "WebSearchToolResultBlock",
]
