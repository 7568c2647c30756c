"""Which requests search the web, with what settings, and for which query.

Anthropic documents the server tool in three versions, `web_search_20250305`,
`web_search_20260209` and `web_search_20260318` (same input: `name: "web_search"`, `max_uses`,
`allowed_domains`, `blocked_domains`, `user_location`, `strict`, `allowed_callers`,
`defer_loading`; the newest adds `response_inclusion` for results consumed by code execution).
Any `web_search_<yyyymmdd>` type is taken as the web search tool, so a newer version still
searches rather than silently doing nothing.

What Kiro's MCP `web_search` can do (kiro-protocol.md §14): one `query` argument of at most
200 characters, nothing else. So:

- `max_uses`: honoured. The gateway searches at most once per request, and not at all with
  `max_uses: 0`.
- `allowed_domains` / `blocked_domains`: honoured after the fact, by filtering the results
  (`blocks.filter_domains`); Kiro cannot narrow the search itself.
- `user_location` and any other option set to something but its default (`allowed_callers`
  other than `["direct"]`, `defer_loading: true`, `response_inclusion` other than `"full"`):
  ignored; `ignored_options` names them so the gateway can say so (a log line and a response
  header).

The query: Claude Code's WebSearch tool sends a sub-request whose user text is
`Perform a web search for the query: <q>`; that prefix is cut. Otherwise the last user
message's text is the query. A last user message without text (only tool results) is a tool
loop's continuation, not a question: no search. Queries are cut to `MAX_QUERY_CHARS`.

Deliberately not here: the MCP request (`mcp.py`), results as blocks (`blocks.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kiroproto.anthropic.request import Message, ServerTool, TextBlock, Tool

DOCUMENTED_VERSIONS = ("web_search_20250305", "web_search_20260209", "web_search_20260318")
MAX_QUERY_CHARS = 200
CLAUDE_CODE_PREFIX = "Perform a web search for the query:"
_TYPE = re.compile(r"^web_search_\d{8}$")
_DEFAULTS: dict[str, object] = {
    "allowed_callers": ["direct"],
    "defer_loading": False,
    "response_inclusion": "full",
}
_HONOURED = frozenset(
    {"type", "name", "max_uses", "allowed_domains", "blocked_domains", "strict", "cache_control"}
)


@dataclass(frozen=True, slots=True)
class WebSearchTool:
    """The request's web search server tool, as far as the gateway honours it."""

    tool_type: str
    name: str
    max_uses: int | None
    allowed_domains: tuple[str, ...]
    blocked_domains: tuple[str, ...]
    ignored_options: tuple[str, ...]
    """Options given but not honoured (e.g. `user_location`), sorted."""

    @property
    def searches_allowed(self) -> int:
        """How many searches this request may run (the gateway runs at most one)."""
        if self.max_uses is None:
            return 1
        return max(0, min(1, self.max_uses))


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item.strip().lower() for item in value if isinstance(item, str) and item.strip())


def find_web_search_tool(tools: Sequence[Tool] | None) -> WebSearchTool | None:
    """The first `web_search_*` server tool among `tools`, or None."""
    for tool in tools or ():
        if not isinstance(tool, ServerTool) or not _TYPE.match(tool.type):
            continue
        extra = tool.model_extra or {}
        max_uses = extra.get("max_uses")
        ignored = sorted(
            key
            for key, value in extra.items()
            if key not in _HONOURED and value is not None and value != _DEFAULTS.get(key)
        )
        return WebSearchTool(
            tool_type=tool.type,
            name=tool.name or "web_search",
            max_uses=max_uses if isinstance(max_uses, int) and not isinstance(max_uses, bool) else None,
            allowed_domains=_strings(extra.get("allowed_domains")),
            blocked_domains=_strings(extra.get("blocked_domains")),
            ignored_options=tuple(ignored),
        )
    return None


def search_query(messages: Sequence[Message]) -> str | None:
    """The query for the request's search, or None when the last message asks no question."""
    if not messages or messages[-1].role != "user":
        return None
    texts = [block.text for block in messages[-1].blocks() if isinstance(block, TextBlock)]
    for text in texts:  # Claude Code's sub-request: the block that carries the prefix
        stripped = text.strip()
        if stripped.startswith(CLAUDE_CODE_PREFIX):
            return _cut(stripped[len(CLAUDE_CODE_PREFIX) :])
    joined = " ".join(t.strip() for t in texts if t.strip())
    return _cut(joined) if joined else None


def _cut(text: str) -> str | None:
    query = " ".join(text.split())[:MAX_QUERY_CHARS].strip()
    return query or None


__all__ = [
    "CLAUDE_CODE_PREFIX",
    "DOCUMENTED_VERSIONS",
    "MAX_QUERY_CHARS",
    "WebSearchTool",
    "find_web_search_tool",
    "search_query",
]
