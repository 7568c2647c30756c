"""The streaming answer to the client: an ASGI response that forwards rendered events as they
arrive, pings during upstream silence, renews the lease, and reacts to a client disconnect at
once (cancel the upstream read, close the upstream connection, release the lease).

Its status is always 200: everything that could fail over already happened in failover.py.
Failures after the first byte are rendered in-stream by kiroproto's renderers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import telemetry
from gateway.failover import Attempt, Upstreams, finish_call
from gateway.record import RequestRecord
from gateway.upstream import Failure, UpstreamFailure
from gateway.usage import UsageReporter
from kiroproto.bus import Outcome
from kiroproto.stream.events import BlockDelta, MessageEnd, OutputEvent, StreamFailure

log = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Renderer(Protocol):
    def start(self) -> bytes: ...

    def render_all(self, events: list[OutputEvent]) -> bytes: ...


class StreamingAnswer(Response):
    def __init__(
        self,
        *,
        ctx: Upstreams,
        attempt: Attempt,
        renderer: Renderer,
        ping: Callable[[], bytes],
        record: RequestRecord,
        reporter: UsageReporter,
    ) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self._ctx = ctx
        self._attempt = attempt
        self._renderer = renderer
        self._ping = ping
        self._route = record.route
        self._record = record
        self._reporter = reporter
        self._body_complete = False  # the last body message went out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            *SSE_HEADERS,
            *((k, v) for k, v in self.raw_headers if k not in (b"content-type", b"content-length")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        producer = asyncio.create_task(self._produce(send), name="stream-producer")
        watcher = asyncio.create_task(_until_disconnect(receive), name="disconnect-watcher")
        try:
            done, _ = await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            producer.cancel()
            watcher.cancel()
            raise
        if producer in done:
            watcher.cancel()
            producer.result()
            return
        if self._body_complete:
            # The client read the whole answer and closed while the release was on its way:
            # not a disconnect; let the bookkeeping (release with the outcome, usage) finish.
            await producer
            return
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        self._record.disconnected = True
        self._ctx.metrics.client_disconnects.labels(self._route).inc()

    async def _produce(self, send: Send) -> None:
        ctx, attempt, renderer = self._ctx, self._attempt, self._renderer
        metrics = ctx.metrics
        metrics.streams_active.inc()
        events = attempt.events
        first_content = True
        terminal: OutputEvent | None = None
        transport_failure: Failure | None = None
        span = telemetry.start_span("kiro.stream", {"kiro.route": self._route})  # None unless tracing
        try:
            await send({"type": "http.response.body", "body": renderer.start(), "more_body": True})
            while True:
                if events:
                    if first_content and any(isinstance(e, BlockDelta) for e in events):
                        first_content = False
                        ttft = self._record.ttft_s = self._record.elapsed_s()
                        metrics.ttft.labels(self._route).observe(ttft)
                    if isinstance(events[-1], MessageEnd):
                        # durable before the client sees the final usage (team keys only)
                        await self._reporter.write_ahead(self._record, events[-1].usage)
                    await send(
                        {"type": "http.response.body", "body": renderer.render_all(events), "more_body": True}
                    )
                    metrics.stream_events.labels(self._route).inc(len(events))
                    last = events[-1]
                    if isinstance(last, MessageEnd | StreamFailure):
                        terminal = last
                        break
                try:
                    batch = await attempt.stream.next_batch(ctx.ping_interval)
                except TimeoutError:
                    metrics.pings.inc()
                    attempt.lease.maybe_renew(time.monotonic())
                    await send({"type": "http.response.body", "body": self._ping(), "more_body": True})
                    events = []
                    continue
                except UpstreamFailure as exc:
                    transport_failure = exc.failure
                    events = [StreamFailure("api_error", exc.failure.message, 502)]
                    continue
                attempt.lease.maybe_renew(time.monotonic())
                events = attempt.assembler.finish() if batch is None else attempt.absorb(batch)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self._body_complete = True
            if isinstance(terminal, MessageEnd):
                self._record.usage = terminal.usage  # what the client was told
                await attempt.stream.close_after_end()  # over upstream before its lease serves again
                await finish_call(ctx, attempt.call, Outcome.SUCCESS, end=terminal)
            else:
                assert isinstance(terminal, StreamFailure)
                self._record.stream_failed = True
                failure = transport_failure or attempt.failure_of(terminal)
                await finish_call(ctx, attempt.call, failure.outcome, failure=failure)
        except asyncio.CancelledError:
            await finish_call(ctx, attempt.call, Outcome.CANCELLED, wait=False)
            raise
        except Exception:
            await finish_call(
                ctx,
                attempt.call,
                Outcome.SERVER_ERROR,
                wait=False,
                failure=Failure(Outcome.SERVER_ERROR, False, "gateway error while streaming"),
            )
            raise
        finally:
            metrics.streams_active.dec()
            telemetry.end_span(span, error="stream failed" if self._record.stream_failed else None)
            await attempt.stream.aclose()


async def _until_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
