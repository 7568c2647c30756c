"""The one client of the bus table (`kiroproto.bus`): typed calls, publishes and subscriptions.

`BusClient` connects in the background and keeps reconnecting (a service starts while NATS is
down; `connected` is its readiness), sends `Endpoint[Req, Rep]` requests and answers `Rep`,
and turns every way a round trip can fail into one exception tree, translated here, once:

    BusError                 a round trip without a usable reply
    ├── BusUnavailable       not connected, no responders, timeout, connection closed
    ├── BusRefused           a nats.micro error reply: `code` (ServiceErrorCode), `description`
    └── BusBadReply          the reply does not decode as the endpoint's reply model

Requests carry the W3C trace context of a CLIENT span `kiro.bus <endpoint>` when a tracer is
given (the answering service joins the trace). An optional observer sees every call's
endpoint, latency and error (metrics). Nothing here logs a payload: grants carry access tokens,
credential adds carry refresh tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg as NatsMsg
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ValidationError

from kiro_service.busconn import NatsTlsSettings, connect_nats
from kiroproto.bus import DEFAULT_NAMESPACE, Endpoint, Event, ServiceErrorCode

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
_PROPAGATOR = TraceContextTextMapPropagator()  # stateless


class BusError(Exception):
    """Root of the bus client's errors: a round trip without a usable reply."""


class BusUnavailable(BusError):
    """NATS or the answering service is not there: not connected, no responders, timeout."""


class BusRefused(BusError):
    """The service answered with a nats.micro error (`Nats-Service-Error[-Code]` headers)."""

    def __init__(self, code: ServiceErrorCode, description: str) -> None:
        super().__init__(f"{int(code)} {description}".strip())
        self.code = code
        self.description = description


class BusBadReply(BusError):
    """The reply is not the endpoint's reply model (a version skew or a bug)."""


Observer = Callable[[Endpoint[Any, Any], float, BusError | None], None]
TracerSource = Callable[[], Tracer | None]


def refusal(headers: dict[str, str]) -> BusRefused | None:
    """The typed service error of a reply's headers, or None for a normal reply."""
    if ERROR_HEADER not in headers and ERROR_CODE_HEADER not in headers:
        return None
    try:
        code = ServiceErrorCode(int(headers.get(ERROR_CODE_HEADER, "500")))
    except ValueError:  # a code outside the bus table: the answering side is broken
        code = ServiceErrorCode.INTERNAL
    return BusRefused(code, headers.get(ERROR_HEADER, ""))


@dataclass(frozen=True, slots=True)
class _Subscription(Generic[M]):
    event: Event[M]
    handler: Callable[[M], Awaitable[None]]
    queue: str
    on_malformed: Callable[[], None] | None


