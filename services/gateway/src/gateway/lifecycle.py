"""The one pure-ASGI layer around every request: it creates the request's `RequestRecord`
(record.py) and, when the request ends, records everything from it once.

On the way in: the request id (the `request-id` response header), the body limit (declared
and streamed), requests in flight, the request span when tracing is on. On the way out: the
team's rate-limit headers on the response start. At the end: the request metrics and the one
access-log line; for the two chat routes also the token metrics, the team's usage record and
the traffic tally. It is also the last-resort error boundary: a bug becomes a 500 in the
client's shape with the request id, never a stack trace.

Never `BaseHTTPMiddleware`: streaming responses and client-disconnect detection pass straight
through.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, use_span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.deps import GatewayState
from gateway.errors import Flavour, InternalError, RequestTooLarge, flavour_for_path, render_error
from gateway.limits import ratelimit_headers
from gateway.metrics import Metrics, route_label
from gateway.record import RECORD_KEY, RequestRecord, finished_request, usage_outcome, usage_record
from gateway.telemetry import CURRENT_TRACER, Telemetry
from kiro_service.asgi import HttpMiddleware, content_length
from kiro_service.deps import find_state

log = logging.getLogger(__name__)

UNLOGGED_ROUTES = frozenset({"healthz", "readyz", "metrics"})


class Lifecycle(HttpMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        telemetry: Telemetry,
        max_body_bytes: int,
        direct: Mapping[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.telemetry = telemetry
        self.max_body_bytes = max_body_bytes
        # (method, path) -> an endpoint served without the framework's layers (routes/answer.py)
        self.direct = dict(direct or {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        record = RequestRecord(
            request_id="req_" + uuid.uuid4().hex, route=route_label(path), started=time.perf_counter()
        )
        state: dict[str, Any] = scope.setdefault("state", {})
        state[RECORD_KEY] = record
        flavour = flavour_for_path(path)
        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(f"request body is larger than {limit} bytes")
            return message

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = [*message.get("headers", []), (b"request-id", record.request_id.encode())]
                ticket = record.ticket
                if ticket is not None and ticket.limits is not None:
                    headers.extend(
                        ratelimit_headers(ticket.limits, openai=record.route == "chat_completions")
                    )
                message = {**message, "headers": headers}
            await send(message)

        gauge = self.metrics.in_flight.labels(record.route)
        gauge.inc()
        tracer = self.telemetry.tracer
        try:
            if tracer is None:
                await self._guarded(scope, limited_receive, send_out, record, flavour)
            else:
                span = tracer.start_span(
                    f"{scope.get('method', 'GET')} {path if record.route != 'forward' else 'forward'}",
                    kind=SpanKind.SERVER,
                    attributes={"http.request.method": str(scope.get("method", "")), "url.path": path},
                )
                token = CURRENT_TRACER.set(tracer)
                try:
                    with use_span(span, end_on_exit=False):
                        await self._guarded(scope, limited_receive, send_out, record, flavour)
                finally:
                    CURRENT_TRACER.reset(token)
                    _finish_span(span, record)
        finally:
            gauge.dec()
            self._finish(record, scope)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, record: RequestRecord, flavour: Flavour
    ) -> None:
        """The app, behind the declared-length check and the last-resort error boundary."""
        try:
            declared = content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                err = RequestTooLarge(f"request body is larger than {self.max_body_bytes} bytes")
                await render_error(err, flavour, record.request_id)(scope, receive, send)
                return
            endpoint = self.direct.get((scope["method"], scope["path"]), self.app)
            await endpoint(scope, receive, send)
        except Exception as exc:  # the boundary: anything that got here is a bug
            log.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": record.request_id, "path": scope["path"]},
            )
            if record.status == 0:
                await render_error(InternalError("internal error"), flavour, record.request_id)(
                    scope, receive, send
                )

    def _finish(self, record: RequestRecord, scope: Scope) -> None:
        """Everything the request leaves behind, derived from its record once."""
        elapsed = record.elapsed_s()
        route, status, model = record.route, record.status, record.model or ""
        self.metrics.requests.labels(route, model, record.team, str(status)).inc()
        self.metrics.request_duration.labels(route).observe(elapsed)
        if route not in UNLOGGED_ROUTES:
            log.info(
                "request",
                extra={
                    "request_id": record.request_id,
                    "method": scope.get("method"),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    # apart from upstream time and TTFT: how long it waited for an account
                    "queue_ms": record.queue_ms,
                    "ttft_ms": record.ttft_ms,
                    "model": model or None,
                    "stream": record.stream,
                    "credential_id": record.credential_id,
                    "attempts": record.attempts or None,
                    "disconnected": record.disconnected or None,
                },
            )
        if not record.chat:
            return
        self._count_tokens(record, model or "unknown")
        service = find_state(scope["state"], GatewayState)
        if service is None:
            return
        service.traffic.add(finished_request(record, elapsed))
        key = record.key
        if key is None:
            return
        outcome = usage_outcome(record)
        if outcome == "ok" and record.usage_recorded:
            return  # written ahead, before the client was told (UsageReporter.write_ahead)
        service.usage_reporter.submit(
            usage_record(record, key, outcome, record.usage if outcome == "ok" else None)
        )

    def _count_tokens(self, record: RequestRecord, model: str) -> None:
        usage = record.usage
        if usage is None:
            return
        team = record.team or "operator"  # the label authentication chose
        # all input, cached or not: Kiro's metadataEvent splits it (input_tokens = uncached)
        prompt = usage.prompt_tokens
        self.metrics.tokens.labels(team, model, "input").inc(prompt)
        self.metrics.tokens.labels(team, model, "output").inc(usage.output_tokens)
        estimate = record.input_estimate
        if estimate and prompt and prompt != estimate:
            # equal means the upstream sent no context usage (the estimate was used)
            self.metrics.token_estimate_ratio.observe(estimate / prompt)


def _finish_span(span: Any, record: RequestRecord) -> None:
    span.set_attribute("http.response.status_code", record.status)
    span.set_attribute("kiro.route", record.route)
    span.set_attribute("kiro.request_id", record.request_id)
    if record.key is not None:
        span.set_attribute("kiro.team", record.key.team)
    if record.chat:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "anthropic" if record.route == "messages" else "openai")
        if record.requested_model is not None:
            span.set_attribute("gen_ai.request.model", record.requested_model)
        if record.model:
            span.set_attribute("gen_ai.response.model", record.model)
        if record.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", record.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", record.usage.output_tokens)
    if record.status >= 500 or record.status == 0:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {record.status}"))
    span.end()
