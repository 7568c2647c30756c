"""kiroproto.websearch: detection, the MCP wire, results as blocks, the renumbering assembler,
history conversion; the SSE and the fold of a search answer agree (with hypothesis)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_convert_anthropic import convert, history

from kiroproto.anthropic.request import Message, MessagesRequest
from kiroproto.sse import SSEDecoder
from kiroproto.stream import AnthropicSSERenderer, StreamOptions, TextFragment, fold_anthropic
from kiroproto.stream.events import BlockDelta, BlockStart, MessageEnd
from kiroproto.stream.kiro_events import ContextUsage
from kiroproto.websearch import (
    SearchAssembler,
    SearchError,
    SearchHit,
    SearchResults,
    context_text,
    filtered,
    find_web_search_tool,
    mcp,
    search_events,
    search_query,
    server_tool_use_id,
    with_search_context,
)
from kiroproto.websearch.blocks import page_age

OPTIONS = StreamOptions(model="claude-sonnet-4-6", message_id="msg_1", input_tokens_estimate=10)


def request(tools: list[dict[str, Any]] | None = None, messages: Any = None) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "messages": messages or [{"role": "user", "content": "q"}],
            "tools": tools,
        }
    )


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", ["web_search_20250305", "web_search_20260209", "web_search_20260318", "web_search_20990101"]
)
def test_every_web_search_version_is_found(version: str) -> None:
    tool = find_web_search_tool(request([{"type": version, "name": "web_search", "max_uses": 3}]).tools)
    assert tool is not None and tool.tool_type == version and tool.max_uses == 3
    assert tool.searches_allowed == 1


def test_options_honoured_and_ignored() -> None:
    raw = {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 0,
        "allowed_domains": ["Docs.Rust-Lang.org", ""],
        "blocked_domains": ["spam.example"],
        "user_location": {"type": "approximate", "city": "Paris"},
        "allowed_callers": ["direct", "code_execution_20250825"],
        "defer_loading": False,
        "response_inclusion": "full",
        "strict": True,
        "cache_control": {"type": "ephemeral"},
    }
    tool = find_web_search_tool(request([raw]).tools)
    assert tool is not None
    assert tool.searches_allowed == 0
    assert tool.allowed_domains == ("docs.rust-lang.org",) and tool.blocked_domains == ("spam.example",)
    assert tool.ignored_options == ("allowed_callers", "user_location")


def test_other_tools_are_not_web_search() -> None:
    custom = {"name": "web_search", "input_schema": {"type": "object"}}
    bash = {"type": "bash_20250124", "name": "bash"}
    assert find_web_search_tool(request([custom, bash]).tools) is None
    assert find_web_search_tool(None) is None


def _messages(raw: list[dict[str, Any]]) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


def test_search_query_choice() -> None:
    claude_code = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Perform a web search for the query:  rust  2026 "}],
        }
    ]
    assert search_query(_messages(claude_code)) == "rust 2026"
    assert search_query(_messages([{"role": "user", "content": "what is new?"}])) == "what is new?"
    assert search_query(_messages([{"role": "user", "content": "x" * 500}])) == "x" * 200
    tool_loop = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]}]
    assert search_query(_messages(tool_loop)) is None
    assert (
        search_query(_messages([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]))
        is None
    )
    assert search_query(_messages([{"role": "user", "content": "   "}])) is None


@given(st.text(max_size=600))
def test_search_query_is_short_and_never_raises(text: str) -> None:
    query = search_query(_messages([{"role": "user", "content": text}]))
    assert query is None or (0 < len(query) <= 200 and query == query.strip())


# --- the MCP wire ---------------------------------------------------------------------------


def test_request_id_and_body_follow_the_reference() -> None:
    rng = random.Random(1)
    rid = mcp.mcp_request_id(rng.choice, 1717000000000)
    assert re.fullmatch(r"web_search_tooluse_[A-Za-z0-9]{22}_1717000000000_[a-z0-9]{8}", rid)
    body = mcp.web_search_call("rust async traits", rid).to_bytes()
    assert body == (
        b'{"id":"' + rid.encode() + b'","jsonrpc":"2.0","method":"tools/call",'
        b'"params":{"name":"web_search","arguments":{"query":"rust async traits"}}}'
    )
    assert re.fullmatch(r"srvtoolu_[A-Za-z0-9]{24}", server_tool_use_id(rng.choice))


def test_headers_are_the_chat_headers_adjusted() -> None:
    headers = mcp.mcp_headers("tok", "m" * 64, "arn:aws:x")
    assert headers["Authorization"] == "Bearer tok" and headers["x-amzn-kiro-profile-arn"] == "arn:aws:x"
    assert "x-amzn-codewhisperer-optout" not in headers and "x-amzn-kiro-agent-mode" not in headers
    assert "x-amzn-kiro-profile-arn" not in mcp.mcp_headers("tok", "m", None)
    assert mcp.mcp_headers("ksk_x", "m", None, api_key=True)["tokentype"] == "API_KEY"


def answer(results: list[dict[str, Any]], **result: Any) -> bytes:
    text = json.dumps({"results": results, "totalResults": len(results), "query": "q"})
    return orjson.dumps(
        {
            "id": "x",
            "jsonrpc": "2.0",
            "result": {"isError": False, **result} | {"content": [{"type": "text", "text": text}]},
        }
    )


def test_parse_results() -> None:
    hit = {"title": "T", "url": "https://Docs.Example.org/a", "snippet": "S", "publishedDate": 1717000000000}
    outcome = mcp.parse_mcp_answer(answer([hit, {"url": "https://b.example"}]), "q")
    assert outcome == SearchResults(
        "q",
        (
            SearchHit("T", "https://Docs.Example.org/a", "S", 1717000000000, "docs.example.org"),
            SearchHit("", "https://b.example", "", None, "b.example"),
        ),
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            b'{"id":"x","jsonrpc":"2.0","error":{"code":-32602,"message":"Tool not found"}}',
            "invalid_tool_input",
        ),
        (b'{"id":"x","jsonrpc":"2.0","error":{"code":-32603,"message":"boom"}}', "unavailable"),
        (
            b'{"id":"x","jsonrpc":"2.0","result":{"isError":true,"content":[{"type":"text","text":"no"}]}}',
            "unavailable",
        ),
        (b'{"id":"x","jsonrpc":"2.0","result":{"isError":false,"content":[]}}', "unavailable"),
        (
            b'{"id":"x","jsonrpc":"2.0","result":{"content":[{"type":"text","text":"not json"}]}}',
            "unavailable",
        ),
        (b"<html>", "unavailable"),
        (b"[]", "unavailable"),
    ],
)
def test_parse_failures(body: bytes, code: str) -> None:
    outcome = mcp.parse_mcp_answer(body, "q")
    assert isinstance(outcome, SearchError) and outcome.error_code == code


def test_http_errors() -> None:
    assert mcp.http_error(429).error_code == "too_many_requests"
    assert mcp.http_error(500).error_code == "unavailable" and mcp.http_error(403).error_code == "unavailable"


@given(st.binary(max_size=300))
def test_parse_never_raises_on_bytes(body: bytes) -> None:
    assert isinstance(mcp.parse_mcp_answer(body, "q"), SearchResults | SearchError)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(_json)
def test_parse_never_raises_on_json(doc: Any) -> None:
    assert isinstance(
        mcp.parse_mcp_answer(
            orjson.dumps({"result": {"content": [{"type": "text", "text": json.dumps(doc)}]}}), "q"
        ),
        SearchResults | SearchError,
    )


_hits = st.lists(
    st.builds(
        SearchHit,
        title=st.text(max_size=20),
        url=st.from_regex(r"https://[a-z]{1,8}\.[a-z]{2,3}/[a-z0-9]{0,8}", fullmatch=True),
        snippet=st.text(max_size=40),
        published_ms=st.none() | st.integers(min_value=1, max_value=4_000_000_000_000),
        domain=st.just(""),
    ),
    max_size=5,
)


@given(_hits)
def test_results_round_trip_through_the_wire(hits: list[SearchHit]) -> None:
    wire = [
        {"title": h.title, "url": h.url, "snippet": h.snippet, "publishedDate": h.published_ms} for h in hits
    ]
    outcome = mcp.parse_mcp_answer(answer(wire), "q")
    assert isinstance(outcome, SearchResults)
    assert [(h.title, h.url, h.snippet, h.published_ms) for h in outcome.hits] == [
        (h.title, h.url, h.snippet, h.published_ms) for h in hits
    ]


# --- blocks ---------------------------------------------------------------------------------


def test_page_age_and_domain_filter() -> None:
    assert page_age(1717000000000) == "May 29, 2024"
    assert page_age(None) is None and page_age(0) is None
    hits = (
        SearchHit("a", "https://docs.rust-lang.org/x", "", None, "docs.rust-lang.org"),
        SearchHit("b", "https://www.rust-lang.org/", "", None, "www.rust-lang.org"),
        SearchHit("c", "https://notrust-lang.org/", "", None, "notrust-lang.org"),
    )
    tool = find_web_search_tool(
        request(
            [{"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["rust-lang.org"]}]
        ).tools
    )
    assert tool is not None
    kept = filtered(SearchResults("q", hits), tool)
    assert isinstance(kept, SearchResults) and [h.title for h in kept.hits] == ["a", "b"]
    blocked = find_web_search_tool(
        request(
            [
                {
                    "type": "web_search_20250305",
                    "name": "web_search",
                    "blocked_domains": ["https://docs.rust-lang.org/"],
                }
            ]
        ).tools
    )
    assert blocked is not None
    rest = filtered(SearchResults("q", hits), blocked)
    assert isinstance(rest, SearchResults) and [h.title for h in rest.hits] == ["b", "c"]


def test_context_text_for_the_model() -> None:
    hit = SearchHit("Title", "https://a.example/", "Snippet", 1717000000000, "a.example")
    text = context_text("q", SearchResults("q", (hit,)))
    assert '"q"' in text and "[1] Title — https://a.example/ (May 29, 2024)" in text and "Snippet" in text
    assert "no results" in context_text("q", SearchResults("q", ()))
    assert "failed (unavailable)" in context_text("q", SearchError("unavailable", "x"))


def _sse(events: list[Any]) -> list[dict[str, Any]]:
    renderer = AnthropicSSERenderer(OPTIONS)
    decoder = SSEDecoder()
    return [e.json() for e in decoder.feed(renderer.start() + renderer.render_all(events))]


def _search_answer(outcome: SearchResults | SearchError, text: str, searches: int = 1) -> list[Any]:
    assembler = SearchAssembler(OPTIONS, searches)
    assert not assembler.has_content
    events = search_events("srvtoolu_1", "web_search", "q", outcome)
    events += assembler.feed(TextFragment(text))
    assert assembler.has_content
    events += assembler.feed(ContextUsage(1.0))  # the trailer: a complete answer
    events += assembler.finish()
    return events


def test_stream_and_fold_of_a_search_answer() -> None:
    hit = SearchHit("T", "https://a.example/", "S", 1717000000000, "a.example")
    events = _search_answer(SearchResults("q", (hit,)), "answer")
    assert [e.index for e in events if isinstance(e, BlockStart)] == [0, 1, 2]
    end = events[-1]
    assert isinstance(end, MessageEnd) and end.usage.web_search_requests == 1
    sse = _sse(events)
    starts = [e["content_block"] for e in sse if e["type"] == "content_block_start"]
    assert starts[0] == {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    assert starts[1] == {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [
            {
                "type": "web_search_result",
                "url": "https://a.example/",
                "title": "T",
                "encrypted_content": "S",
                "page_age": "May 29, 2024",
            }
        ],
    }
    deltas = [e for e in sse if e["type"] == "content_block_delta"]
    assert deltas[0] == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": '{"query":"q"}'},
    }
    assert sse[-2]["usage"]["server_tool_use"] == {"web_search_requests": 1}
    message = fold_anthropic(events, OPTIONS).model_dump(mode="json")
    assert [b["type"] for b in message["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    assert message["content"][0]["input"] == {"query": "q"}
    assert message["content"][1]["content"] == starts[1]["content"]
    assert message["usage"]["server_tool_use"] == {"web_search_requests": 1}


def test_error_answer_and_no_usage_without_searches() -> None:
    events = _search_answer(SearchError("max_uses_exceeded", "0"), "x", searches=0)
    message = fold_anthropic(events, OPTIONS).model_dump(mode="json")
    assert message["content"][1]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "max_uses_exceeded",
    }
    assert "server_tool_use" not in message["usage"]
    assert "server_tool_use" not in _sse(events)[-2]["usage"]


@settings(max_examples=50)
@given(_hits, st.lists(st.text(min_size=1, max_size=8), max_size=4))
def test_sse_and_fold_agree(hits: list[SearchHit], parts: list[str]) -> None:
    assembler = SearchAssembler(OPTIONS, 1)
    events = search_events("srvtoolu_1", "web_search", "q", SearchResults("q", tuple(hits)))
    for part in parts:
        events += assembler.feed(TextFragment(part))
    events += assembler.feed(ContextUsage(1.0))  # the trailer: a complete answer
    events += assembler.finish()
    folded = fold_anthropic(events, OPTIONS).model_dump(mode="json")
    blocks: dict[int, dict[str, Any]] = {}
    for event in _sse(events):
        if event["type"] == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            block = blocks[event["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                block["_json"] = block.get("_json", "") + delta["partial_json"]
    for block in blocks.values():
        if "_json" in block:
            block["input"] = json.loads(block.pop("_json"))
    assert [blocks[i] for i in sorted(blocks)] == folded["content"]
    assert all(isinstance(e.index, int) for e in events if isinstance(e, BlockDelta))


def test_results_go_into_the_current_message() -> None:
    conversion = convert({"messages": [{"role": "user", "content": "question"}]})
    body = with_search_context(conversion.body, "RESULTS")
    assert body.conversation_state.current_message.user_input_message.content == "question\n\nRESULTS"
    assert conversion.body.conversation_state.current_message.user_input_message.content == "question"


# --- history --------------------------------------------------------------------------------


def test_earlier_search_blocks_become_text() -> None:
    earlier = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "rust"}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://a.example/",
                    "title": "A",
                    "encrypted_content": "Plain snippet here",
                    "page_age": "May 1, 2024",
                },
                {
                    "type": "web_search_result",
                    "url": "https://b.example/",
                    "title": "B",
                    "encrypted_content": "EqYBCkYIARgCKkD" * 4,
                },
            ],
        },
        {"type": "text", "text": "Rust is fine."},
    ]
    failed = [
        {"type": "server_tool_use", "id": "srvtoolu_2", "name": "web_search", "input": {"query": "x"}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_2",
            "content": {"type": "web_search_tool_result_error", "error_code": "too_many_requests"},
        },
        {"type": "text", "text": "Could not search."},
    ]
    conversion = convert(
        {
            "messages": [
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": earlier},
                {"role": "user", "content": "q2"},
                {"role": "assistant", "content": failed},
                {"role": "user", "content": "q3"},
            ]
        }
    )
    first = history(conversion)[1]["assistantResponseMessage"]["content"]
    assert first == (
        '[web_search: searched for "rust"]\n\n[web search results]\n'
        "[1] A — https://a.example/ (May 1, 2024)\n    Plain snippet here\n"
        "[2] B — https://b.example/\n\nRust is fine."
    )
    second = history(conversion)[3]["assistantResponseMessage"]["content"]
    assert "[web search failed: too_many_requests]" in second
    assert "converted_web_search" in conversion.repairs


@settings(max_examples=60)
@given(query=_json, content=_json)
def test_any_earlier_search_blocks_convert_to_a_valid_body(query: Any, content: Any) -> None:
    blocks = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": query}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": content},
    ]
    conversion = convert(  # convert() checks the body against the simulator's rules
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": "next"},
            ]
        }
    )
    text = history(conversion)[1]["assistantResponseMessage"]["content"]
    assert text.startswith("[web_search: ") and "[web search" in text
