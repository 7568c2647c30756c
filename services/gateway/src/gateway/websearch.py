"""Anthropic's web search server tool, served through Kiro's MCP endpoint (kiro-protocol.md §14).

Search first, then ask the model (the way kiro.rs serves it, README "Anthropic features"): when
an Anthropic request carries a `web_search_*` tool and its last user message asks something,
`search_plan` finds the search while the request is prepared (prepare.py) and `start_search`
makes it a `SearchRun`. `failover.open_attempt` runs it once, under the request's first lease
(same credential, proxy and headers as the chat call), before the chat call; the results are
appended to the current user message for the model (`kiroproto.websearch.with_search_context`),
and the answer starts with the `server_tool_use` and
`web_search_tool_result` blocks (`SearchRun.events`). A failed search (HTTP error, JSON-RPC
error, timeout, network error) becomes a `web_search_tool_result_error`, never a failed request;
`max_uses: 0` gives `max_uses_exceeded` without calling Kiro. A fail-over to another account
reuses the outcome: the search runs once per request.

Options Kiro cannot honour (`user_location`, ...) are ignored visibly: a log line and the
`x-kiro2api-ignored-options` response header. Each search counts in
`gateway_web_search_requests_total{outcome}` and in the answer's usage (`web_search_requests`).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.metrics import Metrics
from gateway.upstream import UpstreamClient, UpstreamFailure
from kiroproto.anthropic.request import MessagesRequest
from kiroproto.bus import LeaseGrant
from kiroproto.kiro.request import KiroRequest
from kiroproto.stream.events import OutputEvent
from kiroproto.stream.options import StreamOptions
from kiroproto.websearch import (
    SearchAssembler,
    SearchError,
    SearchOutcome,
    WebSearchTool,
    context_text,
    filtered,
    find_web_search_tool,
    http_error,
    mcp_request_id,
    parse_mcp_answer,
    search_events,
    search_query,
    server_tool_use_id,
    web_search_call,
    with_search_context,
)

log = logging.getLogger(__name__)

IGNORED_HEADER = "x-kiro2api-ignored-options"
MCP_TIMEOUT_S = 30.0


@dataclass(slots=True)
class SearchRun:
    """One request's web search: planned at conversion, run once under the first lease."""

    tool: WebSearchTool
    query: str
    request_id: str
    tool_use_id: str = field(default_factory=lambda: server_tool_use_id(secrets.choice))
    outcome: SearchOutcome | None = None
    searches: int = 0  # MCP calls made (what `web_search_requests` reports)

    async def run(self, upstream: UpstreamClient, metrics: Metrics, grant: LeaseGrant) -> None:
        if self.outcome is not None:
            return  # a fail-over: the search already ran
        if self.tool.searches_allowed == 0:
            self.outcome = SearchError("max_uses_exceeded", "max_uses is 0")
        else:
            self.searches = 1
            started = time.monotonic()
            self.outcome = await _search(upstream, grant, self.query, self.tool)
            elapsed_ms = round((time.monotonic() - started) * 1000, 2)
            log.info(
                "web search",
                extra={
                    "request_id": self.request_id,
                    "credential_id": grant.credential_id,
                    "tool": self.tool.tool_type,
                    "max_uses": self.tool.max_uses,
                    "outcome": self.outcome_label,
                    "duration_ms": elapsed_ms,
                    "error": self.outcome.message if isinstance(self.outcome, SearchError) else None,
                },
            )
        metrics.web_searches.labels(self.outcome_label).inc()

    @property
    def outcome_label(self) -> str:
        outcome = self.outcome
        return outcome.error_code if isinstance(outcome, SearchError) else "ok"

    def _done(self) -> SearchOutcome:
        assert self.outcome is not None, "SearchRun.run() comes first"
        return self.outcome

    def events(self) -> list[OutputEvent]:
        """The answer's leading blocks (server_tool_use, web_search_tool_result)."""
        return search_events(self.tool_use_id, self.tool.name, self.query, self._done())

    def wire(self, body: KiroRequest) -> dict[str, Any]:
        """The Kiro body with the results appended to the current user message."""
        return with_search_context(body, context_text(self.query, self._done())).to_wire()

    def assembler(self, options: StreamOptions) -> SearchAssembler:
        return SearchAssembler(options, self.searches)


async def _search(
    upstream: UpstreamClient, grant: LeaseGrant, query: str, tool: WebSearchTool
) -> SearchOutcome:
    call = web_search_call(query, mcp_request_id(secrets.choice, int(time.time() * 1000)))
    try:
        status, body = await upstream.call_mcp(grant, call.to_bytes(), MCP_TIMEOUT_S)
    except UpstreamFailure as exc:
        return SearchError("unavailable", exc.failure.message)
    except TimeoutError:
        return SearchError("unavailable", f"the MCP endpoint did not answer within {MCP_TIMEOUT_S:g} s")
    if status != 200:
        return http_error(status)
    return filtered(parse_mcp_answer(body, query), tool)


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What a request's web search needs, found while the request is prepared (prepare.py, maybe
    in a worker process: plain data)."""

    tool: WebSearchTool
    query: str
    kiro: KiroRequest  # the converted body the results go into


def search_plan(req: MessagesRequest, kiro: KiroRequest) -> tuple[SearchPlan | None, tuple[str, ...]]:
    """The search this Anthropic request asks for (None: no web search tool, or the last message
    asks nothing, a tool loop's continuation), and the tool's options that are ignored."""
    tool = find_web_search_tool(req.tools)
    if tool is None:
        return None, ()
    query = search_query(req.messages)
    return (SearchPlan(tool, query, kiro) if query is not None else None), tuple(tool.ignored_options)


def start_search(plan: SearchPlan | None, ignored: tuple[str, ...], request_id: str) -> SearchRun | None:
    if ignored:
        log.info("web search options ignored", extra={"request_id": request_id, "options": list(ignored)})
    return None if plan is None else SearchRun(plan.tool, plan.query, request_id)


def ignored_header(ignored: tuple[str, ...]) -> dict[str, str]:
    return {IGNORED_HEADER: ",".join(ignored)} if ignored else {}
