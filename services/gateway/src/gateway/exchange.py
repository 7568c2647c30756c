"""One client request to Kiro, for either API flavour: convert, fail over, answer.

The routes validate and resolve the model; this module converts the Anthropic-shaped request
into the Kiro body, builds the `StreamOptions` the whole stream pipeline shares, runs
`failover.open_attempt`, and answers with a `StreamingAnswer` or a folded JSON body. The OpenAI
route arrives here after `convert_openai_request`, so there is exactly one path into Kiro.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from gateway.client_stream import Renderer, StreamingAnswer
from gateway.errors import Flavour, GatewayError, InternalError, Overloaded
from gateway.failover import Attempt, Upstreams, finish_call, open_attempt
from gateway.limits import admission_for
from gateway.prepare import Prepared, conversion_error
from gateway.record import RequestRecord
from gateway.usage import UsageReporter
from gateway.websearch import SearchRun, ignored_header, start_search
from kiroproto.bus import LeaseGrant, Outcome
from kiroproto.convert.reasoning import ReasoningPlan, apply_reasoning
from kiroproto.kiro.request import KiroRequest
from kiroproto.stream import (
    AnthropicSSERenderer,
    MessageEnd,
    OpenAIChunkRenderer,
    OutputEvent,
    StreamFailedError,
    StreamFailure,
    StreamOptions,
    fold_anthropic,
    fold_openai,
)

__all__ = ["Front", "KiroBody", "answer", "conversion_error", "failure_error"]  # conversion_error: prepare.py

log = logging.getLogger(__name__)

OPENAI_PING = b": ping\n\n"
SESSION_HEADER = "x-claude-code-session-id"


@dataclass(frozen=True, slots=True)
class Front:
    """What differs between the Anthropic and the OpenAI answer."""

    flavour: Flavour
    route: str
    include_usage: bool = False

    def message_id(self) -> str:
        if self.flavour == "openai":
            return "chatcmpl-" + uuid.uuid4().hex
        return "msg_" + uuid.uuid4().hex[:24]

    def renderer(self, options: StreamOptions) -> tuple[Renderer, Callable[[], bytes]]:
        if self.flavour == "openai":
            return OpenAIChunkRenderer(options, self.include_usage), lambda: OPENAI_PING
        sse = AnthropicSSERenderer(options)
        return sse, sse.ping

    def fold(self, events: list[OutputEvent], options: StreamOptions) -> BaseModel:
        if self.flavour == "openai":
            return fold_openai(events, options)
        return fold_anthropic(events, options)


def failure_error(failure: StreamFailure) -> GatewayError:
    """A failed non-streaming answer (no failover left or none possible)."""
    if failure.status_hint in (429, 503, 529) or failure.error_type == "overloaded_error":
        return Overloaded(failure.message, retry_after=1.0)
    return InternalError(failure.message)


class KiroBody:
    """The Kiro body per attempt. Converted once (prepare.py, maybe in a worker) and serialised
    without `profileArn`; per attempt it is shaped for the serving account: its `profileArn` is
    spliced into the bytes (a large body is never serialised again), and only where the account's
    catalogue gives the model a request-fields schema (kiro-protocol.md §19.5), or for the
    signature retry without history reasoning, is the body re-shaped as data and serialised.
    Bodies are cached per (profileArn, schema, strip), so attempts on alike accounts reuse them."""

    __slots__ = ("_body", "_cache", "_plan", "_wire")

    def __init__(self, body: bytes, plan: ReasoningPlan | None = None) -> None:
        self._body = body
        self._plan = plan or ReasoningPlan()
        self._wire: dict[str, Any] | None = None
        self._cache: dict[tuple[str | None, bytes | None, bool], bytes] = {}

    def __call__(self, grant: LeaseGrant, strip_reasoning: bool = False) -> bytes:
        profile_arn = grant.profile_arn
        schema = grant.model_info.request_fields_schema if grant.model_info is not None else None
        as_data = schema is not None or (strip_reasoning and bool(self._plan.history))
        key = (
            profile_arn,
            orjson.dumps(schema, option=orjson.OPT_SORT_KEYS) if schema is not None else None,
            strip_reasoning and as_data,
        )
        body = self._cache.get(key)
        if body is None:
            base = self._body
            if as_data:
                if self._wire is None:
                    self._wire = orjson.loads(self._body)
                wire = apply_reasoning(self._wire, self._plan, schema, strip_history=strip_reasoning)
                base = orjson.dumps(wire)
            body = self._cache[key] = _with_profile_arn(base, profile_arn)
        return body


def _with_profile_arn(body: bytes, profile_arn: str | None) -> bytes:
    """`profileArn` spliced in front of a serialised JSON object that does not carry it."""
    if not profile_arn:
        return body
    rest = body[1:]
    sep = b"" if rest.lstrip().startswith(b"}") else b","
    return b'{"profileArn":' + orjson.dumps(profile_arn) + sep + rest


async def answer(
    ctx: Upstreams,
    front: Front,
    prepared: Prepared,
    *,
    record: RequestRecord,
    reporter: UsageReporter,
) -> Response:
    """Answer a prepared request (prepare.py: parsed, converted and counted, maybe off the loop)."""
    record.requested_model = prepared.requested
    model = prepared.model
    request_id = record.request_id
    ticket = admission_for(record.key, prepared.requested, model)
    record.ticket = ticket  # limits.py: 403 above; the admission rides on the first lease
    if prepared.failure is not None:
        raise prepared.failure
    if prepared.repairs:
        log.info("request repaired", extra={"request_id": request_id, "repairs": list(prepared.repairs)})
        for rule in prepared.repairs:
            ctx.metrics.repairs.labels(rule).inc()
    options = dataclasses.replace(prepared.options, message_id=front.message_id(), created=int(time.time()))
    search = start_search(prepared.search, prepared.ignored_search_options, request_id)
    body: Callable[[LeaseGrant, bool], bytes]
    if search is None or prepared.search is None:
        body = KiroBody(prepared.body, prepared.reasoning)
    else:
        body = _searched_body(search, prepared.search.kiro, prepared.reasoning)
    stream = prepared.stream
    record.input_estimate = options.input_tokens_estimate
    attempt = await open_attempt(
        ctx,
        request_id=request_id,
        model=model.kiro_id,
        body_for=body,
        options=options,
        complete=not stream,
        ticket=ticket,
        search=search,
        session_id=prepared.session_id,
        record=record,
    )
    extra_headers = ignored_header(prepared.ignored_search_options)
    record.credential_id = attempt.lease.grant.credential_id
    if stream:
        renderer, ping = front.renderer(options)
        streaming = StreamingAnswer(
            ctx=ctx,
            attempt=attempt,
            renderer=renderer,
            ping=ping,
            record=record,
            reporter=reporter,
        )
        streaming.headers.update(extra_headers)
        return streaming
    events = attempt.events
    last = events[-1] if events else None
    if isinstance(last, MessageEnd):
        # off the critical path: the answer waits neither for the upstream body's last bytes
        # nor for the broker; the lease is released (or kept, slots.py) once the body ended
        ctx.broker.spawn(_close_then_finish(ctx, attempt, last), name="upstream-close")
        record.usage = last.usage  # what the client is told
    else:
        await attempt.stream.aclose()
    if isinstance(last, StreamFailure):
        failure = attempt.failure_of(last)
        await finish_call(ctx, attempt.call, failure.outcome, failure=failure)
        raise failure_error(last)
    try:
        result = front.fold(events, options)
    except StreamFailedError as exc:
        raise failure_error(exc.failure) from exc
    ttft = record.ttft_s = record.elapsed_s()
    ctx.metrics.ttft.labels(front.route).observe(ttft)
    if isinstance(last, MessageEnd):
        await reporter.write_ahead(record, last.usage)  # durable before the client is told
    return Response(result.model_dump_json().encode(), media_type="application/json", headers=extra_headers)


async def _close_then_finish(ctx: Upstreams, attempt: Attempt, end: MessageEnd) -> None:
    """After a complete answer: wait (bounded) for the upstream body's end, close, release."""
    try:
        await attempt.stream.close_after_end()  # over upstream before its lease serves again
    finally:
        await finish_call(ctx, attempt.call, Outcome.SUCCESS, end=end)


def _searched_body(
    search: SearchRun, kiro: KiroRequest, plan: ReasoningPlan
) -> Callable[[LeaseGrant, bool], bytes]:
    """The Kiro body once the search ran (the results go into the current user message)."""
    built: list[KiroBody] = []

    def body_for(grant: LeaseGrant, strip_reasoning: bool = False) -> bytes:
        if not built:
            built.append(KiroBody(orjson.dumps(_without_profile(search.wire(kiro))), plan))
        return built[0](grant, strip_reasoning)

    return body_for


def _without_profile(wire: dict[str, object]) -> dict[str, object]:
    wire.pop("profileArn", None)
    return wire
