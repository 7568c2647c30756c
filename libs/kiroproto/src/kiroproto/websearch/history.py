"""Earlier searches in a conversation's history, as text Kiro can read.

Claude Code (and any client that keeps the assistant's content) sends `server_tool_use` and
`web_search_tool_result` blocks back in later requests. Kiro has no such blocks, so each one
becomes a line of text in its turn: the search and its query, then the results (title, URL,
page age and the snippet when it is readable text — Anthropic's own `encrypted_content` is an
opaque blob and is left out) or the error code.

Deliberately not here: where the text goes (`convert/content.py`).
"""

from __future__ import annotations

import json
from typing import Any

from kiroproto.anthropic.request import ServerToolUseBlock, WebSearchToolResultBlock

_SNIPPET_MAX = 1000


def server_tool_use_text(block: ServerToolUseBlock) -> str:
    query = block.input.get("query")
    if isinstance(query, str):
        return f'[{block.name}: searched for "{query}"]'
    # stdlib json: the input is the client's JSON as parsed (big integers included)
    return f"[{block.name}: {json.dumps(block.input, ensure_ascii=False, default=str)[:500]}]"


def _readable(snippet: object) -> str | None:
    if not isinstance(snippet, str) or not snippet.strip() or len(snippet) > _SNIPPET_MAX:
        return None
    return snippet.strip() if " " in snippet.strip() else None  # an opaque blob has no spaces


def _item_lines(number: int, item: dict[str, Any]) -> list[str]:
    title = item.get("title") if isinstance(item.get("title"), str) else ""
    url = item.get("url") if isinstance(item.get("url"), str) else ""
    age = item.get("page_age")
    head = f"[{number}] {title} — {url}" + (f" ({age})" if isinstance(age, str) and age else "")
    snippet = _readable(item.get("encrypted_content"))
    return [head, f"    {snippet}"] if snippet else [head]


def web_search_result_text(block: WebSearchToolResultBlock) -> str:
    content = block.content
    if isinstance(content, dict):
        code = content.get("error_code")
        return f"[web search failed: {code if isinstance(code, str) else 'unknown error'}]"
    if not isinstance(content, list):
        return "[web search results: none]"
    items = [item for item in content if isinstance(item, dict) and item.get("type") == "web_search_result"]
    if not items:
        return "[web search results: none]"
    lines = ["[web search results]"]
    for number, item in enumerate(items, 1):
        lines.extend(_item_lines(number, item))
    return "\n".join(lines)


__all__ = ["server_tool_use_text", "web_search_result_text"]
