"""Attempts of one client request: lease → upstream → first output, with failover by class.

Failover happens only before the first byte goes to the client (kiro-protocol.md §8.3,
CONTRACTS.md "Mid-stream"): an HTTP error, a network error, a malformed stream or an upstream
exception before any content releases the lease with that attempt's outcome and tries again:

- token_invalid (403 bearer invalid): the broker refreshes; the same credential may come back
  once, a second bearer failure excludes it;
- throttled (account speed): not excluded; the broker's back-off keeps it out until it ends (never
  before the upstream's Retry-After) and then lets one probe through, so a request may wait for
  the soonest cooldown (up to `SESSION_POOL_WAIT`) instead of failing at once;
- model_capacity (the model is short for everyone, reference §19.3): no penalty, a short pause
  and `CAPACITY_RETRIES` more tries at most, then 529/503;
- server_error / network_error / quota_exhausted / suspended / model_unavailable: the credential
  is excluded for this request (the broker applies cooldown, parking, disabling);
- a 400 from the upstream: no retry, a clear client 400 (context overflow → "prompt is too long"),
  except `THINKING_SIGNATURE_INVALID` (§19.3): one more attempt, on the same account, with the
  body rebuilt without history reasoning (it goes through the same body path and upstream size
  check again, so a too-long retry is still "prompt is too long").

At most `max_attempts` upstream calls in total (capacity retries included); when none succeeds
the client gets 529/503 with retry-after: the broker's real time until an account can serve
again (never a 500, never a flat guess when the broker knows). Streaming requests commit once
the first output event exists (or the upstream stayed silent for a ping interval); non-streaming
ones read the whole answer first, so they can fail over at any point.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway import telemetry
from gateway.errors import InvalidRequest, Overloaded
from gateway.leasing import Lease, LeaseAsk, LeaseBroker
from gateway.limits import TeamTicket
from gateway.metrics import Metrics
from gateway.record import RequestRecord
from gateway.upstream import Failure, UpstreamClient, UpstreamFailure, classify_exception
from gateway.upstream_read import UpstreamStream
from gateway.websearch import SearchRun
from kiroproto.bus import LeaseGrant, Outcome
from kiroproto.stream.assembler import ResponseAssembler
from kiroproto.stream.events import MessageEnd, OutputEvent, StreamFailure
from kiroproto.stream.kiro_events import KiroEvent, UpstreamException
from kiroproto.stream.options import StreamOptions

log = logging.getLogger(__name__)

CAPACITY_RETRIES = 2  # model short of capacity: this many more tries, then 529/503
CAPACITY_PAUSE_S = 0.5  # pause before a capacity retry (doubling), at most CAPACITY_MAX_PAUSE_S
CAPACITY_MAX_PAUSE_S = 2.0
CAPACITY_RETRY_AFTER_S = 2.0  # the client's retry-after when the upstream gave none


@dataclass(frozen=True, slots=True)
class Upstreams:
    """What a request needs to reach Kiro (built once in the lifespan)."""

    broker: LeaseBroker
    upstream: UpstreamClient
    metrics: Metrics
    max_attempts: int
    lease_wait: float
    ping_interval: float


@dataclass(frozen=True, slots=True)
class Call:
    """One upstream call under one lease (for the log line, metrics and the release)."""

    lease: Lease
    model: str
    request_id: str
    started: float
    attempt_no: int


@dataclass(slots=True)
class Attempt:
    """An upstream answer that is being (or has been) read, and the lease it holds."""

    call: Call
    stream: UpstreamStream
    assembler: ResponseAssembler
    events: list[OutputEvent] = field(default_factory=list)
    hint: Failure | None = None  # class of the last upstream exception seen
    lead: int = 0  # events in front of the model's (a web search's blocks)

    @property
    def lease(self) -> Lease:
        return self.call.lease

    def absorb(self, batch: list[KiroEvent]) -> list[OutputEvent]:
        out: list[OutputEvent] = []
        for event in batch:
            if isinstance(event, UpstreamException):
                self.hint = classify_exception(event.exception_type, event.message, event.reason)
            out.extend(self.assembler.feed(event))
        return out

    def failure_of(self, failure: StreamFailure) -> Failure:
        """The failure class behind a StreamFailure (the upstream exception's, else a server error)."""
        if self.hint is not None:
            return self.hint
        return Failure(Outcome.SERVER_ERROR, True, failure.message)


async def finish_call(
    ctx: Upstreams,
    call: Call,
    outcome: Outcome,
    *,
    wait: bool = True,
    failure: Failure | None = None,
    end: MessageEnd | None = None,
) -> None:
    """Log the upstream call, record metrics, release the lease with the outcome (once)."""
    elapsed = time.monotonic() - call.started
    ctx.metrics.upstream_duration.labels(outcome.value).observe(elapsed)
    if outcome not in (Outcome.SUCCESS, Outcome.CANCELLED):
        ctx.metrics.upstream_failures.labels(outcome.value).inc()
    grant = call.lease.grant
    # a success is in the request's access-log line (credential, attempts); failures are events
    log.log(
        logging.DEBUG if outcome == Outcome.SUCCESS else logging.INFO,
        "upstream call",
        extra={
            "request_id": call.request_id,
            "credential_id": grant.credential_id,
            "model": call.model,
            "attempt": call.attempt_no,
            "outcome": outcome.value,
            "status": failure.status_code if failure else (200 if outcome == Outcome.SUCCESS else None),
            "duration_ms": round(elapsed * 1000, 2),
            "error": failure.message if failure else None,
        },
    )
    fields: dict[str, object] = {"model": call.model}
    if failure is not None:
        fields.update(
            status_code=failure.status_code,
            retry_after_s=failure.retry_after_s,
            message=failure.message,
            reason=failure.reason,
        )
        if outcome == Outcome.TOKEN_INVALID:
            fields["token_fingerprint"] = grant.token_fingerprint
    if end is not None and end.truncated:
        ctx.metrics.truncated_answers.labels(call.model).inc()
        log.warning(
            "upstream answer truncated",
            extra={
                "request_id": call.request_id,
                "credential_id": grant.credential_id,
                "model": call.model,
                "detail": "the stream ended without its trailer; answered as max_tokens",
            },
        )
    if end is not None:
        fields.update(
            input_tokens=end.usage.prompt_tokens,
            output_tokens=end.usage.output_tokens,
            credits=end.usage.credits,
        )
    if wait:
        await call.lease.release(outcome, **fields)
    else:
        call.lease.release_soon(outcome, **fields)


async def open_attempt(
    ctx: Upstreams,
    *,
    request_id: str,
    model: str,
    body_for: Callable[[LeaseGrant, bool], bytes],
    options: StreamOptions,
    complete: bool,
    ticket: TeamTicket | None = None,
    search: SearchRun | None = None,
    session_id: str | None = None,
    record: RequestRecord | None = None,
) -> Attempt:
    """Acquire, call, and read up to the first output (streaming) or to the end (complete).
    A team `ticket` rides on the first lease request (the broker checks the team's limits);
    `session_id` lets the broker keep the client's session on its account. The time spent
    waiting for leases and the attempts add up in the request's `record`.
    A web `search` runs once, under the first lease, before its chat call (websearch.py); its
    blocks lead the attempt's events."""
    exclude: list[str] = []
    bearer_failed: set[str] = set()
    strip_reasoning = False  # after THINKING_SIGNATURE_INVALID: once more, without history reasoning
    last: Failure | None = None
    capacity_tries = 0
    for attempt_no in range(1, ctx.max_attempts + 1):
        waited = time.monotonic()
        try:
            first = attempt_no == 1
            ask = LeaseAsk(
                request_id,
                model,
                tuple(exclude),
                ctx.lease_wait,
                ticket if first else None,
                session_id,
                first=first,
            )
            grant = await ctx.broker.acquire(ask)
        except Overloaded as exc:
            if not exclude:
                raise
            # the broker's retry-after left out the accounts this request excluded; a retry of
            # the client may use them: tell the real wait of the whole pool
            free_in = await ctx.broker.next_free_in()
            if free_in is None:
                raise
            raise Overloaded(exc.message, retry_after=max(1.0, free_in)) from exc
        finally:
            if record is not None:
                record.waited(time.monotonic() - waited)
                record.attempts = attempt_no
        call = Call(Lease(ctx.broker, grant), model, request_id, time.monotonic(), attempt_no)
        stream: UpstreamStream | None = None
        span = telemetry.attempt_span(attempt_no, grant.credential_id, model)  # None unless tracing
        try:
            try:
                if search is not None:
                    await search.run(ctx.upstream, ctx.metrics, grant)
                response = await ctx.upstream.open_chat(grant, body_for(grant, strip_reasoning))
                stream = UpstreamStream(response, ctx.upstream.header_cache)
                served = served_options(options, grant)
                if search is None:
                    attempt = Attempt(call, stream, ResponseAssembler(served))
                else:
                    lead = search.events()
                    attempt = Attempt(call, stream, search.assembler(served), lead, lead=len(lead))
                await _prime(ctx, attempt, complete=complete)
                telemetry.end_attempt(span, 200, None)
                return attempt
            except UpstreamFailure as exc:
                failure = exc.failure
                telemetry.end_attempt(span, failure.status_code, failure.outcome.value)
                if stream is not None:
                    await stream.aclose()
                    stream = None
                await finish_call(ctx, call, failure.outcome, failure=failure)
        except BaseException:
            telemetry.end_attempt(span, None, Outcome.CANCELLED.value)
            if stream is not None:
                await stream.aclose()
            call.lease.release_soon(Outcome.CANCELLED, model=model)
            raise
        if failure.signature_invalid and not strip_reasoning:
            strip_reasoning = True  # §19.3: retry once without history reasoning (same account)
            log.info(
                "thinking signature rejected; retrying without history reasoning",
                extra={"request_id": request_id},
            )
            ctx.metrics.failovers.labels(failure.outcome.value).inc()
            last = failure
            continue
        if not failure.retry:
            raise failure.client_error or InvalidRequest(failure.message)
        last = failure
        ctx.metrics.failovers.labels(failure.outcome.value).inc()
        if failure.outcome == Outcome.MODEL_CAPACITY:
            capacity_tries += 1
            upstream_after = failure.retry_after_s or 0.0
            if (
                capacity_tries > CAPACITY_RETRIES
                or attempt_no == ctx.max_attempts
                or upstream_after > CAPACITY_MAX_PAUSE_S
            ):
                raise Overloaded(
                    f"the model is short of capacity upstream: {failure.message}",
                    retry_after=upstream_after or CAPACITY_RETRY_AFTER_S,
                )
            await asyncio.sleep(max(upstream_after, CAPACITY_PAUSE_S * 2 ** (capacity_tries - 1)))
        elif failure.outcome == Outcome.THROTTLED:
            pass  # the broker's back-off decides when this account may be tried again
        elif failure.outcome == Outcome.TOKEN_INVALID and grant.credential_id not in bearer_failed:
            bearer_failed.add(grant.credential_id)  # the broker refreshes; one more try with it
        elif grant.credential_id not in exclude:
            exclude.append(grant.credential_id)
    assert last is not None
    free_in = await ctx.broker.next_free_in()
    raise Overloaded(
        f"no upstream attempt succeeded ({ctx.max_attempts} tried; last: {last.message})",
        retry_after=max(1.0, free_in if free_in is not None else (last.retry_after_s or 1.0)),
    )


def served_options(options: StreamOptions, grant: LeaseGrant) -> StreamOptions:
    """The final usage counts with the serving account's context window (its catalogue entry)."""
    info = grant.model_info
    if info is None or not info.context_window or info.context_window == options.context_window:
        return options
    return replace(options, context_window=info.context_window)


async def _prime(ctx: Upstreams, attempt: Attempt, *, complete: bool) -> None:
    """Read until there is output to send (or to the end, when `complete`). Raise UpstreamFailure
    for anything that fails before content, so that the caller can fail over."""
    events = attempt.events
    deadline = time.monotonic() + ctx.ping_interval
    while True:
        timeout = ctx.ping_interval if complete else max(0.001, deadline - time.monotonic())
        try:
            batch = await attempt.stream.next_batch(timeout)
        except TimeoutError:
            attempt.lease.maybe_renew(time.monotonic())
            if complete:
                continue
            return  # upstream silent for a ping interval: commit; pings keep the client alive
        if batch is None:
            events.extend(attempt.assembler.finish())
        else:
            events.extend(attempt.absorb(batch))
        last = events[-1] if events else None
        if isinstance(last, StreamFailure):
            if not attempt.assembler.has_content or (complete and attempt.hint is not None):
                raise UpstreamFailure(attempt.failure_of(last))
            return  # content, then a failure: the caller renders it
        if batch is None or attempt.assembler.done or (len(events) > attempt.lead and not complete):
            return
