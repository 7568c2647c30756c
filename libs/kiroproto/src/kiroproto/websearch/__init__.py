"""Anthropic's web search server tool served through Kiro's MCP endpoint (kiro-protocol.md §14).

    tool.py     which requests search, their settings (max_uses, domains), the query
    mcp.py      the JSON-RPC request and headers, the answer → SearchResults | SearchError
    blocks.py   outcome → server_tool_use / web_search_tool_result events, text for the model
    answer.py   results into the Kiro body; SearchAssembler renumbers the model's blocks
    history.py  earlier search blocks in a conversation → text for Kiro

Sans-IO like the rest of kiroproto: the gateway makes the HTTP call.
"""

from kiroproto.websearch.answer import SearchAssembler, with_search_context
from kiroproto.websearch.blocks import (
    SEARCH_BLOCKS,
    context_text,
    filtered,
    search_events,
    server_tool_use_id,
)
from kiroproto.websearch.history import server_tool_use_text, web_search_result_text
from kiroproto.websearch.mcp import (
    MCP_PATH,
    ErrorCode,
    McpRequest,
    SearchError,
    SearchHit,
    SearchOutcome,
    SearchResults,
    http_error,
    mcp_headers,
    mcp_request_id,
    parse_mcp_answer,
    web_search_call,
)
from kiroproto.websearch.tool import WebSearchTool, find_web_search_tool, search_query

__all__ = [
    "MCP_PATH",
    "SEARCH_BLOCKS",
    "ErrorCode",
    "McpRequest",
    "SearchAssembler",
    "SearchError",
    "SearchHit",
    "SearchOutcome",
    "SearchResults",
    "WebSearchTool",
    "context_text",
    "filtered",
    "find_web_search_tool",
    "http_error",
    "mcp_headers",
    "mcp_request_id",
    "parse_mcp_answer",
    "search_events",
    "search_query",
    "server_tool_use_id",
    "server_tool_use_text",
    "web_search_call",
    "web_search_result_text",
    "with_search_context",
]
