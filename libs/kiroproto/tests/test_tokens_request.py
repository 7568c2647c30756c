"""`count_request_tokens`: every block type is walked, images and overheads are added."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from kiroproto.anthropic.request import CountTokensRequest, MessagesRequest
from kiroproto.tokens import (
    DEFAULT_OVERHEADS,
    IMAGE_FALLBACK_TOKENS,
    EstimatingTokenCounter,
    RequestOverheads,
    count_request_tokens,
    default_counter,
)

OH = DEFAULT_OVERHEADS


class Recorder:
    """A counter that counts characters and remembers the text it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def count_text(self, text: str) -> int:
        self.seen.append(text)
        return len(text)


def _request(**fields: Any) -> CountTokensRequest:
    fields.setdefault("model", "claude-sonnet-4-5")
    return CountTokensRequest.model_validate(fields)


def _count(request: CountTokensRequest | MessagesRequest) -> tuple[int, str]:
    recorder = Recorder()
    total = count_request_tokens(request, recorder)
    assert len(recorder.seen) == 1  # one call for the whole request
    return total, recorder.seen[0]


def _gif_b64(width: int, height: int) -> str:
    return base64.b64encode(b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8).decode()


def test_plain_string_message_and_system() -> None:
    total, text = _count(_request(system="Be brief.", messages=[{"role": "user", "content": "Hi"}]))
    assert text == "Be brief.\nHi"
    assert total == len(text) + OH.request + OH.message


def test_system_blocks_and_every_message_block_type() -> None:
    request = _request(
        system=[{"type": "text", "text": "sys one"}, {"type": "text", "text": "sys two"}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/gif", "data": _gif_b64(300, 250)},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.invalid/a.png"}},
                    {
                        "type": "document",
                        "title": "Doc title",
                        "context": "doc context",
                        "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "content",
                            "content": [
                                {"type": "text", "text": "content doc"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/gif",
                                        "data": _gif_b64(75, 10),
                                    },
                                },
                            ],
                        },
                    },
                    {"type": "document", "source": {"type": "content", "content": "content as str"}},
                    {"type": "document", "source": {"type": "url", "url": "https://example.invalid/d.pdf"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "let me think", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque-payload"},
                    {"type": "text", "text": "calling a tool"},
                    {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.py"}},
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "tides"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [{"type": "web_search_result", "title": "Tide tables"}],
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "file body"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [
                            {"type": "text", "text": "listed"},
                            {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                            {"type": "search_result", "title": "nested unknown"},
                        ],
                    },
                    {"type": "tool_result", "tool_use_id": "toolu_3"},
                    {"type": "mystery_block", "payload": {"k": "v"}},
                ],
            },
        ],
    )
    total, text = _count(request)
    lines = text.split("\n")
    assert lines == [
        "sys one",
        "sys two",
        "hello",
        "Doc title",
        "doc context",
        "plain doc",
        "content doc",
        "content as str",
        "let me think",
        "calling a tool",
        "read_file",
        '{"path":"a.py"}',
        "web_search",
        '{"query":"tides"}',
        '[{"type":"web_search_result","title":"Tide tables"}]',
        "file body",
        "listed",
        '{"type":"search_result","title":"nested unknown"}',
        '{"type":"mystery_block","payload":{"k":"v"}}',
    ]
    images = 100 + 1 + 2 * IMAGE_FALLBACK_TOKENS  # 300x250 -> 100, 75x10 -> 1, url + file
    documents = OH.document_fallback  # the URL document
    tool_blocks = 7 * OH.tool_block  # tool_use, server_tool_use, search result, 3 tool_result, redacted
    expected = len(text) + images + documents + tool_blocks + OH.request + 3 * OH.message
    assert total == expected


def test_tools_custom_and_server_with_preamble() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather now",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "no_description", "input_schema": {"type": "object"}, "type": "custom"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    messages = [{"role": "user", "content": "weather?"}]
    total, text = _count(_request(tools=tools, messages=messages))
    assert text.split("\n") == [
        "get_weather",
        "Weather now",
        '{"type":"object","properties":{"city":{"type":"string"}}}',
        "no_description",
        '{"type":"object"}',
        '{"type":"web_search_20250305","name":"web_search","max_uses":3}',
        "weather?",
    ]
    fixed = OH.request + OH.message + OH.tool_preamble + 3 * OH.tool_definition
    assert total == len(text) + fixed

    for choice in ({"type": "any"}, {"type": "tool", "name": "get_weather"}):
        forced, _ = _count(_request(tools=tools, messages=messages, tool_choice=choice))
        assert forced == total - OH.tool_preamble + OH.tool_preamble_forced
    auto, _ = _count(_request(tools=tools, messages=messages, tool_choice={"type": "auto"}))
    assert auto == total


def test_pdf_documents_count_pages() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] >>\n" + (
        b"2 0 obj << /Type /Page >>\n3 0 obj << /Type/Page /Parent 1 0 R >>\n"
    )
    blocks = [
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(pdf).decode(),
            },
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "A==="},
        },  # undecodable: one page
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(b"no page objects").decode(),
            },
        },
    ]
    total, text = _count(_request(messages=[{"role": "user", "content": blocks}]))
    assert text == ""
    assert total == (2 + 1 + 1) * OH.document_page + OH.request + OH.message


def test_custom_overheads_and_minimum_of_one() -> None:
    zero = RequestOverheads(request=0, message=0)
    request = _request(messages=[{"role": "user", "content": ""}])
    assert count_request_tokens(request, Recorder(), overheads=zero) == 1


def test_messages_request_and_system_role_message() -> None:
    request = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "messages": [{"role": "system", "content": "inline system"}, {"role": "user", "content": "q"}],
        }
    )
    total, text = _count(request)
    assert text == "inline system\nq"
    assert total == len(text) + OH.request + 2 * OH.message


def test_default_counter_is_used_when_none_is_given() -> None:
    request = _request(messages=[{"role": "user", "content": "The tide goes out twice a day."}])
    expected = default_counter().count_text("The tide goes out twice a day.") + OH.request + OH.message
    assert count_request_tokens(request) == expected


@pytest.mark.parametrize("counter", [None, EstimatingTokenCounter()], ids=["default", "estimator"])
def test_close_to_anthropic_documented_examples(counter: EstimatingTokenCounter | None) -> None:
    # Anthropic's token-counting docs: 14 tokens for this system + message ...
    basic = _request(system="You are a scientist", messages=[{"role": "user", "content": "Hello, Claude"}])
    assert 11 <= count_request_tokens(basic, counter) <= 17
    # ... and 403 with one get_weather tool (346 of them are the tool-use system prompt).
    tool = {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "input_schema": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}
            },
            "required": ["location"],
        },
    }
    with_tool = _request(
        tools=[tool], messages=[{"role": "user", "content": "What's the weather like in San Francisco?"}]
    )
    assert abs(count_request_tokens(with_tool, counter) / 403 - 1) <= 0.08
