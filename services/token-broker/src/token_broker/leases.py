"""Leases: acquire (one Lua call in the common case), wait for a free slot, release, renew.

Choice order inside `acquire.lua` (atomic across replicas): usable credentials only (not
disabled, not invalid, cooldown / quota parking over, not excluded, token usable or
refreshable), under the cap of `SESSION_POOL_MAX_SIZE` unexpired leases (no cap when
`SESSION_POOL_ENABLED=false`); then the LOWEST `priority` number first (default 0), then a
credential whose token needs no blocking refresh, then the fewest leases in flight, then the
least recently used, then the id.

When every usable credential is at its cap (or is a half-open account whose one probe lease is
in flight), the request waits (it retries when any broker publishes a lease release on
`events_lease`, and at least every 250 ms) for up to `wait_ms` or `SESSION_POOL_WAIT`, then is
denied `pool_busy`. Waiting requests come first: they are in the `waiters` set (with the end of
their wait), and a request that has not waited takes no slot while as many requests wait as
there are free slots (it waits too), so a replica whose clients ask again at once cannot take
every freed slot. While the set has a member no grant is reusable (`LeaseGrant.reuse_s`), and
the first waiter publishes `events_pool` so that gateways give back the slots they hold.
When no credential can serve now but the soonest cooldown / refresh backoff
ends within that wait, the request sleeps until then (or the next release) and tries again.
Otherwise it is denied: `not_configured` for an empty pool, else `no_credential` with
`retry_after_s` = time until the soonest cooldown / parking / refresh backoff ends (30 s when
none will end by itself, at most one hour).

Back-off by reason (reference §19.3, applied by release.lua): a throttled account cools for
`BROKER_BACKOFF_FIRST` doubling on repeats up to `SESSION_POOL_COOLDOWN`, never shorter than the
upstream's Retry-After, then takes one probe lease at a time until a success (half-open); quota
parks until the reset (`DAILY_REQUEST_COUNT`: the next UTC day); 429 "suspicious activity" cools
for `BROKER_SUSPICIOUS_COOLDOWN`; a 403 suspension disables; model capacity costs nothing.

Sessions: a lease request with a `session_id` prefers the account that served that session
last (while it is usable and under its cap); `kiro_broker_session_leases_total` counts whether
the session's first account served it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from redis.exceptions import RedisError

from kiroproto.bus import (
    NO_PENALTY_OUTCOMES,
    DenialReason,
    LeaseDenied,
    LeaseGrant,
    LeaseRelease,
    LeaseRenew,
    LeaseRequest,
    Outcome,
)
from kiroproto.upstream import assign_proxy
from token_broker import records as R
from token_broker.catalogue import Catalogues
from token_broker.credential_quota import QuotaChecker, next_month_start_ms
from token_broker.errors import TokenBrokerError
from token_broker.events import EventPublisher
from token_broker.keys import LEASE_KEY_GRACE_MS
from token_broker.kiro_api import api_region
from token_broker.metrics import BrokerMetrics
from token_broker.records import now_ms
from token_broker.refresh import Refresher
from token_broker.settings import Settings
from token_broker.store import CredentialStore

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 5.0
DEFAULT_RETRY_AFTER_S = 30.0
MAX_RETRY_AFTER_S = 3600.0
WAIT_POLL_S = 0.25
COOLDOWN_WAIT_MAX_S = 1.0  # a request waiting for a cooldown looks again at least this often


class _Waiting:
    """A lease request's entry in the `waiters` set while it waits for a full pool (acquire.lua
    makes no grant reusable while the set has a member; an entry ends with its wait)."""

    __slots__ = ("_events", "_member", "_store")

    def __init__(self, store: CredentialStore, events: EventPublisher) -> None:
        self._store = store
        self._events = events
        self._member = ""

    async def begin(self, request_id: str, remaining_s: float) -> None:
        """Enter the set (once); the first waiter of a full pool tells the gateways."""
        if self._member:
            return
        self._member = f"{request_id}:{uuid.uuid4().hex[:8]}"
        until = now_ms() + int(remaining_s * 1000) + 1000
        async with self._store.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._store.keys.waiters, {self._member: until})
            pipe.zcard(self._store.keys.waiters)
            _, waiting = await pipe.execute()
        if int(waiting) == 1:
            await self._events.pool_waiting()

    @property
    def member(self) -> str:
        return self._member

    async def done(self) -> None:
        if self._member:
            member, self._member = self._member, ""
            with contextlib.suppress(RedisError):
                await self._store.redis.zrem(self._store.keys.waiters, member)


class ReleaseWaker:
    """Wakes this broker's waiting lease requests when a lease is released anywhere (fed by the
    `events_lease` subscription): the oldest waiter per released lease, not all of them (each
    woken request runs the acquire script again, and a full pool's every release used to wake
    them all). A waiter woken by an event that then finds no slot (another broker's waiter took
    it, or it cannot use it) passes the wake on once; a wake that arrives while a request is
    trying goes to the next waiter if that request got its slot anyway. The 250 ms poll of the
    waiters is the floor."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: deque[asyncio.Future[bool]] = deque()

    def ticket(self) -> asyncio.Future[bool]:
        """A place in the queue, taken before a try (a release during the try is not lost)."""
        queue = self._queue
        while queue and queue[0].done():
            queue.popleft()
        ticket: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append(ticket)
        return ticket

    def wake(self, count: int = 1, *, event: bool = True) -> None:
        """Wake the `count` oldest waiters (`event`: for a released lease; False: a passed wake)."""
        queue = self._queue
        while count and queue:
            ticket = queue.popleft()
            if not ticket.done():
                ticket.set_result(event)
                count -= 1

    async def wait(self, ticket: asyncio.Future[bool], timeout_s: float) -> bool:
        """Until woken or `timeout_s`; True when woken for a released lease."""
        try:
            return await asyncio.wait_for(asyncio.shield(ticket), timeout=max(0.0, timeout_s))
        except TimeoutError:
            ticket.cancel()
            return False
        except BaseException:  # the request was cancelled: its wake, if any, goes on
            self.leave(ticket)
            raise

    def leave(self, ticket: asyncio.Future[bool]) -> None:
        """A request done with its ticket: a wake it got but did not wait for goes to the next."""
        if not ticket.done():
            ticket.cancel()
        elif not ticket.cancelled() and ticket.result():
            self.wake(1)


