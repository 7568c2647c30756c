"""The outermost pure-ASGI layer: the request span, requests in flight, the team rate-limit
headers, and at the end of a chat request its `FinishedRequest` (tallied by the replica's
`TrafficPublisher` for the dashboard's traffic history), token metrics and, for a team key, its
usage record.

Routes and the exchange leave what this layer needs in `scope["state"]` (the request's state):
`team_key` (a `TeamKey`, set by authentication), `team_ticket` (the admission), `model` (Kiro
id), `requested_model`, `usage` (the kiroproto `Usage` the client was told), `stream_failed`,
`input_estimate`, `ttft_s`, `credential_id`. The usage reporter and the bus come from the
lifespan's `GatewayState` in the same mapping (`kiro_service.deps.find_state`).
With tracing off and an operator key this costs a dict lookup or two per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, use_span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.deps import GatewayState
from gateway.failover import queue_ms
from gateway.limits import TeamTicket, ratelimit_headers
from gateway.metrics import Metrics, route_label
from gateway.telemetry import CURRENT_TRACER, Telemetry
from gateway.usage import UsageReporter
from kiro_service.asgi import HttpMiddleware
from kiro_service.deps import find_state
from kiroproto.bus import TeamKey, UsageOutcome, UsageRecord
from kiroproto.stream import Usage
from kiroproto.traffic import FinishedRequest

log = logging.getLogger(__name__)

CHAT_ROUTES = frozenset({"messages", "chat_completions"})


class AccountingMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, metrics: Metrics, telemetry: Telemetry) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.telemetry = telemetry

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        started = time.perf_counter()
        route = route_label(scope["path"])
        status = 0

        async def send_with_limits(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                ticket: TeamTicket | None = state.get("team_ticket")
                if ticket is not None and ticket.limits is not None:
                    extra = ratelimit_headers(ticket.limits, openai=route == "chat_completions")
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        gauge = self.metrics.in_flight.labels(route)
        gauge.inc()
        tracer = self.telemetry.tracer
        try:
            if tracer is None:
                await self.app(scope, receive, send_with_limits)
            else:
                span = tracer.start_span(
                    f"{scope.get('method', 'GET')} {scope['path'] if route != 'forward' else 'forward'}",
                    kind=SpanKind.SERVER,
                    attributes={
                        "http.request.method": str(scope.get("method", "")),
                        "url.path": scope["path"],
                    },
                )
                token = CURRENT_TRACER.set(tracer)
                try:
                    with use_span(span, end_on_exit=False):
                        await self.app(scope, receive, send_with_limits)
                finally:
                    CURRENT_TRACER.reset(token)
                    _finish_span(span, state, status, route)
        finally:
            gauge.dec()
            if route in CHAT_ROUTES:
                self._account(state, status, route)
                _count_request(state, status, route, time.perf_counter() - started)

    def _account(self, state: dict[str, Any], status: int, route: str) -> None:
        usage = state.get("usage")
        model = str(state.get("model") or "unknown")
        key: TeamKey | None = state.get("team_key")
        team = self.metrics.team_label(key.team) if key is not None else "operator"
        if usage is not None:
            # all input, cached or not: Kiro's metadataEvent splits it (input_tokens = uncached)
            prompt = usage.prompt_tokens
            self.metrics.tokens.labels(team, model, "input").inc(prompt)
            self.metrics.tokens.labels(team, model, "output").inc(usage.output_tokens)
            estimate = state.get("input_estimate")
            if estimate and prompt and prompt != estimate:
                # equal means the upstream sent no context usage (the estimate was used)
                self.metrics.token_estimate_ratio.observe(estimate / prompt)
        if key is None:
            return
        reporter = _reporter(state)
        request_id = state.get("request_id")
        if reporter is None or not isinstance(request_id, str):
            return
        ticket: TeamTicket | None = state.get("team_ticket")
        outcome: UsageOutcome
        if status == 403 or (ticket is not None and ticket.rejected):
            outcome = "rejected"
        elif status >= 400 or status == 0 or state.get("stream_failed") or usage is None:
            outcome = "error"
        else:
            outcome = "ok"
        if outcome == "ok" and state.get("usage_recorded"):
            return  # written ahead, before the client was told (record_usage_ahead)
        reporter.submit(_usage_record(state, key, request_id, outcome, usage if outcome == "ok" else None))


def _usage_record(
    state: dict[str, Any], key: TeamKey, request_id: str, outcome: UsageOutcome, told: Usage | None
) -> UsageRecord:
    ticket: TeamTicket | None = state.get("team_ticket")
    return UsageRecord(
        request_id=request_id,
        key_id=key.id,
        team=key.team,
        model=str(state.get("model") or "unknown"),
        outcome=outcome,
        admitted=ticket.admitted if ticket is not None else False,
        input_tokens=told.prompt_tokens if told else 0,  # cached input counts in team budgets too
        output_tokens=told.output_tokens if told else 0,
        credits=(told.credits or 0.0) if told else 0.0,
        at=time.time(),
        web_search_requests=told.web_search_requests if told else 0,
    )


async def record_usage_ahead(state: dict[str, Any], usage: Usage) -> None:
    """Make a team-key answer's usage durable BEFORE the client is told it (the final
    `message_delta` / `usage` chunk, or the JSON body), so that a gateway killed right after
    answering loses no usage record. One broker round trip for team keys, nothing for the
    operator key. If the broker cannot take it now, the record goes to the background queue
    (delivered with retries) and the answer is not held back."""
    key: TeamKey | None = state.get("team_key")
    reporter = _reporter(state)
    request_id = state.get("request_id")
    if key is None or reporter is None or not isinstance(request_id, str):
        return
    record = _usage_record(state, key, request_id, "ok", usage)
    state["usage_recorded"] = await reporter.deliver_now(record)


def _reporter(state: dict[str, Any]) -> UsageReporter | None:
    service = find_state(state, GatewayState)
    return service.usage_reporter if service is not None else None


def _finish_span(span: Any, state: dict[str, Any], status: int, route: str) -> None:
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("kiro.route", route)
    request_id = state.get("request_id")
    if isinstance(request_id, str):
        span.set_attribute("kiro.request_id", request_id)
    key: TeamKey | None = state.get("team_key")
    if key is not None:
        span.set_attribute("kiro.team", key.team)
    if route in CHAT_ROUTES:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "anthropic" if route == "messages" else "openai")
        requested = state.get("requested_model")
        if isinstance(requested, str):
            span.set_attribute("gen_ai.request.model", requested)
        if state.get("model"):
            span.set_attribute("gen_ai.response.model", str(state["model"]))
        usage = state.get("usage")
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
    if status >= 500 or status == 0:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    span.end()


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def _count_request(state: dict[str, Any], status: int, route: str, elapsed_s: float) -> None:
    """The dashboard's traffic history: the replica's tally counts this chat request."""
    service = find_state(state, GatewayState)
    if service is None:
        return
    usage = state.get("usage")
    key: TeamKey | None = state.get("team_key")
    ttft = state.get("ttft_s")
    error_type = None
    if status >= 400 or status == 0:
        error_type = _ERROR_TYPES.get(status, "api_error")
    elif state.get("stream_failed"):
        error_type = "stream_error"
    service.traffic.add(
        FinishedRequest(
            at=time.time(),
            api="openai" if route == "chat_completions" else "anthropic",
            model=str(state.get("requested_model") or state.get("model") or "unknown"),
            status=status,
            stream=bool(state.get("stream")),
            duration_ms=round(elapsed_s * 1000, 3),
            ttft_ms=round(ttft * 1000, 3) if isinstance(ttft, float) else None,
            input_tokens=usage.prompt_tokens if usage is not None else 0,
            output_tokens=usage.output_tokens if usage is not None else 0,
            error_type=error_type,
            team=key.team if key is not None else None,
            credential_id=state.get("credential_id"),
            queue_ms=queue_ms(state),
        )
    )
