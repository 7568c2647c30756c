"""Shared helpers of the web search and Claude Code tests: a team stack with one account, so
that the simulator's MCP log and scripts are that account's."""

from __future__ import annotations

from typing import Any

from kiro_testing.sim import SimControl

WEB_SEARCH_TOOL: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}


def mcp_queries(sim: SimControl) -> list[str]:
    """The queries of every MCP `tools/call` the simulator saw (since its last stats reset)."""
    return [
        entry["body"]["params"]["arguments"]["query"]
        for entry in sim.stats()["mcp_requests"]
        if isinstance(entry.get("body"), dict) and entry["body"].get("method") == "tools/call"
    ]


def reset_stats(sim: SimControl) -> None:
    sim.reset_stats()
