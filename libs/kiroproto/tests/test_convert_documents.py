"""Documents in tool results and OpenAI `file` parts (issue 14): never dropped silently.

PDFs reach the converter only if the gateway did not convert them first; then they are a 400,
in a user turn as inside a tool result (Claude Code's Read tool shape), where they used to be
dropped without a word.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_convert_anthropic import _result, _tool_turns, convert, current, text_result

from kiroproto.anthropic.request import (
    Base64Source,
    DocumentBlock,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
)
from kiroproto.convert import convert_openai_request
from kiroproto.errors import ConversionError
from kiroproto.openai.request import ChatCompletionRequest
from kiroproto.tokens import EstimatingTokenCounter, count_request_tokens

PDF_SOURCE = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjcK"}


def test_plain_text_document_inside_a_tool_result_becomes_its_text() -> None:
    doc = {"type": "document", "source": {"type": "text", "data": "file body"}, "title": "notes.txt"}
    conversion = convert(_tool_turns([_result("t1", [{"type": "text", "text": "read:"}, doc])], uses=("t1",)))
    results = current(conversion)["userInputMessageContext"]["toolResults"]
    assert results == [text_result("t1", "read:\nDocument: notes.txt\nfile body")]


def test_unconverted_pdf_inside_a_tool_result_is_a_400_not_dropped() -> None:
    doc = {"type": "document", "source": PDF_SOURCE}
    with pytest.raises(ConversionError, match="application/pdf") as info:
        convert(_tool_turns([_result("t1", [doc])], uses=("t1",)))
    assert info.value.status_hint == 400


def test_tool_result_document_parses_as_a_document() -> None:
    req = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 1,
            "messages": [
                {"role": "user", "content": [_result("t1", [{"type": "document", "source": PDF_SOURCE}])]}
            ],
        }
    )
    block = req.messages[0].blocks()[0]
    assert isinstance(block, ToolResultBlock) and isinstance(block.content, list)
    assert isinstance(block.content[0], DocumentBlock)


@pytest.mark.parametrize("kind", ["image", "document"])
def test_url_sources_say_the_gateway_does_not_fetch(kind: str) -> None:
    block = {"type": kind, "source": {"type": "url", "url": "http://169.254.169.254/latest"}}
    with pytest.raises(ConversionError, match="does not fetch URLs"):
        convert({"messages": [{"role": "user", "content": [block]}]})


def test_citations_flag_is_accepted() -> None:
    doc = {"type": "document", "source": {"type": "text", "data": "x"}, "citations": {"enabled": True}}
    assert current(convert({"messages": [{"role": "user", "content": [doc]}]}))["content"] == "x"


def test_tool_result_document_counts_as_a_document_not_as_json() -> None:
    text_doc = {"type": "document", "source": {"type": "text", "data": "word " * 50}}
    base = {"model": "m", "max_tokens": 1}

    def count(content: list[dict[str, Any]]) -> int:
        req = MessagesRequest.model_validate({**base, "messages": [{"role": "user", "content": content}]})
        return count_request_tokens(req, EstimatingTokenCounter())

    inside = count([_result("t1", [text_doc])])
    outside = count([text_doc])
    assert abs(inside - outside) <= 8  # the tool block's overhead, not the JSON of the block


def _chat(parts: list[dict[str, Any]]) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": parts}]}
    )


def test_openai_file_part_becomes_a_document() -> None:
    part = {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
    }
    req = convert_openai_request(_chat([{"type": "text", "text": "summarise"}, part]))
    blocks = req.messages[0].blocks()
    assert isinstance(blocks[0], TextBlock)
    doc = blocks[1]
    assert isinstance(doc, DocumentBlock) and doc.title == "a.pdf"
    assert doc.source == Base64Source(type="base64", media_type="application/pdf", data="JVBERi0=")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ({"file_id": "file-1"}, "file_id is not supported"),
        ({"file_data": "JVBERi0="}, "base64 data: URL"),
        ({"file_data": "data:application/pdf,raw"}, "base64 data: URL"),
    ],
)
def test_openai_file_part_without_inline_data_is_a_400(file: dict[str, str], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert_openai_request(_chat([{"type": "file", "file": file}]))
