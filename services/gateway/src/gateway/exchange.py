"""One client request to Kiro, for either API flavour: convert, fail over, answer.

The routes validate and resolve the model; this module converts the Anthropic-shaped request
into the Kiro body, builds the `StreamOptions` the whole stream pipeline shares, runs
`failover.open_attempt`, and answers with a `StreamingAnswer` or a folded JSON body. The OpenAI
route arrives here after `convert_openai_request`, so there is exactly one path into Kiro.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from gateway.accounting import record_usage_ahead
from gateway.errors import Flavour, GatewayError, InternalError, InvalidRequest, Overloaded
from gateway.failover import Upstreams, finish_call, open_attempt
from gateway.limits import admission_for
from gateway.media.cache import MediaCache
from gateway.media.prepare import prepare_request
from gateway.offload import Offloader
from gateway.responses import Renderer, StreamingAnswer
from kiroproto.anthropic.request import MessagesRequest
from kiroproto.bus import Outcome, TeamKey
from kiroproto.convert import convert_anthropic_request
from kiroproto.errors import ConversionError
from kiroproto.models import ResolvedModel
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
from kiroproto.tokens import EstimatingTokenCounter, count_request_tokens

log = logging.getLogger(__name__)

OPENAI_PING = b": ping\n\n"


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


def conversion_error(exc: ConversionError) -> GatewayError:
    if exc.status_hint == 400:
        return InvalidRequest(exc.message)
    if exc.status_hint in (529, 503):
        return Overloaded(exc.message, retry_after=1.0)
    return InternalError(exc.message)


def failure_error(failure: StreamFailure) -> GatewayError:
    """A failed non-streaming answer (no failover left or none possible)."""
    if failure.status_hint in (429, 503, 529) or failure.error_type == "overloaded_error":
        return Overloaded(failure.message, retry_after=1.0)
    return InternalError(failure.message)


class KiroBody:
    """The Kiro body per credential: only `profileArn` differs between attempts."""

    __slots__ = ("_cache", "_wire")

    def __init__(self, wire: dict[str, Any]) -> None:
        self._wire = wire
        self._cache: dict[str | None, bytes] = {}

    def __call__(self, profile_arn: str | None) -> bytes:
        body = self._cache.get(profile_arn)
        if body is None:
            wire = self._wire
            if profile_arn:
                wire = {**wire, "profileArn": profile_arn}
            else:
                wire = {k: v for k, v in wire.items() if k != "profileArn"}
            body = self._cache[profile_arn] = orjson.dumps(wire)
        return body


_ESTIMATOR = EstimatingTokenCounter  # cheap on the hot path; /count_tokens uses the default counter


async def answer(
    ctx: Upstreams,
    front: Front,
    req: MessagesRequest,
    model: ResolvedModel,
    *,
    request_id: str,
    request_started: float,
    state: dict[str, object],
) -> Response:
    state["requested_model"] = req.model
    ticket = admission_for(cast("TeamKey | None", state.get("team_key")), req.model, model)
    state["team_ticket"] = ticket  # limits.py: 403 above; the admission rides on the first lease
    offloader, cache = cast(Offloader, state["offloader"]), cast(MediaCache, state["media_cache"])
    req = await prepare_request(req, offloader, cache)  # PDFs and images (media/)
    try:
        conversion = convert_anthropic_request(req, model)
    except ConversionError as exc:
        raise conversion_error(exc) from exc
    if conversion.repairs:
        log.info("request repaired", extra={"request_id": request_id, "repairs": list(conversion.repairs)})
        for rule in conversion.repairs:
            ctx.metrics.repairs.labels(rule).inc()
    options = StreamOptions(
        model=req.model,
        message_id=front.message_id(),
        thinking=conversion.thinking,
        tool_name_map=conversion.tool_name_map,
        stop_sequences=conversion.stop_sequences,
        input_tokens_estimate=count_request_tokens(req, _ESTIMATOR()),
        context_window=model.context_window,
        created=int(time.time()),
    )
    body = KiroBody(conversion.body.to_wire())
    stream = bool(req.stream)
    state["input_estimate"] = options.input_tokens_estimate
    attempt = await open_attempt(
        ctx,
        request_id=request_id,
        model=model.kiro_id,
        body_for=body,
        options=options,
        complete=not stream,
        ticket=ticket,
    )
    state["credential_id"] = attempt.lease.grant.credential_id  # for the request event (accounting.py)
    if stream:
        renderer, ping = front.renderer(options)
        return StreamingAnswer(
            ctx=ctx,
            attempt=attempt,
            renderer=renderer,
            ping=ping,
            route=front.route,
            request_started=request_started,
            state=state,
        )
    await attempt.stream.aclose()
    events = attempt.events
    last = events[-1] if events else None
    if isinstance(last, MessageEnd):
        # off the critical path: the answer does not wait for the broker's acknowledgement
        await finish_call(ctx, attempt.call, Outcome.SUCCESS, end=last, wait=False)
        state["usage"] = last.usage  # what the client is told (accounting.py)
    elif isinstance(last, StreamFailure):
        failure = attempt.failure_of(last)
        await finish_call(ctx, attempt.call, failure.outcome, failure=failure)
        raise failure_error(last)
    try:
        result = front.fold(events, options)
    except StreamFailedError as exc:
        raise failure_error(exc.failure) from exc
    ttft = state["ttft_s"] = time.perf_counter() - request_started
    ctx.metrics.ttft.labels(front.route).observe(ttft)
    if isinstance(last, MessageEnd):
        await record_usage_ahead(state, last.usage)  # durable before the client is told
    return Response(result.model_dump_json().encode(), media_type="application/json")
