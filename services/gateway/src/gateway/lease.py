"""The token-broker client over NATS request-reply, and the lease a request holds.

`BrokerClient` owns the NATS connection (connects in the background and keeps reconnecting, so
the gateway starts and answers 529 while NATS or the broker is away, never hangs), and turns
bus replies and bus failures into gateway errors once: a pool at its cap → `RateLimited` (429),
no credential / NATS down / broker silent → `Overloaded` (529/503), always with retry-after.

`Lease` is one granted credential: renewed while a long stream runs, released exactly once with
the attempt's outcome. Nothing here logs a grant (it carries the access token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel, ValidationError

from gateway import telemetry
from gateway.errors import Overloaded, RateLimited
from gateway.metrics import Metrics
from kiro_service.busconn import nats_options
from kiroproto.bus import (
    Ack,
    BrokerPing,
    BrokerPong,
    DenialReason,
    LeaseAdmitted,
    LeaseDenied,
    LeaseGrant,
    LeaseRelease,
    LeaseRenew,
    LeaseReplyEnvelope,
    LeaseRequest,
    Outcome,
    PoolStatus,
    PoolStatusRequest,
    Subjects,
)

if TYPE_CHECKING:
    from gateway.limits import TeamTicket

log = logging.getLogger(__name__)

_ERROR_HEADER = "Nats-Service-Error"
_ERROR_CODE_HEADER = "Nats-Service-Error-Code"
BROKER_DOWN_RETRY_AFTER = 2.0


class BusError(Exception):
    """A broker round trip that did not produce a usable reply."""


class BrokerClient:
    def __init__(self, nats_url: str, subjects: Subjects, *, bus_timeout: float, metrics: Metrics) -> None:
        self._url = nats_url
        self.subjects = subjects
        self._bus_timeout = bus_timeout
        self._metrics = metrics
        self._nc: NatsClient | None = None
        self._connector: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False

    # ---------------------------------------------------------------- connection

    async def start(self, first_attempt_timeout: float = 2.0) -> None:
        """Start connecting; wait briefly for the first connection but never fail startup."""
        self._connector = asyncio.create_task(self._connect_loop(), name="nats-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connector), first_attempt_timeout)

    async def _connect_loop(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                self._nc = await nats.connect(
                    self._url,
                    name="kiro-gateway",
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                    error_cb=self._on_error,
                    **nats_options("gateway"),  # its own reply inbox (NATS permissions), TLS
                )
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "nats connect failed, retrying", extra={"error": type(exc).__name__, "retry_in_s": delay}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._metrics.nats_connected.set(1)
            log.info("connected to nats")
            return

    async def _on_disconnected(self) -> None:
        self._metrics.nats_connected.set(0)
        log.warning("nats disconnected")

    async def _on_reconnected(self) -> None:
        self._metrics.nats_connected.set(1)
        log.info("nats reconnected")

    async def _on_closed(self) -> None:
        self._metrics.nats_connected.set(0)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats error", extra={"error": type(exc).__name__})

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def nc(self) -> NatsClient | None:
        """The connection (None until the first connect), for subscriptions of other modules."""
        return self._nc

    async def close(self, drain_timeout: float = 5.0) -> None:
        self._closing = True
        if self._background:
            await asyncio.wait(set(self._background), timeout=drain_timeout)
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._nc.close()
        self._metrics.nats_connected.set(0)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run a bus call in the background (after a client went away); tracked for shutdown."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- round trips

    async def call(self, op: str, subject: str, message: BaseModel, limit_s: float) -> bytes:
        """One round trip for other modules (key lookups, usage): BusError / BrokerServiceError."""
        return await self._request(op, subject, message, limit_s)

    async def _request(self, op: str, subject: str, message: BaseModel, limit_s: float) -> bytes:
        nc = self._nc
        if nc is None or not nc.is_connected:
            self._metrics.bus_errors.labels(op).inc()
            raise BusError("not connected to NATS")
        span = telemetry.bus_span(op, subject)  # None unless tracing is on
        started = time.perf_counter()
        reply = None
        try:
            data = message.model_dump_json().encode()
            reply = await nc.request(subject, data, timeout=limit_s, headers=telemetry.trace_headers(span))
        except nats.errors.NoRespondersError as exc:
            self._metrics.bus_errors.labels(op).inc()
            raise BusError("no token broker is running") from exc
        except nats.errors.TimeoutError as exc:
            self._metrics.bus_errors.labels(op).inc()
            raise BusError(f"the token broker did not answer within {limit_s:g}s") from exc
        except (nats.errors.Error, OSError) as exc:
            self._metrics.bus_errors.labels(op).inc()
            raise BusError(f"NATS error: {type(exc).__name__}") from exc
        finally:
            self._metrics.nats_request_duration.labels(op).observe(time.perf_counter() - started)
            telemetry.end_span(span, error=None if reply is not None else "no reply")
        headers = reply.headers or {}
        if _ERROR_CODE_HEADER in headers or _ERROR_HEADER in headers:
            self._metrics.bus_errors.labels(op).inc()
            raise BrokerServiceError(headers.get(_ERROR_CODE_HEADER, ""), headers.get(_ERROR_HEADER, ""))
        return bytes(reply.data)

    async def acquire(
        self,
        request_id: str,
        model: str,
        exclude: tuple[str, ...],
        wait_s: float,
        ticket: TeamTicket | None = None,
        session_id: str | None = None,
    ) -> LeaseGrant:
        """A lease, or `RateLimited` / `Overloaded` with retry-after. Bounded by wait_s + bus timeout.
        A team `ticket` (first attempt only) has the broker check the team's limits first."""
        request = LeaseRequest(
            request_id=request_id,
            model=model,
            exclude=exclude,
            wait_ms=int(wait_s * 1000),
            admission=ticket.admission if ticket is not None else None,
            session_id=session_id,
        )
        started = time.monotonic()
        try:
            data = await self._request(
                "acquire", self.subjects.lease_acquire, request, wait_s + self._bus_timeout
            )
            envelope = LeaseReplyEnvelope.model_validate_json(data)
        except BrokerServiceError as exc:
            if exc.code == "429":
                raise RateLimited(f"no credential free: {exc.description}", retry_after=1.0) from exc
            raise Overloaded(
                f"the token broker refused the lease: {exc.description}", retry_after=BROKER_DOWN_RETRY_AFTER
            ) from exc
        except BusError as exc:
            raise Overloaded(
                f"credential service unavailable: {exc}", retry_after=BROKER_DOWN_RETRY_AFTER
            ) from exc
        except ValidationError as exc:
            raise Overloaded(
                "the token broker sent an unreadable lease reply", retry_after=BROKER_DOWN_RETRY_AFTER
            ) from exc
        finally:
            self._metrics.lease_wait.observe(time.monotonic() - started)
        reply = envelope.reply
        if isinstance(reply, LeaseAdmitted):  # only an `admission_only` request is answered so
            raise Overloaded("the token broker sent no lease", retry_after=BROKER_DOWN_RETRY_AFTER)
        if isinstance(reply, LeaseDenied):
            if ticket is not None:
                ticket.refused(reply)
            raise denial_error(reply)
        if ticket is not None:
            ticket.granted(reply.limits)
        return reply

    async def admit(self, request_id: str, ticket: TeamTicket) -> None:
        """A team request that needs no lease (count_tokens): count it in the team's request
        rate, or `RateLimited` with retry-after when that is full (the counters go to the ticket)."""
        request = LeaseRequest(
            request_id=request_id, model="", wait_ms=0, admission=ticket.admission, admission_only=True
        )
        try:
            data = await self._request("admit", self.subjects.lease_acquire, request, self._bus_timeout)
            reply = LeaseReplyEnvelope.model_validate_json(data).reply
        except BrokerServiceError as exc:
            raise Overloaded(
                f"the token broker refused the admission: {exc.description}",
                retry_after=BROKER_DOWN_RETRY_AFTER,
            ) from exc
        except BusError as exc:
            raise Overloaded(
                f"credential service unavailable: {exc}", retry_after=BROKER_DOWN_RETRY_AFTER
            ) from exc
        except ValidationError as exc:
            raise Overloaded(
                "the token broker sent an unreadable admission reply", retry_after=BROKER_DOWN_RETRY_AFTER
            ) from exc
        if isinstance(reply, LeaseDenied):
            ticket.refused(reply)
            raise denial_error(reply)
        if not isinstance(reply, LeaseAdmitted):
            raise Overloaded("the token broker answered with a lease", retry_after=BROKER_DOWN_RETRY_AFTER)
        ticket.limits = reply.limits

    async def release(self, release: LeaseRelease) -> None:
        """Report an attempt's outcome. Never raises: a lost release expires with the lease TTL."""
        try:
            await self._request("release", self.subjects.lease_release, release, self._bus_timeout)
        except (BusError, BrokerServiceError) as exc:
            log.warning(
                "lease release failed; the lease will expire by itself",
                extra={"lease_id": release.lease_id, "error": str(exc)},
            )

    async def renew(self, lease_id: str, credential_id: str) -> bool:
        try:
            data = await self._request(
                "renew",
                self.subjects.lease_renew,
                LeaseRenew(lease_id=lease_id, credential_id=credential_id),
                self._bus_timeout,
            )
        except (BusError, BrokerServiceError) as exc:
            log.warning("lease renew failed", extra={"lease_id": lease_id, "error": str(exc)})
            return False
        try:
            return Ack.model_validate_json(data).ok if data else True
        except ValidationError:
            return True

    async def next_free_in(self, limit_s: float = 1.0) -> float | None:
        """Seconds until some account can serve again, from the broker's pool status (None: unknown).
        Used for the client's retry-after once every attempt of a request failed."""
        try:
            data = await self._request("status", self.subjects.pool_status, PoolStatusRequest(), limit_s)
            return wait_until_free(PoolStatus.model_validate_json(data), time.time())
        except (BusError, BrokerServiceError, ValidationError):
            return None

    async def ping(self, limit_s: float = 1.0) -> BrokerPong | None:
        try:
            data = await self._request("ping", self.subjects.broker_ping, BrokerPing(), limit_s)
            return BrokerPong.model_validate_json(data)
        except (BusError, BrokerServiceError, ValidationError):
            return None


