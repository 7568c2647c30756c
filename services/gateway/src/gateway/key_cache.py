"""Client keys: the operator key (`KIRO_CLIENT_TOKEN`, unlimited) or a team key.

A team key (`sk-kiro-...`) is looked up by its SHA-256 over the bus (`key.lookup`, answered by
the broker from Redis, where only the hash is stored) and kept in a small per-process cache:
found keys for `GATEWAY_KEY_CACHE_TTL` (30 s), unknown ones for `GATEWAY_KEY_NEGATIVE_TTL`
(2 s). Every change of a key (update, revoke) is published by the broker on `events_key`;
each replica drops that key from its cache when the event arrives, so a revoked key is refused
everywhere within the bus latency (the TTL bounds it if an event is missed while NATS is
away). Concurrent lookups of one hash share a single bus request.

Anything other than the operator key or a known, live team key is a 401. A lookup that cannot
reach the broker (and finds nothing cached) is a 529/503 with retry-after: the client's key
may be fine.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

from starlette.datastructures import Headers

from gateway.auth import presented_key
from gateway.errors import AuthenticationFailed, Overloaded
from kiro_service.bus import BusClient, BusError
from kiroproto.bus import KEY_EVENTS, KEY_LOOKUP, KeyEvent, KeyLookup, TeamKey

log = logging.getLogger(__name__)

TEAM_KEY_PREFIX = "sk-kiro-"
MAX_ENTRIES = 10_000
LOOKUP_RETRY_AFTER = 2.0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyCache:
    def __init__(self, bus: BusClient, *, ttl_s: float, negative_ttl_s: float, timeout_s: float) -> None:
        self._bus = bus
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._timeout_s = timeout_s
        self._entries: dict[str, tuple[float, TeamKey | None]] = {}  # hash -> (expires, key)
        self._pending: dict[str, asyncio.Future[TeamKey | None]] = {}

    async def start(self) -> None:
        """Follow `events_key` (subscribed before the first lookup can be sent)."""
        await self._bus.subscribe(KEY_EVENTS, self._on_event)

    async def get(self, digest: str) -> TeamKey | None:
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        pending = self._pending.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TeamKey | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            key = await self._lookup(digest)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        else:
            future.set_result(key)
        finally:
            del self._pending[digest]
        return key

    async def _lookup(self, digest: str) -> TeamKey | None:
        try:
            reply = await self._bus.call(KEY_LOOKUP, KeyLookup(key_hash=digest), timeout_s=self._timeout_s)
        except BusError as exc:
            raise Overloaded(
                f"the API key cannot be verified now: {exc}", retry_after=LOOKUP_RETRY_AFTER
            ) from exc
        key = reply.key
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        ttl = self._ttl_s if key is not None else self._negative_ttl_s
        self._entries[digest] = (time.monotonic() + ttl, key)
        return key

    async def _on_event(self, event: KeyEvent) -> None:
        self.forget(event.key_id)

    def forget(self, key_id: str) -> None:
        stale = [h for h, (_, key) in self._entries.items() if key is not None and key.id == key_id]
        for digest in stale:
            del self._entries[digest]


async def authenticate(headers: Headers, operator_key: bytes, cache: KeyCache) -> TeamKey | None:
    """None for the operator key, the record of a live team key, or AuthenticationFailed."""
    key = presented_key(headers)
    if key is None:
        raise AuthenticationFailed("missing API key: send it as x-api-key or Authorization: Bearer")
    if hmac.compare_digest(key.encode("utf-8"), operator_key):
        return None
    if not key.startswith(TEAM_KEY_PREFIX):
        raise AuthenticationFailed("invalid API key")
    record = await cache.get(key_hash(key))
    if record is None:
        raise AuthenticationFailed("invalid API key")
    if record.revoked_at is not None:
        raise AuthenticationFailed("this API key has been revoked")
    if record.expires_at is not None and record.expires_at <= time.time():
        raise AuthenticationFailed("this API key has expired")
    return record
