"""Anthropic message content -> one `Turn` (kiro-protocol.md §4.3).

User messages: text blocks (blank ones skipped), images (`images.py`), plain-text documents
(their text), tool results (`toolResults`, text joined with `\\n`, plain-text documents as
their text, images lifted into the message's images, `is_error` -> status `error`). PDFs do
not get here: the gateway turns them into text and image blocks first (`gateway.media`).
Assistant messages: text blocks, thinking blocks re-serialised as `<thinking>...</thinking>`
parts (joined to the text with `\\n\\n`, giving §4.3's `<thinking>X</thinking>\\n\\nText`),
tool uses (names through `ToolNames`).

Earlier web searches (`server_tool_use`, `web_search_tool_result`, which Claude Code sends back)
become text in their turn (`kiroproto.websearch.history`), reported as `converted_web_search`.

Dropped, reported as `dropped_unsupported_block`: redacted thinking, unknown block types, tool
uses in user messages, images / documents / tool results in assistant messages. Refused with a
400 (`ConversionError`): URL / file image sources, unsupported image types, binary documents (a
PDF left unconverted included), URL / file document sources.

This module does not order or pair turns (`history.py`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import assert_never

from kiroproto.anthropic.request import (
    Base64Source,
    ContentBlock,
    ContentSource,
    DocumentBlock,
    DocumentContentBlock,
    FileSource,
    ImageBlock,
    Message,
    PlainTextSource,
    RedactedThinkingBlock,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolResultContentBlock,
    ToolUseBlock,
    UnknownBlock,
    UnknownSource,
    URLSource,
    WebSearchToolResultBlock,
)
from kiroproto.convert.history import Repairs, Thought, Turn
from kiroproto.convert.images import convert_image, strip_data_url
from kiroproto.convert.tools import ToolNames
from kiroproto.errors import ConversionError
from kiroproto.kiro.request import KiroImage, TextContent, ToolResult, ToolUse
from kiroproto.websearch.history import server_tool_use_text, web_search_result_text

EMPTY_TOOL_RESULT_TEXT = "(no output)"
IMAGE_ONLY_TOOL_RESULT_TEXT = "(see attached image)"


def _text_and_images(
    content: str | Sequence[ToolResultContentBlock | DocumentContentBlock] | None, repairs: Repairs
) -> tuple[list[str], list[KiroImage]]:
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    images: list[KiroImage] = []
    for block in content:
        if isinstance(block, UnknownBlock):
            repairs.add("dropped_unsupported_block")
        else:
            _add_content(block, texts, images, repairs)
    return texts, images


def _add_content(
    block: TextBlock | ImageBlock | DocumentBlock, texts: list[str], images: list[KiroImage], repairs: Repairs
) -> None:
    """A text, image or document block into a turn's (or a tool result's) texts and images."""
    match block:
        case TextBlock(text=text):
            texts.append(text)
        case ImageBlock():
            images.append(convert_image(block))
        case DocumentBlock():
            doc_texts, doc_images = document(block, repairs)
            texts.extend(doc_texts)
            images.extend(doc_images)
        case _:  # pragma: no cover
            assert_never(block)


def tool_result(block: ToolResultBlock, repairs: Repairs) -> tuple[ToolResult, list[KiroImage]]:
    """The Kiro tool result and the images lifted out of it."""
    texts, images = _text_and_images(block.content, repairs)
    text = "\n".join(texts)
    if not text.strip():
        text = IMAGE_ONLY_TOOL_RESULT_TEXT if images else EMPTY_TOOL_RESULT_TEXT
    result = ToolResult(
        tool_use_id=block.tool_use_id,
        content=(TextContent(text=text),),
        status="error" if block.is_error else "success",
    )
    return result, images


def _decode_text(data: str) -> str:
    try:
        return base64.b64decode(strip_data_url(data), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConversionError("document data is not valid base64-encoded UTF-8 text") from exc


def document(block: DocumentBlock, repairs: Repairs) -> tuple[list[str], list[KiroImage]]:
    """Plain-text documents become text (titled when the client gave a title)."""
    source = block.source
    texts: list[str]
    images: list[KiroImage]
    match source:
        case PlainTextSource(data=data):
            texts, images = [data], []
        case ContentSource(content=content):
            texts, images = _text_and_images(content, repairs)
        case Base64Source(media_type=media_type, data=data) if media_type.lower().startswith("text/"):
            texts, images = [_decode_text(data)], []
        case Base64Source(media_type=media_type):
            raise ConversionError(
                f"documents of type '{media_type}' are not supported: send a PDF "
                "(application/pdf), a plain-text document or a text block"
            )
        case URLSource():
            raise ConversionError(
                "document source type 'url' is not supported: the gateway does not fetch URLs; "
                "send the document inline as base64 or text"
            )
        case FileSource() | UnknownSource():
            raise ConversionError(
                f"document source type '{source.type}' is not supported: send the document inline"
            )
        case _:  # pragma: no cover
            assert_never(source)
    header = [f"Document: {block.title}"] if block.title else []
    if block.context:
        header.append(f"Context: {block.context}")
    if header and texts:
        texts[0] = "\n".join([*header, texts[0]])
    return texts, images


def _search_text(block: ServerToolUseBlock | WebSearchToolResultBlock, repairs: Repairs) -> str:
    repairs.add("converted_web_search")
    if isinstance(block, ServerToolUseBlock):
        return server_tool_use_text(block)
    return web_search_result_text(block)


def _user_turn(blocks: Sequence[ContentBlock], repairs: Repairs) -> Turn:
    texts: list[str] = []
    images: list[KiroImage] = []
    results: list[ToolResult] = []
    for block in blocks:
        match block:
            case TextBlock() | ImageBlock() | DocumentBlock():
                _add_content(block, texts, images, repairs)
            case ToolResultBlock():
                result, lifted = tool_result(block, repairs)
                results.append(result)
                images.extend(lifted)
            case ServerToolUseBlock() | WebSearchToolResultBlock():
                texts.append(_search_text(block, repairs))
            case ToolUseBlock() | ThinkingBlock() | RedactedThinkingBlock() | UnknownBlock():
                repairs.add("dropped_unsupported_block")
            case _:  # pragma: no cover
                assert_never(block)
    return Turn("user", _non_blank(texts), images=tuple(images), tool_results=tuple(results))


def _assistant_turn(blocks: Sequence[ContentBlock], names: ToolNames, repairs: Repairs) -> Turn:
    texts: list[str] = []
    uses: list[ToolUse] = []
    thoughts: list[Thought] = []
    for block in blocks:
        match block:
            case TextBlock(text=text):
                texts.append(text)
            case ThinkingBlock(thinking=thinking, signature=signature):
                if thinking.strip():
                    texts.append(tag_text := f"<thinking>{thinking}</thinking>")
                    thoughts.append(Thought(thinking, signature or None, tag_text))
            case ToolUseBlock(id=use_id, name=name, input=tool_input):
                uses.append(ToolUse(tool_use_id=use_id, name=names.to_kiro(name), input=tool_input))
            case ServerToolUseBlock() | WebSearchToolResultBlock():
                texts.append(_search_text(block, repairs))
            case (
                ImageBlock() | DocumentBlock() | ToolResultBlock() | RedactedThinkingBlock() | UnknownBlock()
            ):
                repairs.add("dropped_unsupported_block")
            case _:  # pragma: no cover
                assert_never(block)
    return Turn("assistant", _non_blank(texts), tool_uses=tuple(uses), thoughts=tuple(thoughts))


def _non_blank(texts: list[str]) -> tuple[str, ...]:
    return tuple(t for t in texts if t.strip())


def message_turn(message: Message, names: ToolNames, repairs: Repairs) -> Turn:
    """The turn for a user or assistant message (system-role messages are the caller's job)."""
    if message.role == "assistant":
        return _assistant_turn(message.blocks(), names, repairs)
    return _user_turn(message.blocks(), repairs)


def system_message_text(message: Message) -> str:
    """The text of a `role: "system"` entry inside `messages` (non-text blocks ignored)."""
    return "\n".join(b.text for b in message.blocks() if isinstance(b, TextBlock))


__all__ = [
    "EMPTY_TOOL_RESULT_TEXT",
    "IMAGE_ONLY_TOOL_RESULT_TEXT",
    "document",
    "message_turn",
    "system_message_text",
    "tool_result",
]
