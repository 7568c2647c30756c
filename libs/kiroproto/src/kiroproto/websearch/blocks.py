"""A search's outcome as Anthropic content (output events) and as text for the model.

The answer to a request with web search starts with two blocks, then the model's answer:

    0  server_tool_use        {id: "srvtoolu_…", name: "web_search", input: {query}}
    1  web_search_tool_result {tool_use_id, content: [web_search_result …] | web_search_tool_result_error}
    2… the model's blocks (text, thinking, tool_use), renumbered by `SearchAssembler`

A `web_search_result` carries `url`, `title`, `encrypted_content` (Kiro's snippet: Anthropic's
value is opaque, ours is the plain text the model saw) and `page_age` (`publishedDate` as
"Month D, YYYY", UTC). The same results go to the model as text (`context_text`) appended to
the user's message, so that its answer can use them.

Deliberately not here: detection (`tool.py`), the MCP wire (`mcp.py`).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson

from kiroproto.anthropic.response import WebSearchResult, WebSearchToolResultError
from kiroproto.stream.events import BlockDelta, BlockStart, BlockStop, OutputEvent
from kiroproto.websearch.mcp import SearchError, SearchHit, SearchOutcome, SearchResults
from kiroproto.websearch.tool import WebSearchTool

SEARCH_BLOCKS = 2
"""How many blocks the search puts in front of the model's answer."""
_ID_CHARS = string.ascii_letters + string.digits
_MONTHS = "January February March April May June July August September October November December".split()


def server_tool_use_id(choice: Callable[[str], str]) -> str:
    """`srvtoolu_` + 24 alphanumerics, the shape of Anthropic's ids."""
    return "srvtoolu_" + "".join(choice(_ID_CHARS) for _ in range(24))


def page_age(published_ms: int | None) -> str | None:
    if published_ms is None or published_ms <= 0:
        return None
    try:
        day = datetime.fromtimestamp(published_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _host_of(entry: str) -> str:
    rest = entry.split("://", 1)[-1]
    return rest.split("/", 1)[0].lower().removeprefix("www.")


def _matches(domain: str, entries: Iterable[str]) -> bool:
    domain = domain.lower().removeprefix("www.")
    for entry in entries:
        host = _host_of(entry)
        if host and (domain == host or domain.endswith("." + host)):
            return True
    return False


def filter_domains(hits: Iterable[SearchHit], tool: WebSearchTool) -> tuple[SearchHit, ...]:
    """`allowed_domains` / `blocked_domains` applied to the results (subdomains included)."""
    kept = []
    for hit in hits:
        if tool.allowed_domains and not _matches(hit.domain, tool.allowed_domains):
            continue
        if tool.blocked_domains and _matches(hit.domain, tool.blocked_domains):
            continue
        kept.append(hit)
    return tuple(kept)


def result_items(hits: Iterable[SearchHit]) -> list[WebSearchResult]:
    return [
        WebSearchResult(
            url=hit.url, title=hit.title, encrypted_content=hit.snippet, page_age=page_age(hit.published_ms)
        )
        for hit in hits
    ]


def result_content_json(outcome: SearchOutcome) -> str:
    """The `content` of the web_search_tool_result block, as JSON text."""
    if isinstance(outcome, SearchError):
        return WebSearchToolResultError(error_code=outcome.error_code).model_dump_json()
    return orjson.dumps([item.model_dump() for item in result_items(outcome.hits)]).decode()


def search_events(tool_use_id: str, name: str, query: str, outcome: SearchOutcome) -> list[OutputEvent]:
    """The two leading blocks of the answer (indices 0 and 1)."""
    return [
        BlockStart(0, "server_tool_use", tool_use_id, name),
        BlockDelta(0, "input_json", orjson.dumps({"query": query}).decode()),
        BlockStop(0),
        BlockStart(1, "web_search_tool_result", tool_use_id, content=result_content_json(outcome)),
        BlockStop(1),
    ]


def context_text(query: str, outcome: SearchOutcome) -> str:
    """What the model is told about the search, appended to the user's message."""
    if isinstance(outcome, SearchError):
        return (
            f'A web search for "{query}" was attempted and failed ({outcome.error_code}). '
            "Answer from what you know and say that the search failed."
        )
    if not outcome.hits:
        return f'A web search for "{query}" found no results. Say so, and answer from what you know.'
    lines = [f'Web search results for "{query}":']
    for number, hit in enumerate(outcome.hits, 1):
        age = page_age(hit.published_ms)
        lines.append(f"[{number}] {hit.title} — {hit.url}" + (f" ({age})" if age else ""))
        if hit.snippet:
            lines.append(f"    {hit.snippet}")
    lines.append("Use these results to answer, and name the URLs you rely on.")
    return "\n".join(lines)


def filtered(outcome: SearchOutcome, tool: WebSearchTool) -> SearchOutcome:
    if isinstance(outcome, SearchResults):
        return SearchResults(outcome.query, filter_domains(outcome.hits, tool))
    return outcome


__all__ = [
    "SEARCH_BLOCKS",
    "context_text",
    "filter_domains",
    "filtered",
    "page_age",
    "result_content_json",
    "result_items",
    "search_events",
    "server_tool_use_id",
]
