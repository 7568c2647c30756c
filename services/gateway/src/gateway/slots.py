"""Concurrency slots this replica holds, handed to its next requests (lease reuse).

The broker grants a lease with `reuse_s` (its `BROKER_LEASE_REUSE`; 0 for a half-open
probe). Until `reuse_s` after the grant, an attempt that ends in success does not release the
lease: the slot goes to the oldest local request waiting for that model, or lingers idle for
`linger_s` for the next one, and only then is released. The broker still counts it against the
credential's cap the whole time (the lease stays in Redis), so the cap holds across replicas;
a slot is never reused past its window, so a credential disabled or cooled down elsewhere stops
getting requests from this replica within `reuse_s`; a failure on a credential ends every slot
of it here at once (the next request goes to the broker, which applies the outcome first).
The final release carries every use (`LeaseRelease.uses`) and the sums of their tokens, so the
credential's counters stay exact; only lease outcomes are batched, never usage records.

Requests of a client session (and a request's later attempts, and team requests while no slot
is idle) ask the broker as before: it keeps a session on its account. Their slots, once free,
serve the other requests here.

Pure bookkeeping on the event loop: no I/O. `release` (given by `Leasing`) sends a final
release in the background.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kiroproto.bus import NO_PENALTY_OUTCOMES, LeaseGrant, LeaseRelease, Outcome

# outcomes that leave the credential's other slots here reusable: the broker's no-penalty set,
# less MODEL_UNAVAILABLE (the account lacks the model, so its slots for that model would fail too)
_NO_FAULT = NO_PENALTY_OUTCOMES - {Outcome.MODEL_UNAVAILABLE}

LINGER_S = 0.01  # an idle slot waits this long for a next request, then is released


@dataclass(slots=True, eq=False)
class HeldSlot:
    """One lease this replica holds: in use by a request, or idle."""

    grant: LeaseGrant
    model: str
    until: float  # monotonic: past this, the slot's next end is its final release
    uses: int = 0  # requests that ended in success under it so far
    input_tokens: int = 0
    output_tokens: int = 0
    credits: float = 0.0
    spoiled: bool = False  # its credential failed: release at the end of the current use
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class Slots:
    """The held slots of one replica, by lease id, and the requests waiting for one."""

    release: Callable[[LeaseRelease], None]
    linger_s: float = LINGER_S
    _held: dict[str, HeldSlot] = field(default_factory=dict)
    _idle: dict[str, deque[HeldSlot]] = field(default_factory=dict)  # by model, oldest first
    _waiters: dict[str, deque[asyncio.Future[LeaseGrant]]] = field(default_factory=dict)  # by model
    _closing: bool = False

    def served(self, grant: LeaseGrant) -> bool:
        """Has this held slot served a request before (is handing it on a reuse)?"""
        slot = self._held.get(grant.lease_id)
        return slot is not None and slot.uses > 0

    # ---- handing slots out
    def adopt(self, grant: LeaseGrant, model: str) -> None:
        """A grant from the broker, now in use by a request: hold it when it may be reused."""
        if grant.reuse_s > 0 and not self._closing:
            self._held[grant.lease_id] = HeldSlot(grant, model, time.monotonic() + grant.reuse_s)

    def take(self, model: str) -> LeaseGrant | None:
        """An idle slot for `model`, the longest idle first."""
        idle = self._idle.get(model)
        if not idle:
            return None
        slot = idle.popleft()
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        return slot.grant

    def wait(self, model: str) -> asyncio.Future[LeaseGrant]:
        """A future that the next free slot for `model` is handed to (oldest waiter first)."""
        future: asyncio.Future[LeaseGrant] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(model, deque()).append(future)
        return future

    def waiting(self, model: str) -> int:
        queue = self._waiters.get(model)
        return sum(1 for f in queue if not f.done()) if queue else 0

    def hand(self, grant: LeaseGrant, model: str) -> None:
        """A grant the broker sent for this replica's waiters: to the oldest one, else a spare
        (idle until `linger_s`; released at once when it may not be reused)."""
        self.adopt(grant, model)
        self.give_back(grant, model)

    def give_back(self, grant: LeaseGrant, model: str) -> None:
        """A free slot that no request uses (a spare, or one handed to a request that could not
        use it: a team over its limits, a client gone): to a waiter, idle, or released."""
        slot = self._held.get(grant.lease_id)
        if slot is not None:
            self._park(slot)
        elif not self._to_waiter(model, grant):
            self.release(spare_release(grant, model))

    def fail_oldest(self, model: str, exc: BaseException) -> None:
        """The broker refused an ask made for this replica's waiters: the oldest one gets it."""
        waiter = self._oldest_waiter(model)
        if waiter is not None:
            waiter.set_exception(exc)

    # ---- the end of a use
    def finish(self, release: LeaseRelease) -> LeaseRelease | None:
        """An attempt under a lease ended. None: the slot is kept for the next request (a success
        inside its window); otherwise the release to send, with every use of the slot folded in."""
        if release.outcome not in _NO_FAULT:
            self._spoil(release.credential_id)  # the broker hears of it first: no more reuse here
        slot = self._held.get(release.lease_id)
        if slot is None:
            return release
        reusable = not slot.spoiled and not self._closing and time.monotonic() < slot.until
        if release.outcome == Outcome.SUCCESS and reusable:
            slot.uses += 1
            slot.input_tokens += release.input_tokens
            slot.output_tokens += release.output_tokens
            slot.credits += release.credits or 0.0
            self._park(slot)
            return None
        del self._held[release.lease_id]
        return release.model_copy(
            update={
                "uses": slot.uses + 1,
                "input_tokens": slot.input_tokens + release.input_tokens,
                "output_tokens": slot.output_tokens + release.output_tokens,
                "credits": (slot.credits + (release.credits or 0.0)) or release.credits,
            }
        )

    def stop_reuse(self) -> None:
        """The pool is full somewhere (a lease request waits at the broker): every held slot goes
        back to the broker, the idle ones now, the others when their request ends."""
        self._spoil(None)

    def close(self) -> None:
        """Shutdown: release every idle slot now; slots in use are released when their use ends."""
        self._closing = True
        for idle in list(self._idle.values()):
            for slot in list(idle):
                self._expire(slot)  # leaves its idle queue

    # ---- internals
    def _park(self, slot: HeldSlot) -> None:
        """Hand a free slot to the oldest waiter for its model, or let it linger idle."""
        if time.monotonic() >= slot.until or slot.spoiled or self._closing:
            self._end(slot)
            return
        if self._to_waiter(slot.model, slot.grant):
            return
        self._idle.setdefault(slot.model, deque()).append(slot)
        slot.timer = asyncio.get_running_loop().call_later(self.linger_s, self._expire, slot)

    def _to_waiter(self, model: str, grant: LeaseGrant) -> bool:
        waiter = self._oldest_waiter(model)
        if waiter is None:
            return False
        waiter.set_result(grant)
        return True

    def _oldest_waiter(self, model: str) -> asyncio.Future[LeaseGrant] | None:
        """The oldest waiter for `model` still waiting, out of the queue (gone ones dropped)."""
        queue = self._waiters.get(model)
        while queue:
            future = queue.popleft()
            if not future.done():
                return future
        return None

    def _expire(self, slot: HeldSlot) -> None:
        """An idle slot nobody took in time (or at shutdown): its final release."""
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None
        idle = self._idle.get(slot.model)
        if idle is not None and slot in idle:
            idle.remove(slot)
        self._end(slot)

    def _end(self, slot: HeldSlot) -> None:
        if self._held.pop(slot.grant.lease_id, None) is None:
            return
        outcome = Outcome.SUCCESS if slot.uses else Outcome.CANCELLED
        self.release(_final(slot, outcome))

    def _spoil(self, credential_id: str | None) -> None:
        """No more reuse of the held slots of `credential_id` (None: of every credential)."""
        for slot in list(self._held.values()):
            if credential_id is None or slot.grant.credential_id == credential_id:
                slot.spoiled = True
                if slot.timer is not None:
                    self._expire(slot)


def spare_release(grant: LeaseGrant, model: str) -> LeaseRelease:
    """The release of a grant that served no request."""
    return LeaseRelease(
        lease_id=grant.lease_id,
        credential_id=grant.credential_id,
        outcome=Outcome.CANCELLED,
        model=model,
        uses=0,
    )


def _final(slot: HeldSlot, outcome: Outcome) -> LeaseRelease:
    """The one release of a held slot that ends while idle: every use and their token sums."""
    return LeaseRelease(
        lease_id=slot.grant.lease_id,
        credential_id=slot.grant.credential_id,
        outcome=outcome,
        model=slot.model,
        uses=slot.uses,
        input_tokens=slot.input_tokens,
        output_tokens=slot.output_tokens,
        credits=slot.credits or None,
    )
