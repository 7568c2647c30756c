"""Leases from the token-broker, and the lease a request holds.

`Leasing` asks for leases through the one bus client (`kiro_service.bus.BusClient`, which owns
the NATS connection and keeps reconnecting, so the gateway starts and answers 529 while NATS or
the broker is away, never hangs) and turns lease replies and bus failures into gateway errors
once: a pool at its cap or a team over its limits → `RateLimited` (429); no credential, NATS
down, broker silent or refusing → `Overloaded` (529/503), always with retry-after.

`Lease` is one granted credential: renewed while a long stream runs, released exactly once with
the attempt's outcome. `LeaseBroker` is what a request's attempts need from `Leasing` (test
fakes implement it). Nothing here logs a grant (it carries the access token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import Overloaded, RateLimited
from gateway.metrics import Metrics
from gateway.slots import Slots, spare_release
from kiro_service.bus import BusBadReply, BusClient, BusError, BusRefused
from kiroproto.bus import (
    BROKER_PING,
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    POOL_EVENTS,
    POOL_STATUS,
    BrokerPing,
    BrokerPong,
    DenialReason,
    LeaseAdmitted,
    LeaseDenied,
    LeaseGrant,
    LeaseRelease,
    LeaseRenew,
    LeaseReply,
    LeaseRequest,
    Outcome,
    PoolEvent,
    PoolStatus,
    PoolStatusRequest,
)

if TYPE_CHECKING:
    from gateway.limits import TeamTicket

log = logging.getLogger(__name__)

BROKER_DOWN_RETRY_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """What one attempt asks the broker for: a credential for `model`, none of `exclude`, waiting
    at most `wait_s`; the team `ticket` on a request's first attempt only (the broker checks the
    team's limits first); `session_id` keeps a client session on its first account."""

    request_id: str
    model: str
    exclude: tuple[str, ...]
    wait_s: float
    ticket: TeamTicket | None = None
    session_id: str | None = None
    first: bool = True  # a request's first attempt may take a slot this replica holds


class LeaseBroker(Protocol):
    """What the attempts of one request need from the broker (`Leasing`; fakes in tests)."""

    async def acquire(self, ask: LeaseAsk) -> LeaseGrant: ...

    async def release(self, release: LeaseRelease) -> None: ...

    async def renew(self, lease_id: str, credential_id: str) -> bool: ...

    async def next_free_in(self, limit_s: float = 1.0) -> float | None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