@dataclass(slots=True, kw_only=True)
class LeaseManager:
    settings: Settings
    store: CredentialStore
    refresher: Refresher
    events: EventPublisher
    metrics: BrokerMetrics
    usage: QuotaChecker
    catalogues: Catalogues | None = None
    waker: ReleaseWaker = field(default_factory=ReleaseWaker)  # woken by lease events (service.py)
    closing: bool = field(default=False, init=False)  # set at shutdown: waiting requests give up at once
    _ttl_ms: int = field(init=False)
    _cap: int = field(init=False)
    _reuse_max_s: float = field(init=False)

    def __post_init__(self) -> None:
        self._ttl_ms = int(self.settings.broker_lease_ttl * 1000)
        self._cap = self.settings.session_pool_max_size if self.settings.session_pool_enabled else 0
        # a reused slot is never renewed while idle: keep its reuse well inside the lease TTL
        self._reuse_max_s = self.settings.broker_lease_ttl / 4

    # ---- acquire
    async def acquire(self, req: LeaseRequest) -> LeaseGrant | LeaseDenied:
        started = time.monotonic()
        reply = await self._acquire(req, started)
        self.metrics.lease_wait.observe(time.monotonic() - started)
        if isinstance(reply, LeaseGrant):
            self.metrics.leases_granted.inc()
        else:
            self.metrics.leases_denied.labels(reason=reply.reason.value).inc()
        return reply

    async def _acquire(self, req: LeaseRequest, started: float) -> LeaseGrant | LeaseDenied:
        waiting = _Waiting(self.store, self.events)
        try:
            return await self._attempts(req, started, waiting)
        finally:
            await waiting.done()

    async def _attempts(
        self, req: LeaseRequest, started: float, waiting: _Waiting
    ) -> LeaseGrant | LeaseDenied:
        wait_s = req.wait_ms / 1000 if req.wait_ms is not None else self.settings.session_pool_wait
        deadline = started + max(0.0, wait_s)
        exclude = set(req.exclude)
        backoffs: list[int] = []  # refresh backoffs of credentials skipped during this request
        waker = self.waker
        woken = False  # the last wait ended with a released lease
        while True:
            ticket = waker.ticket()
            lease_id = uuid.uuid4().hex
            try:
                result = await self._try(
                    req.request_id, lease_id, exclude, req.model, req.session_id, waiting.member
                )
            except BaseException:
                waker.leave(ticket)
                raise
            kind = result[0]
            if kind == "grant":
                waker.leave(ticket)
                reusable = result[14] == "1"
                grant = await self._grant(result, lease_id, exclude, backoffs, req.model, reusable)
                if grant is not None:
                    if result[13]:
                        self.metrics.session_leases.labels(account=result[13]).inc()
                    return grant
                continue  # the chosen credential could not get a token: try the others
            if woken:
                waker.wake(1, event=False)  # woken for a slot this request could not take: pass it on
            remaining = deadline - time.monotonic()
            if kind == "none":
                now = now_ms()
                cooldown_end = int(result[3])
                if 0 < cooldown_end <= now:
                    waker.leave(ticket)
                    woken = False
                    continue  # it ended since the script looked: try again at once
                soonest = min((t for t in (cooldown_end, *backoffs) if t > now), default=0)
                until_s = (soonest - now) / 1000
                if soonest == 0 or until_s > remaining or self.closing:
                    waker.leave(ticket)
                    return self._deny_none(soonest, int(result[4]))
                # the soonest cooldown or refresh backoff ends within the wait: sleep until then
                # (or a release), then consider again the credentials whose refresh failed
                timeout = min(max(0.0, until_s) + 0.005, COOLDOWN_WAIT_MAX_S)  # shutdown stays quick
                woken = await waker.wait(ticket, timeout)
                exclude = set(req.exclude)
                backoffs.clear()
                continue
            if remaining <= 0 or self.closing:
                waker.leave(ticket)
                return LeaseDenied(
                    reason=DenialReason.POOL_BUSY,
                    message="every usable credential is at its concurrency limit",
                    retry_after_s=BUSY_RETRY_AFTER_S,
                )
            await waiting.begin(req.request_id, remaining)  # grants stop being reusable meanwhile
            woken = await waker.wait(ticket, min(remaining, WAIT_POLL_S))

    def _session_key(self, session_id: str | None) -> str:
        if not session_id:
            return ""
        return self.store.keys.session(hashlib.sha256(session_id.encode()).hexdigest()[:32])

    async def _try(
        self,
        request_id: str,
        lease_id: str,
        exclude: set[str],
        model: str,
        session_id: str | None = None,
        waiter: str = "",
    ) -> list[str]:
        now = now_ms()
        args: list[str | int] = [
            self.store.keys.cred.prefix,
            self.store.keys.leases.prefix,
            self.store.keys.lease.prefix,
            now,
            lease_id,
            request_id,
            self._ttl_ms,
            self._cap,
            self.refresher.margin_ms,
            self.refresher.blocking_ms,
            self.settings.broker_instance_id,
            self._ttl_ms + LEASE_KEY_GRACE_MS,
            model,
            self.store.keys.catalogue.prefix,
            self.store.keys.lacks.prefix,
            self._session_key(session_id),
            int(self.settings.broker_session_ttl * 1000),
            waiter,
            *sorted(exclude),
        ]
        raw = await self.store.scripts.run("acquire", [self.store.keys.creds, self.store.keys.waiters], args)
        result = [x if isinstance(x, str) else str(x) for x in raw]
        purged = int(result[3] if result[0] == "grant" else result[1])
        if purged:
            self.metrics.leases_expired.inc(purged)
        changed = orjson.loads(result[4] if result[0] == "grant" else result[2])
        for cid in changed if isinstance(changed, list) else ():
            await self.events.credential(cid, "active", "cooldown over")
        return result

    async def _grant(
        self,
        result: list[str],
        lease_id: str,
        exclude: set[str],
        backoffs: list[int],
        model: str,
        reusable: bool = False,
    ) -> LeaseGrant | None:
        _, cid, mode, _, _, auth, sealed, token_fp, _expires, arn, region, machine, proxy = result[:13]
        try:
            if mode == "2":
                state, secrets = await self.refresher.ensure_fresh(cid)
                access, token_fp, arn, region = (
                    secrets.access_token or "",
                    state.token_fp or "",
                    state.profile_arn or "",
                    state.region or "",
                )
            else:
                access = self.store.box.open(sealed, cid, R.ACCESS_TOKEN)
                if mode == "1":
                    self.refresher.refresh_soon(cid)
        except TokenBrokerError as exc:
            log.info("credential skipped for this lease", extra={"credential": cid, "reason": str(exc)})
            await self._drop(cid, lease_id)
            exclude.add(cid)
            after = await self.store.state(cid)
            if after is not None and after.refresh_retry_at_ms > now_ms():
                backoffs.append(after.refresh_retry_at_ms)
            return None
        kind = R.parse_auth(auth)
        info = await self.catalogues.entry(cid, model) if self.catalogues and model else None
        return LeaseGrant(
            lease_id=lease_id,
            credential_id=cid,
            auth=kind,
            access_token=access,
            token_fingerprint=token_fp,
            profile_arn=arn or None,
            region=api_region(kind, arn or None, region, self.settings.kiro_region),
            machine_id=machine,
            proxy=assign_proxy(cid, self.settings.proxies, proxy or None),
            lease_ttl_s=self.settings.broker_lease_ttl,
            model_info=info,
            reuse_s=min(self.settings.broker_lease_reuse, self._reuse_max_s) if reusable else 0.0,
        )

    def _deny_none(self, soonest_ms: int, total: int) -> LeaseDenied:
        if total == 0:
            return LeaseDenied(
                reason=DenialReason.NOT_CONFIGURED,
                message="no credential is configured (KIRO_AUTH_TOKEN or the admin API)",
                retry_after_s=DEFAULT_RETRY_AFTER_S,
            )
        retry = DEFAULT_RETRY_AFTER_S
        if soonest_ms > 0:
            retry = min(MAX_RETRY_AFTER_S, max(1.0, (soonest_ms - now_ms()) / 1000))
        return LeaseDenied(
            reason=DenialReason.NO_CREDENTIAL,
            message="no credential can serve: cooling down, parked, invalid, disabled or excluded",
            retry_after_s=round(retry, 3),
        )

    async def _drop(self, cid: str, lease_id: str) -> None:
        keys = [self.store.keys.leases(cid), self.store.keys.lease(lease_id), self.store.keys.cred(cid)]
        await self.store.scripts.run(
            "release", keys, [lease_id, now_ms(), "", 0, "", "", 0, 0, 0, 0, 0, "0", 0, 0, 0]
        )

    # ---- release and renew
    async def release(self, rel: LeaseRelease) -> None:
        now = now_ms()
        cooldowns = self.settings.session_pool_enabled
        after_s = rel.retry_after_s if rel.retry_after_s and rel.retry_after_s > 0 else 0.0
        retry_after_end = now + int(after_s * 1000) if after_s else 0
        failure_until = now + int(self.settings.broker_failure_cooldown * 1000)
        daily = rel.outcome == Outcome.QUOTA_EXHAUSTED and rel.reason == "DAILY_REQUEST_COUNT"
        parking_end = next_day_start_ms(now / 1000) if daily else next_month_start_ms(now / 1000)
        suspicious_end = 0
        if rel.outcome == Outcome.SUSPENDED and rel.status_code == 429 and cooldowns:
            if self.settings.broker_suspicious_cooldown > 0:
                seconds = max(self.settings.broker_suspicious_cooldown, after_s)
                suspicious_end = now + int(seconds * 1000)
        message = f"{rel.outcome.value}: {rel.message}" if rel.message else rel.outcome.value
        if rel.reason:
            message = f"{message} [{rel.reason}]"
        if rel.status_code:
            message = f"{message} (HTTP {rel.status_code})"
        keys = [
            self.store.keys.leases(rel.credential_id),
            self.store.keys.lease(rel.lease_id),
            self.store.keys.cred(rel.credential_id),
        ]
        args: list[str | int] = [
            rel.lease_id,
            now,
            rel.outcome.value,
            retry_after_end,
            rel.token_fingerprint or "",
            message[:300] if rel.outcome not in NO_PENALTY_OUTCOMES else "",
            self.settings.broker_failure_streak,
            failure_until,
            parking_end,
            rel.input_tokens,
            rel.output_tokens,
            "1" if cooldowns else "0",
            int(self.settings.broker_backoff_first * 1000),
            int(self.settings.session_pool_cooldown * 1000),
            suspicious_end,
            rel.uses,
        ]
        removed, old, new, stale, reason = await self.store.scripts.run("release", keys, args)
        self.metrics.leases_released.labels(outcome=rel.outcome.value).inc()
        if rel.uses > 1:
            self.metrics.leases_reused.inc(rel.uses - 1)
        if int(removed):
            await self.events.lease_released(rel.credential_id)
        if old and new and (old != new or reason):
            if new in ("cooling_down", "quota_parked"):
                self.metrics.cooldowns.labels(reason=rel.outcome.value).inc()
            await self.events.credential(rel.credential_id, str(new), str(reason) or None)
        if int(stale):
            log.info("access token marked stale", extra={"credential": rel.credential_id})
            self.refresher.refresh_soon(rel.credential_id)
        if rel.outcome == Outcome.QUOTA_EXHAUSTED and new == "quota_parked" and not daily:
            self.usage.check_later(rel.credential_id)  # the monthly reset date refines the parking
        if rel.outcome == Outcome.MODEL_UNAVAILABLE and rel.model and self.catalogues is not None:
            await self.catalogues.mark_lacking(rel.credential_id, rel.model)

    async def renew(self, ren: LeaseRenew) -> bool:
        now = now_ms()
        keys = [self.store.keys.leases(ren.credential_id), self.store.keys.lease(ren.lease_id)]
        args: list[str | int] = [ren.lease_id, now, now + self._ttl_ms, self._ttl_ms + LEASE_KEY_GRACE_MS]
        return bool(await self.store.scripts.run("renew", keys, args))


def next_day_start_ms(now_s: float) -> int:
    """Daily quota parking (`DAILY_REQUEST_COUNT`): the start of the next UTC day."""
    today = datetime.fromtimestamp(now_s, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today + timedelta(days=1)).timestamp() * 1000)
