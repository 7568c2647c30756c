"""`count_request_tokens`: input tokens of an Anthropic Messages request.

Used for `/v1/messages/count_tokens` (response `{"input_tokens": N}`, kiro-protocol.md §13.2)
and for the estimate in `message_start` before the upstream's `contextUsageEvent` arrives
(§6.4). Unlike kiro.rs (§13.1) every content block is counted:

- the system prompt; every tool's name, description and input schema (compact JSON), server
  tools as their JSON; plus Anthropic's tool-use system prompt when any tool is defined;
- text, thinking, tool_use (name + JSON input), tool_result (text, images, other blocks as
  JSON), documents (title, context, text / content sources; PDF pages at a flat rate),
  server tool blocks and unknown blocks (as JSON);
- images by their pixel size (`kiroproto.tokens.images`);
- a fixed overhead per request, message, tool definition and tool block.

`redacted_thinking` contributes only its block overhead: its payload is opaque and the Kiro
conversion drops it. All texts are joined with newlines and counted in one call, so a BPE
counter encodes them as one parallel batch. The overheads are estimates, not measurements;
they are grouped in `RequestOverheads` so that callers and tests can change them.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import re
from typing import Any

from kiroproto.anthropic.request import (
    Base64Source,
    ContentBlock,
    ContentSource,
    CountTokensRequest,
    CustomTool,
    DocumentBlock,
    DocumentContentBlock,
    ImageBlock,
    MessagesRequest,
    PlainTextSource,
    RedactedThinkingBlock,
    ServerTool,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolChoiceAny,
    ToolChoiceTool,
    ToolResultBlock,
    ToolResultContentBlock,
    ToolUseBlock,
    UnknownBlock,
    WebSearchToolResultBlock,
)
from kiroproto.tokens._base import TokenCounter
from kiroproto.tokens.counter import default_counter
from kiroproto.tokens.images import IMAGE_FALLBACK_TOKENS, base64_image_tokens

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestOverheads:
    """Tokens added on top of the counted text (estimates; see the module docstring)."""

    request: int = 2
    """Framing of every request (start of the prompt, the assistant turn marker)."""
    message: int = 3
    """Role marker and separators of each message."""
    tool_definition: int = 2
    """Wrapper around each tool definition."""
    tool_block: int = 4
    """Wrapper around each tool_use / tool_result / server tool block (ids, tags)."""
    tool_preamble: int = 346
    """Anthropic's tool-use system prompt when any tool is defined (tool_choice auto/none)."""
    tool_preamble_forced: int = 313
    """The same prompt when tool_choice is `any` or `tool`."""
    document_page: int = 1500
    """A PDF page (Anthropic's documented range is 1500-3000 tokens per text page)."""
    document_fallback: int = 1500
    """A document whose content is not in the request (URL or file sources)."""


DEFAULT_OVERHEADS = RequestOverheads()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class _Tally:
    """Texts to count in one call plus tokens already known (images, overheads)."""

    __slots__ = ("extra", "overheads", "texts")

    def __init__(self, overheads: RequestOverheads) -> None:
        self.overheads = overheads
        self.texts: list[str] = []
        self.extra = 0

    def text(self, value: str | None) -> None:
        if value:
            self.texts.append(value)

    def image(self, block: ImageBlock) -> None:
        source = block.source
        if isinstance(source, Base64Source):
            self.extra += base64_image_tokens(source.data)
        else:
            self.extra += IMAGE_FALLBACK_TOKENS

    def inner(self, content: str | list[ToolResultContentBlock] | list[DocumentContentBlock] | None) -> None:
        """tool_result content and `content` document sources: text, images, other blocks."""
        if content is None or isinstance(content, str):
            self.text(content)
            return
        for block in content:
            if isinstance(block, TextBlock | ImageBlock | DocumentBlock):
                self.content(block)
            else:
                self.unknown(block)

    def content(self, block: TextBlock | ImageBlock | DocumentBlock) -> None:
        if isinstance(block, TextBlock):
            self.text(block.text)
        elif isinstance(block, ImageBlock):
            self.image(block)
        else:
            self.document(block)

    def document(self, block: DocumentBlock) -> None:
        self.text(block.title)
        self.text(block.context)
        source = block.source
        if isinstance(source, PlainTextSource):
            self.text(source.data)
        elif isinstance(source, ContentSource):
            self.inner(source.content)
        elif isinstance(source, Base64Source):
            self.extra += self.overheads.document_page * _pdf_pages(source.data)
        else:
            self.extra += self.overheads.document_fallback

    def block(self, block: ContentBlock) -> None:
        if isinstance(block, TextBlock | ImageBlock | DocumentBlock):
            self.content(block)
        elif isinstance(block, ToolUseBlock | ServerToolUseBlock):
            self.extra += self.overheads.tool_block
            self.text(block.name)
            self.text(_json(block.input))
        elif isinstance(block, ToolResultBlock):
            self.extra += self.overheads.tool_block
            self.inner(block.content)
        elif isinstance(block, ThinkingBlock):
            self.text(block.thinking)
        elif isinstance(block, WebSearchToolResultBlock):
            self.extra += self.overheads.tool_block
            self.text(_json(block.content))
        elif isinstance(block, RedactedThinkingBlock):
            self.extra += self.overheads.tool_block
        else:
            self.unknown(block)

    def unknown(self, block: UnknownBlock) -> None:
        self.text(_json(block.model_dump(mode="json")))

    def tools(self, request: MessagesRequest | CountTokensRequest) -> None:
        if not request.tools:
            return
        forced = isinstance(request.tool_choice, ToolChoiceAny | ToolChoiceTool)
        overheads = self.overheads
        self.extra += overheads.tool_preamble_forced if forced else overheads.tool_preamble
        for tool in request.tools:
            self.extra += overheads.tool_definition
            if isinstance(tool, CustomTool):
                self.text(tool.name)
                self.text(tool.description)
                self.text(_json(tool.input_schema))
            else:
                self.server_tool(tool)

    def server_tool(self, tool: ServerTool) -> None:
        self.text(_json(tool.model_dump(mode="json", exclude_none=True)))


def _pdf_pages(data: str) -> int:
    """Pages of a base64 PDF (page objects in the clear), at least 1; 1 if not decodable."""
    compact = "".join(data.split())
    try:
        raw = binascii.a2b_base64(compact[: len(compact) - len(compact) % 4])
    except ValueError:  # binascii.Error, or non-ASCII characters
        return 1
    return max(1, len(_PDF_PAGE.findall(raw)))


def count_request_tokens(
    request: MessagesRequest | CountTokensRequest,
    counter: TokenCounter | None = None,
    *,
    overheads: RequestOverheads = DEFAULT_OVERHEADS,
) -> int:
    """Estimated input tokens of `request` (at least 1). `counter` defaults to
    `default_counter()`."""
    if counter is None:
        counter = default_counter()
    tally = _Tally(overheads)
    tally.extra += overheads.request
    tally.text(request.system_text())
    tally.tools(request)
    for message in request.messages:
        tally.extra += overheads.message
        for block in message.blocks():
            tally.block(block)
    return max(1, counter.count_text("\n".join(tally.texts)) + tally.extra)