class Leasing:
    """The gateway's lease calls on the bus (a `LeaseBroker`), plus admissions and the ping."""

    def __init__(self, bus: BusClient, *, bus_timeout: float, metrics: Metrics) -> None:
        self.bus = bus
        self._bus_timeout = bus_timeout
        self._metrics = metrics
        self._background: set[asyncio.Task[Any]] = set()
        self.slots = Slots(release=self._release_later)
        self._asking: dict[str, int] = {}  # asks in flight for this replica's waiters, by model

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run a bus call in the background (after a client went away); tracked for shutdown."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        """Listen for `events_pool`: a full pool ends the reuse of the slots held here."""
        await self.bus.subscribe(POOL_EVENTS, self._on_pool_event)

    async def _on_pool_event(self, _event: PoolEvent) -> None:
        self.slots.stop_reuse()

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Release the idle held slots, then wait (bounded) for the background releases and renewals."""
        self.slots.close()
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout_s)

    async def _ask(self, request: LeaseRequest, timeout_s: float, what: str) -> LeaseReply:
        """One `lease.acquire` round trip; every bus failure is `Overloaded` with retry-after."""
        try:
            return (await self.bus.call(LEASE_ACQUIRE, request, timeout_s=timeout_s)).reply
        except BusError as exc:
            raise Overloaded(_failure(what, exc), retry_after=BROKER_DOWN_RETRY_AFTER) from exc

    async def acquire(self, ask: LeaseAsk) -> LeaseGrant:
        """A lease, or `RateLimited` / `Overloaded` with retry-after. Bounded by wait_s + bus timeout.
        A team `ticket` (first attempt only) has the broker check the team's limits first.

        A first attempt without a client session takes a slot this replica holds when one is
        idle (slots.py); one without a team then waits in this replica's queue for the model:
        the next slot that ends in success here, or the answer to one of the asks that this
        replica keeps in flight at the broker, one per waiting request (the oldest waiter gets
        an answer first)."""
        if ask.first and not ask.exclude and not ask.session_id:
            held = self.slots.take(ask.model)
            if held is not None:
                return await self._reused(held, ask)
            if ask.ticket is None:
                return await self._queued(ask)
        grant = await self._acquire(ask)
        self.slots.adopt(grant, ask.model)
        return grant

    async def _reused(self, grant: LeaseGrant, ask: LeaseAsk) -> LeaseGrant:
        """A held slot for this request; a team request is admitted first (one round trip)."""
        self._metrics.lease_wait.observe(0.0)
        if self.slots.served(grant):
            self._metrics.leases_reused.inc()
        ticket = ask.ticket
        if ticket is None:
            return grant
        request = LeaseRequest(
            request_id=ask.request_id,
            model=ask.model,
            wait_ms=0,
            admission=ticket.admission,
            reused_lease=grant.lease_id,
        )
        try:
            reply = await self._ask(request, self._bus_timeout, "admission")
        except BaseException:
            self.slots.give_back(grant, ask.model)
            raise
        if isinstance(reply, LeaseDenied):
            self.slots.give_back(grant, ask.model)
            ticket.refused(reply)
            raise denial_error(reply)
        if not isinstance(reply, LeaseAdmitted):
            self.slots.give_back(grant, ask.model)
            raise Overloaded("the token broker answered with a lease", retry_after=BROKER_DOWN_RETRY_AFTER)
        ticket.granted(reply.limits)
        return grant

    async def _queued(self, ask: LeaseAsk) -> LeaseGrant:
        """Wait in the replica's queue for `ask.model` (see `acquire`)."""
        waiting = self.slots.wait(ask.model)
        self._keep_asking(ask)
        started = time.monotonic()
        try:
            grant = await waiting
        except BaseException:
            if waiting.done() and not waiting.cancelled() and waiting.exception() is None:
                self.slots.give_back(waiting.result(), ask.model)
            raise
        finally:
            self._metrics.lease_wait.observe(time.monotonic() - started)
        if self.slots.served(grant):
            self._metrics.leases_reused.inc()
        return grant

    def _keep_asking(self, ask: LeaseAsk) -> None:
        """One ask in flight at the broker per request waiting here for the model."""
        model = ask.model
        while self._asking.get(model, 0) < self.slots.waiting(model):
            self._asking[model] = self._asking.get(model, 0) + 1
            self.spawn(self._ask_for_waiters(ask), name="lease-ask")

    async def _ask_for_waiters(self, ask: LeaseAsk) -> None:
        model = ask.model
        try:
            grant = await self._acquire(ask, observe=False)
        except (RateLimited, Overloaded) as exc:
            self.slots.fail_oldest(model, exc)
        except Exception as exc:  # a bug: no waiter may hang on it
            log.exception("lease ask failed")
            self.slots.fail_oldest(model, Overloaded(f"lease ask failed: {type(exc).__name__}"))
        else:
            if grant.reuse_s <= 0 and self._asking[model] > self.slots.waiting(model):
                # more asks than waiters here (a waiter got a held slot instead): a slot of a full
                # pool goes straight back, so that this replica asks no more than its demand
                self._release_later(spare_release(grant, model))
            else:
                self.slots.hand(grant, model)
        finally:
            self._asking[model] -= 1
        self._keep_asking(ask)

    async def _acquire(self, ask: LeaseAsk, *, observe: bool = True) -> LeaseGrant:
        ticket = ask.ticket
        request = LeaseRequest(
            request_id=ask.request_id,
            model=ask.model,
            exclude=ask.exclude,
            wait_ms=int(ask.wait_s * 1000),
            admission=ticket.admission if ticket is not None else None,
            session_id=ask.session_id,
        )
        started = time.monotonic()
        try:
            reply = await self._ask(request, ask.wait_s + self._bus_timeout, "lease")
        finally:
            if observe:
                self._metrics.lease_wait.observe(time.monotonic() - started)
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
        reply = await self._ask(request, self._bus_timeout, "admission")
        if isinstance(reply, LeaseDenied):
            ticket.refused(reply)
            raise denial_error(reply)
        if not isinstance(reply, LeaseAdmitted):
            raise Overloaded("the token broker answered with a lease", retry_after=BROKER_DOWN_RETRY_AFTER)
        ticket.limits = reply.limits

    async def release(self, release: LeaseRelease) -> None:
        """Report an attempt's outcome (or keep its slot for the next request, slots.py). Never
        raises: a lost release expires with the lease TTL."""
        final = self.slots.finish(release)
        if final is not None:
            await self._send_release(final)

    def _release_later(self, release: LeaseRelease) -> None:
        self.spawn(self._send_release(release), name="lease-release")

    async def _send_release(self, release: LeaseRelease) -> None:
        try:
            await self.bus.call(LEASE_RELEASE, release, timeout_s=self._bus_timeout)
        except BusError as exc:
            log.warning(
                "lease release failed; the lease will expire by itself",
                extra={"lease_id": release.lease_id, "error": str(exc)},
            )

    async def renew(self, lease_id: str, credential_id: str) -> bool:
        renew = LeaseRenew(lease_id=lease_id, credential_id=credential_id)
        try:
            return (await self.bus.call(LEASE_RENEW, renew, timeout_s=self._bus_timeout)).ok
        except BusBadReply:
            return True  # answered, so the broker is there and the lease most likely alive
        except BusError as exc:
            log.warning("lease renew failed", extra={"lease_id": lease_id, "error": str(exc)})
            return False

    async def next_free_in(self, limit_s: float = 1.0) -> float | None:
        """Seconds until some account can serve again, from the broker's pool status (None: unknown).
        Used for the client's retry-after once every attempt of a request failed."""
        try:
            pool = await self.bus.call(POOL_STATUS, PoolStatusRequest(), timeout_s=limit_s)
        except BusError:
            return None
        return wait_until_free(pool, time.time())

    async def ping(self, limit_s: float = 1.0) -> BrokerPong | None:
        try:
            return await self.bus.call(BROKER_PING, BrokerPing(), timeout_s=limit_s)
        except BusError:
            return None


def _failure(what: str, exc: BusError) -> str:
    if isinstance(exc, BusRefused):
        return f"the token broker refused the {what}: {exc.description}"
    if isinstance(exc, BusBadReply):
        return f"the token broker sent an unreadable {what} reply"
    return f"credential service unavailable: {exc}"


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

    def __init__(self, broker: LeaseBroker, grant: LeaseGrant) -> None:
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
