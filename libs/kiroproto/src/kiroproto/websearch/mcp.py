"""Kiro's MCP endpoint (kiro-protocol.md §14): the JSON-RPC request, its headers, its answer.

    POST {api base}/mcp   headers as for chat, plus `x-amzn-kiro-profile-arn`, without
                          `x-amzn-codewhisperer-optout` / `x-amzn-kiro-agent-mode`
    {"id": "web_search_tooluse_{22 alnum}_{epoch ms}_{8 lower alnum}", "jsonrpc": "2.0",
     "method": "tools/call", "params": {"name": "web_search", "arguments": {"query": "..."}}}

The answer is plain JSON: `result.content[0].text` is itself a JSON document
`{"results": [{title, url, snippet, publishedDate (epoch ms), id, domain, ...}], ...}`;
`result.isError: true` or a JSON-RPC `error` means the search failed.

Every failure maps to one of Anthropic's `web_search_tool_result_error` codes
(`ErrorCode`), never to a failed request: HTTP 429 → `too_many_requests`; JSON-RPC
`-32602` (invalid params) → `invalid_tool_input`; anything else (other HTTP statuses, network
errors, timeouts, `isError`, a malformed answer) → `unavailable`.

Deliberately not here: the HTTP call (the gateway's `websearch.py`), blocks (`blocks.py`).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from kiroproto.anthropic.response import WebSearchErrorCode
from kiroproto.upstream import chat_headers

MCP_PATH = "/mcp"
ErrorCode = WebSearchErrorCode

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits
INVALID_PARAMS = -32602


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McpArguments(_Strict):
    query: str


class McpParams(_Strict):
    name: Literal["web_search"] = "web_search"
    arguments: McpArguments


class McpRequest(_Strict):
    """`tools/call web_search`, serialised in the reference's key order."""

    id: str
    jsonrpc: Literal["2.0"] = "2.0"
    method: Literal["tools/call"] = "tools/call"
    params: McpParams

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump())


def mcp_request_id(choice: Callable[[str], str], now_ms: int) -> str:
    """`web_search_tooluse_{22 alnum}_{epoch ms}_{8 lower alnum}`; `choice` picks one character
    (e.g. `secrets.choice`), so the function stays deterministic under test."""
    head = "".join(choice(_ALNUM) for _ in range(22))
    tail = "".join(choice(_LOWER_ALNUM) for _ in range(8))
    return f"web_search_tooluse_{head}_{now_ms}_{tail}"


def web_search_call(query: str, request_id: str) -> McpRequest:
    return McpRequest(id=request_id, params=McpParams(arguments=McpArguments(query=query)))


def mcp_headers(
    access_token: str, machine: str, profile_arn: str | None, *, api_key: bool = False
) -> dict[str, str]:
    """The chat headers (§2.2) adjusted as §14 says."""
    headers = chat_headers(access_token, machine, api_key=api_key)
    headers.pop("x-amzn-codewhisperer-optout", None)
    headers.pop("x-amzn-kiro-agent-mode", None)
    if profile_arn:
        headers["x-amzn-kiro-profile-arn"] = profile_arn
    return headers


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    snippet: str
    published_ms: int | None
    domain: str


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True, slots=True)
class SearchError:
    error_code: ErrorCode
    message: str


SearchOutcome = SearchResults | SearchError


class _Hit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = ""
    url: str
    snippet: str | None = None
    publishedDate: int | float | None = None  # noqa: N815 (the wire's name)
    domain: str | None = None


class _ResultDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[_Hit] = []
    query: str | None = None


def http_error(status: int) -> SearchError:
    code: ErrorCode = "too_many_requests" if status == 429 else "unavailable"
    return SearchError(code, f"the MCP endpoint answered HTTP {status}")


def _domain(url: str) -> str:
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].split("@")[-1].split(":")[0]
    return host.lower()


def parse_mcp_answer(body: bytes, query: str) -> SearchOutcome:
    """The outcome of a 200 answer to `tools/call web_search`."""
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return SearchError("unavailable", "the MCP answer is not JSON")
    if not isinstance(doc, dict):
        return SearchError("unavailable", "the MCP answer is not a JSON object")
    error = doc.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = str(error.get("message") or "")[:300]
        kind: ErrorCode = "invalid_tool_input" if code == INVALID_PARAMS else "unavailable"
        return SearchError(kind, f"MCP error {code}: {message}")
    result = doc.get("result")
    if not isinstance(result, dict):
        return SearchError("unavailable", "the MCP answer has neither result nor error")
    texts = [
        item.get("text")
        for item in result.get("content") or ()
        if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
    ]
    if result.get("isError"):
        detail = str(texts[0])[:300] if texts else "no detail"
        return SearchError("unavailable", f"the search failed: {detail}")
    if not texts:
        return SearchError("unavailable", "the MCP answer has no text content")
    try:
        parsed = _ResultDoc.model_validate_json(str(texts[0]))
    except ValidationError:
        return SearchError("unavailable", "the MCP result text is not the expected JSON document")
    hits = tuple(
        SearchHit(
            title=hit.title,
            url=hit.url,
            snippet=hit.snippet or "",
            published_ms=int(hit.publishedDate) if hit.publishedDate is not None else None,
            domain=(hit.domain or _domain(hit.url)).lower(),
        )
        for hit in parsed.results
    )
    return SearchResults(parsed.query or query, hits)


__all__ = [
    "INVALID_PARAMS",
    "MCP_PATH",
    "ErrorCode",
    "McpArguments",
    "McpParams",
    "McpRequest",
    "SearchError",
    "SearchHit",
    "SearchOutcome",
    "SearchResults",
    "http_error",
    "mcp_headers",
    "mcp_request_id",
    "parse_mcp_answer",
    "web_search_call",
]
