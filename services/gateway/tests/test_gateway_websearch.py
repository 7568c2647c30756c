"""Web search in the gateway: the MCP call goes under the request's lease with the §14 headers,
runs once even when the chat call fails over, and a failed search is an error block."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import orjson
import pytest
from gw_fakes import FakeBroker, FakeKiro, respond, text_events
from test_failover import call, ok, status

from gateway import websearch

SEARCH: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "rust news"}],
    "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
}


def mcp_ok(request: httpx.Request) -> httpx.Response:
    query = orjson.loads(request.content)["params"]["arguments"]["query"]
    text = json.dumps(
        {"results": [{"title": "T", "url": "https://a.example/", "snippet": "S"}], "query": query}
    )
    body = {
        "id": "x",
        "jsonrpc": "2.0",
        "result": {"isError": False, "content": [{"type": "text", "text": text}]},
    }
    return httpx.Response(200, json=body)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


async def test_search_runs_once_under_the_first_lease_and_survives_a_failover() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(mcp_ok, status(429, "busy", "INSUFFICIENT_MODEL_CAPACITY"), ok("fine"))
    response = await call(broker, kiro, "/v1/messages", SEARCH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [b["type"] for b in body["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    assert body["usage"]["server_tool_use"] == {"web_search_requests": 1}
    paths = [r.url.path for r in kiro.requests]
    assert paths == ["/mcp", "/generateAssistantResponse", "/generateAssistantResponse"]
    assert kiro.tokens[:2] == ["token-cred-a", "token-cred-a"]  # same lease as the first chat call
    mcp = kiro.requests[0]
    assert "x-amzn-kiro-agent-mode" not in mcp.headers and "x-amzn-codewhisperer-optout" not in mcp.headers
    assert mcp.headers["content-type"] == "application/json"
    # the retried chat call still carries the results for the model
    retried = orjson.loads(kiro.requests[2].content)
    assert (
        "Web search results" in retried["conversationState"]["currentMessage"]["userInputMessage"]["content"]
    )


async def test_network_error_is_an_error_block_not_a_failed_request() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(refuse, ok("answer"))
    response = await call(broker, kiro, "/v1/messages", {**SEARCH, "stream": True})
    assert response.status_code == 200
    assert '"error_code":"unavailable"' in response.text and "server_tool_use" in response.text
    assert broker.outcomes == ["success"]


async def test_openai_route_never_searches() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(ok("plain"))
    tool = {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object"}}}
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    response = await call(broker, kiro, "/v1/chat/completions", body)
    assert response.status_code == 200
    assert [r.url.path for r in kiro.requests] == ["/generateAssistantResponse"]
    sent = orjson.loads(kiro.requests[0].content)
    tools = sent["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"][
        "tools"
    ]
    assert tools[0]["toolSpecification"]["name"] == "web_search"


async def test_chat_only_without_a_question() -> None:
    broker = FakeBroker()
    kiro = FakeKiro(lambda _: respond(text_events("done")))
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]},
    ]
    custom = {"name": "f", "input_schema": {"type": "object"}}
    response = await call(
        broker, kiro, "/v1/messages", {**SEARCH, "messages": messages, "tools": [*SEARCH["tools"], custom]}
    )
    assert response.status_code == 200
    assert [r.url.path for r in kiro.requests] == ["/generateAssistantResponse"]


async def test_slow_search_times_out_into_an_error_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websearch, "MCP_TIMEOUT_S", 0.2)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2.0)
        return mcp_ok(request)

    broker = FakeBroker()
    kiro = FakeKiro(slow, ok("answer"))  # type: ignore[arg-type]
    started = time.monotonic()
    response = await call(broker, kiro, "/v1/messages", SEARCH)
    assert time.monotonic() - started < 1.5
    body = response.json()
    assert body["content"][1]["content"] == {
        "type": "web_search_tool_result_error",
        "error_code": "unavailable",
    }
    assert body["usage"]["server_tool_use"] == {"web_search_requests": 1}  # the call was made
