"""The MCP endpoint's web search (kiro-protocol.md §14): strict request check, scripted answers.

Checked (rule `mcp_request`, switchable; a failure answers 400 "Improperly formed request."):
`Content-Type: application/json`; a JSON object with `jsonrpc: "2.0"`, an `id`,
`method` `tools/list` or `tools/call`; for `tools/call`: `id` of the shape
`web_search_tooluse_{22 alnum}_{13-digit epoch ms}_{8 lower alnum}`, `params` exactly
`{name, arguments}` with `arguments` exactly `{query}`, `query` a non-blank string of at most
200 characters; no `x-amzn-codewhisperer-optout` / `x-amzn-kiro-agent-mode` header; the
`x-amzn-kiro-profile-arn` header required for Social accounts and, when present, the account's
(else 403 `User is not authorized ...`). An unknown tool name is a JSON-RPC error -32602, as
the reference says.

Answers: by default three deterministic results per query. A script on surface `mcp`
(`POST /_sim/scripts {"surface": "mcp", ...}`) can set `search_results` (the result list, `[]`
for none), `search_error` (`"rpc"`: a JSON-RPC error -32603, `"is_error"`: `result.isError`),
`first_byte_delay` (latency) or any HTTP error (`error` / `status`).

Deliberately not here: the route and the stats (routes/runtime.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from kiro_sim import errors
from kiro_sim.accounts import Account
from kiro_sim.errors import UpstreamError
from kiro_sim.script import Script

_ID = re.compile(r"^web_search_tooluse_[A-Za-z0-9]{22}_\d{13}_[a-z0-9]{8}$")
MAX_QUERY = 200
_FORBIDDEN_HEADERS = ("x-amzn-codewhisperer-optout", "x-amzn-kiro-agent-mode")


@dataclass(frozen=True, slots=True)
class McpRefusal:
    detail: str
    error: UpstreamError


def check_mcp(doc: Any, headers: dict[str, str], account: Account) -> McpRefusal | None:
    """The first way this request breaks §14's shape, or None."""
    if not headers.get("content-type", "").startswith("application/json"):
        return McpRefusal("Content-Type is not application/json", errors.IMPROPER)
    for name in _FORBIDDEN_HEADERS:
        if name in headers:
            return McpRefusal(f"header {name} does not belong on /mcp", errors.IMPROPER)
    arn = headers.get("x-amzn-kiro-profile-arn")
    if arn is None and account.auth == "social":
        return McpRefusal("x-amzn-kiro-profile-arn is required for social accounts", errors.IMPROPER)
    if arn is not None and arn != account.profile_arn:
        return McpRefusal("x-amzn-kiro-profile-arn does not belong to this token", errors.NOT_AUTHORIZED)
    if not isinstance(doc, dict) or doc.get("jsonrpc") != "2.0" or not isinstance(doc.get("id"), str | int):
        return McpRefusal("not a JSON-RPC 2.0 request with an id", errors.IMPROPER)
    method = doc.get("method")
    if method == "tools/list":
        return None
    if method != "tools/call":
        return McpRefusal(f"method {method!r} is not tools/list or tools/call", errors.IMPROPER)
    if not isinstance(doc["id"], str) or not _ID.match(doc["id"]):
        return McpRefusal(f"id {doc['id']!r} is not web_search_tooluse_<22>_<ms>_<8>", errors.IMPROPER)
    params = doc.get("params")
    if not isinstance(params, dict) or set(params) != {"name", "arguments"}:
        return McpRefusal("params must be exactly {name, arguments}", errors.IMPROPER)
    arguments = params.get("arguments")
    if params.get("name") != "web_search":
        return None  # answered with JSON-RPC -32602 (tool not found)
    if not isinstance(arguments, dict) or set(arguments) != {"query"}:
        return McpRefusal("arguments must be exactly {query}", errors.IMPROPER)
    query = arguments["query"]
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY:
        return McpRefusal(
            f"query must be a non-blank string of at most {MAX_QUERY} characters", errors.IMPROPER
        )
    return None


def default_results(query: str) -> list[dict[str, Any]]:
    results = []
    for rank in range(3):
        slug = hashlib.sha256(f"{query}/{rank}".encode()).hexdigest()[:12]
        results.append(
            {
                "title": f"Result {rank + 1} for {query}",
                "url": f"https://example.com/{slug}",
                "snippet": f"Simulated snippet {rank + 1} about {query}.",
                "publishedDate": 1717000000000 + rank,
                "id": slug,
                "domain": "example.com",
                "maxVerbatimWordLimit": 30,
                "publicDomain": False,
            }
        )
    return results


def mcp_answer(doc: dict[str, Any], script: Script | None = None) -> dict[str, Any]:
    """JSON-RPC answer for `tools/list` and `tools/call` of `web_search` (§14)."""
    rpc_id = doc.get("id")
    raw_params = doc.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if doc.get("method") == "tools/list":
        tool = {
            "name": "web_search",
            "description": "Search the web (simulated).",
            "inputSchema": {
                "type": "object",
                "properties": {"query": {"type": "string", "maxLength": MAX_QUERY}},
                "required": ["query"],
            },
        }
        return {"id": rpc_id, "jsonrpc": "2.0", "result": {"tools": [tool]}}
    if params.get("name") != "web_search":
        return {
            "id": rpc_id,
            "jsonrpc": "2.0",
            "error": {"code": -32602, "message": f"Tool not found: {params.get('name')!r}"},
        }
    query = str(params["arguments"]["query"])
    if script is not None and script.search_error == "rpc":
        return {
            "id": rpc_id,
            "jsonrpc": "2.0",
            "error": {"code": -32603, "message": "Internal error (scripted)"},
        }
    if script is not None and script.search_error == "is_error":
        content = [{"type": "text", "text": "Search failed (scripted)."}]
        return {"id": rpc_id, "jsonrpc": "2.0", "result": {"isError": True, "content": content}}
    results = script.search_results if script is not None and script.search_results is not None else None
    if results is None:
        results = default_results(query)
    text = orjson.dumps({"results": results, "totalResults": len(results), "query": query}).decode()
    return {
        "id": rpc_id,
        "jsonrpc": "2.0",
        "result": {"isError": False, "content": [{"type": "text", "text": text}]},
    }