class BusClient:
    """One service's NATS connection, used only through the bus table."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        namespace: str = DEFAULT_NAMESPACE,
        observer: Observer | None = None,
        tracer: TracerSource | None = None,
        on_connection: Callable[[bool], None] | None = None,
        tls: NatsTlsSettings | None = None,
    ) -> None:
        self._url = url
        self._service = service  # its reply inbox and NATS user (kiro_service.busconn)
        self.namespace = namespace
        self._observer = observer
        self._tracer = tracer
        self._on_connection = on_connection
        self._tls = tls
        self._nc: NatsClient | None = None
        self._connector: asyncio.Task[None] | None = None
        self._subscriptions: list[_Subscription[Any]] = []
        self._closing = False

    # ---------------------------------------------------------------- connection

    async def start(self, wait_s: float = 2.0) -> None:
        """Start connecting; wait up to `wait_s` for the first connection, never fail."""
        if self._connector is None:
            self._connector = asyncio.create_task(self._connect_loop(), name=f"nats-connect-{self._service}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connector), wait_s)

    async def _connect_loop(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                nc = await connect_nats(self._url, self._service, self, settings=self._tls)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "nats connect failed, retrying", extra={"error": type(exc).__name__, "retry_in_s": delay}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for subscription in self._subscriptions:  # nats-py renews them after a reconnect
                await self._subscribe(nc, subscription)
            self._nc = nc
            self._connection_changed(True)
            log.info("connected to nats")
            return

    def _connection_changed(self, up: bool) -> None:
        if self._on_connection is not None:
            self._on_connection(up)

    async def on_disconnected(self) -> None:
        self._connection_changed(False)
        nc = self._nc
        closing = self._closing or (nc is not None and (nc.is_draining or nc.is_closed))
        log.log(logging.INFO if closing else logging.WARNING, "nats disconnected")

    async def on_reconnected(self) -> None:
        self._connection_changed(True)
        log.info("nats reconnected")

    async def on_closed(self) -> None:
        self._connection_changed(False)

    async def on_error(self, exc: Exception) -> None:
        log.debug("nats error", extra={"error": type(exc).__name__})

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def close(self) -> None:
        """Stop connecting, drain the subscriptions and close."""
        self._closing = True
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.drain()
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.debug("nats drain failed", extra={"error": type(exc).__name__})
                with contextlib.suppress(nats.errors.Error, OSError):
                    await nc.close()
        self._connection_changed(False)

    # ---------------------------------------------------------------- request-reply

    async def call(self, endpoint: Endpoint[Req, Rep], request: Req, *, timeout_s: float) -> Rep:
        """One round trip: the endpoint's reply, or a `BusError`."""
        started = time.perf_counter()
        error: BusError | None = None
        try:
            return endpoint.reply.model_validate_json(await self._round_trip(endpoint, request, timeout_s))
        except ValidationError as exc:
            error = BusBadReply(f"unreadable reply on {endpoint.suffix}")
            raise error from exc
        except BusError as exc:
            error = exc
            raise
        finally:
            if self._observer is not None:
                self._observer(endpoint, time.perf_counter() - started, error)

    async def _round_trip(self, endpoint: Endpoint[Any, Any], request: BaseModel, timeout_s: float) -> bytes:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise BusUnavailable("not connected to NATS")
        tracer = self._tracer() if self._tracer is not None else None
        span = None
        headers: dict[str, str] | None = None
        if tracer is not None:
            span = tracer.start_span(
                f"kiro.bus {endpoint.name}",
                kind=SpanKind.CLIENT,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": endpoint.subject(self.namespace),
                },
            )
            headers = {}
            _PROPAGATOR.inject(headers, context=set_span_in_context(span))
        failure: str | None = "no reply"
        try:
            reply = await nc.request(
                endpoint.subject(self.namespace),
                request.model_dump_json().encode(),
                timeout=timeout_s,
                headers=headers,
            )
            failure = None
        except nats.errors.NoRespondersError as exc:
            raise BusUnavailable(f"nothing answers {endpoint.suffix}") from exc
        except nats.errors.TimeoutError as exc:
            raise BusUnavailable(f"no answer on {endpoint.suffix} within {timeout_s:g}s") from exc
        except (nats.errors.Error, OSError) as exc:
            raise BusUnavailable(f"NATS error on {endpoint.suffix}: {type(exc).__name__}") from exc
        finally:
            if span is not None:
                if failure is not None:
                    span.set_status(Status(StatusCode.ERROR, failure))
                span.end()
        refused = refusal(reply.headers or {})
        if refused is not None:
            raise refused
        return bytes(reply.data)

    # ---------------------------------------------------------------- events

    async def publish(self, event: Event[M], message: M) -> None:
        """Publish an event; `BusUnavailable` when not connected."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise BusUnavailable("not connected to NATS")
        try:
            await nc.publish(event.subject(self.namespace), message.model_dump_json().encode())
        except (nats.errors.Error, OSError) as exc:
            raise BusUnavailable(f"NATS error on {event.suffix}: {type(exc).__name__}") from exc

    async def subscribe(
        self,
        event: Event[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        queue: str = "",
        on_malformed: Callable[[], None] | None = None,
    ) -> None:
        """Deliver `event`'s messages, decoded, to `handler` from now on (also when NATS comes
        later). Malformed messages are dropped (`on_malformed` counts them), never logged."""
        subscription = _Subscription(event, handler, queue, on_malformed)
        self._subscriptions.append(subscription)
        if self._nc is not None:
            await self._subscribe(self._nc, subscription)

    async def _subscribe(self, nc: NatsClient, subscription: _Subscription[Any]) -> None:
        event = subscription.event

        async def deliver(msg: NatsMsg) -> None:
            try:
                message = event.message.model_validate_json(msg.data)
            except ValidationError:
                log.warning("malformed event ignored", extra={"event": event.name})
                if subscription.on_malformed is not None:
                    subscription.on_malformed()
                return
            await subscription.handler(message)

        await nc.subscribe(event.subject(self.namespace), queue=subscription.queue, cb=deliver)


async def call_once(
    url: str,
    endpoint: Endpoint[Req, Rep],
    request: Req,
    *,
    service: str,
    namespace: str = DEFAULT_NAMESPACE,
    timeout_s: float = 10.0,
) -> Rep:
    """One round trip on a connection of its own, as `service` (tools and tests): connect
    (within `timeout_s`), call, close. `BusError` as for `BusClient.call`."""
    client = BusClient(url, service=service, namespace=namespace)
    await client.start(wait_s=timeout_s)
    try:
        return await client.call(endpoint, request, timeout_s=timeout_s)
    finally:
        await client.close()