class BrokerServiceError(Exception):
    """A nats.micro error reply (`Nats-Service-Error-Code` / `Nats-Service-Error` headers)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code} {description}".strip())
        self.code = code
        self.description = description


_SERVING = frozenset({"active", "refreshing"})
_WAITING = frozenset({"cooling_down", "quota_parked"})


def wait_until_free(pool: PoolStatus, now: float) -> float | None:
    """The real wait until an account can serve: 0 when one is serving now, else the soonest end
    of a cooldown or parking; None when nothing ends by itself (disabled, invalid, empty)."""
    ends: list[float] = []
    for cred in pool.credentials:
        if cred.status in _SERVING:
            return 0.0
        if cred.status in _WAITING and cred.status_until is not None:
            ends.append(max(0.0, cred.status_until - now))
    return min(ends) if ends else None


def denial_error(denied: LeaseDenied) -> RateLimited | Overloaded:
    retry_after = max(1.0, denied.retry_after_s)
    if denied.reason in (DenialReason.TEAM_RATE_LIMITED, DenialReason.TEAM_BUDGET):
        return RateLimited(denied.message, retry_after=retry_after)
    if denied.reason == DenialReason.POOL_BUSY:
        return RateLimited(f"all credentials are busy: {denied.message}", retry_after=retry_after)
    return Overloaded(f"no credential can serve this request now: {denied.message}", retry_after=retry_after)


class Lease:
    """One granted credential for one upstream attempt."""

    __slots__ = ("_broker", "_released", "_renewing", "grant", "renew_at")

    def __init__(self, broker: BrokerClient, grant: LeaseGrant) -> None:
        self._broker = broker
        self.grant = grant
        self._released = False
        self._renewing = False
        self.renew_at = time.monotonic() + max(0.5, grant.lease_ttl_s / 3)

    @property
    def released(self) -> bool:
        return self._released

    def maybe_renew(self, now: float) -> None:
        """Called from the stream loop; renews in the background a third into the TTL."""
        if self._released or self._renewing or now < self.renew_at:
            return
        self._renewing = True
        self._broker.spawn(self._renew(), name="lease-renew")

    async def _renew(self) -> None:
        try:
            await self._broker.renew(self.grant.lease_id, self.grant.credential_id)
        finally:
            self._renewing = False
            self.renew_at = time.monotonic() + max(0.5, self.grant.lease_ttl_s / 3)

    def _message(self, outcome: Outcome, **fields: Any) -> LeaseRelease:
        return LeaseRelease(
            lease_id=self.grant.lease_id, credential_id=self.grant.credential_id, outcome=outcome, **fields
        )

    async def release(self, outcome: Outcome, **fields: Any) -> None:
        if self._released:
            return
        self._released = True
        await self._broker.release(self._message(outcome, **fields))

    def release_soon(self, outcome: Outcome, **fields: Any) -> None:
        """Release without waiting (the caller is being cancelled)."""
        if self._released:
            return
        self._released = True
        self._broker.spawn(self._broker.release(self._message(outcome, **fields)), name="lease-release")
