"""Configuration is the source of truth for configured accounts (CONTRACTS.md credential schema).

An account that came from `KIRO_AUTH_TOKEN` (record `source = config`) and is no longer named
there is retired: out of rotation (the acquire script skips it), shown as `retired` with the
reason, never deleted, its latest tokens kept. Naming the same identity again restores it.
An unset, empty or unreadable variable retires nothing; accounts added through OAuth or the
admin API are never retired by configuration.

Rolling updates. Brokers of one deployment may run with different configurations for a
while (old and new pods side by side). So that no account flaps between retired and active,
a configuration is applied only when every live broker agrees on it: each broker keeps a
heartbeat in Redis (`config:brokers`, expiry `HEARTBEAT_TTL_MS`) with the hash of the
identities it is configured with (`config:hashes`). A broker applies its configuration at
start and, later, on a heartbeat after which all live brokers that have a configuration
report the same hash and that hash is not the one applied last (`config:applied`). While
old and new brokers overlap nothing is retired or restored; once the last old broker has
stopped (its heartbeat is removed at a clean stop, or expires within `HEARTBEAT_TTL_MS`), the
new configuration applies. An old broker restarting mid-rollout sees the new ones and changes
nothing. Brokers without a configuration take no part.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from token_broker import records as R
from token_broker.events import EventPublisher
from token_broker.keys import RedisKeys
from token_broker.records import now_ms
from token_broker.store import CredentialStore
from token_broker.tasks import TaskSet

log = logging.getLogger(__name__)

HEARTBEAT_S = 3.0
HEARTBEAT_TTL_MS = 10_000
RETIRED_REASON = "removed from KIRO_AUTH_TOKEN"


def config_hash(identities: frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(identities)).encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True, kw_only=True)
class ConfigAuthority:
    redis: Redis
    keys: RedisKeys
    store: CredentialStore
    events: EventPublisher
    instance: str
    configured: frozenset[str] | None
    hash: str = field(init=False)
    _waiting_logged: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.hash = config_hash(self.configured) if self.configured is not None else ""

    async def start(self, tasks: TaskSet) -> None:
        await self.heartbeat()
        await self.apply_if_agreed(at_start=True)
        tasks.spawn(self._loop(), name="config-heartbeat")

    async def stop(self) -> None:
        try:
            await self.redis.zrem(self.keys.config_brokers, self.instance)
            await self.redis.hdel(self.keys.config_hashes, self.instance)
        except RedisError as exc:
            log.warning("configuration heartbeat not removed: %s", type(exc).__name__)

    async def heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.config_brokers, {self.instance: now_ms() + HEARTBEAT_TTL_MS})
            pipe.hset(self.keys.config_hashes, self.instance, self.hash)
            await pipe.execute()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.heartbeat()
                await self.apply_if_agreed()
            except RedisError as exc:
                log.warning("configuration heartbeat failed: %s", type(exc).__name__)

    async def _live_hashes(self) -> dict[str, str]:
        now = now_ms()
        expired = cast("list[str]", await self.redis.zrangebyscore(self.keys.config_brokers, "-inf", now))
        if expired:
            await self.redis.zrem(self.keys.config_brokers, *expired)
            await self.redis.hdel(self.keys.config_hashes, *expired)
        live = cast("list[str]", await self.redis.zrangebyscore(self.keys.config_brokers, now, "+inf"))
        if not live:
            return {}
        hashes = cast("list[str | None]", await self.redis.hmget(self.keys.config_hashes, live))
        return {inst: h or "" for inst, h in zip(live, hashes, strict=True)}

    async def apply_if_agreed(self, *, at_start: bool = False) -> bool:
        """Retire and restore per this broker's configuration if every live broker agrees."""
        if self.configured is None:
            return False
        others = {h for inst, h in (await self._live_hashes()).items() if h and inst != self.instance}
        if others - {self.hash}:
            if not self._waiting_logged:
                self._waiting_logged = True
                log.warning(
                    "brokers with another KIRO_AUTH_TOKEN are running: no account is retired or "
                    "restored until they have stopped (rolling update)",
                    extra={"config_hash": self.hash},
                )
            return False
        applied = await self.redis.get(self.keys.config_applied)
        if not at_start and applied == self.hash:
            return False
        self._waiting_logged = False
        await self._apply(self.configured)
        await self.redis.set(self.keys.config_applied, self.hash)
        return True

    async def _apply(self, configured: frozenset[str]) -> None:
        retired: list[str] = []
        restored: list[str] = []
        for state in await self.store.states():
            named = state.identity in configured or state.id in configured
            if state.source == "config" and not named and not state.retired:
                await self.store.patch(state.id, {R.RETIRED: "1", R.RETIRED_REASON: RETIRED_REASON})
                retired.append(state.id)
                log.warning(
                    "account retired: it came from KIRO_AUTH_TOKEN and is no longer there "
                    "(kept, with its latest token; configure it again to restore it)",
                    extra={"credential": state.id},
                )
                await self.events.credential(state.id, "retired", RETIRED_REASON)
            elif state.retired and named:
                await self.store.patch(state.id, {R.RETIRED: "0", R.RETIRED_REASON: ""})
                restored.append(state.id)
                log.info("account restored: KIRO_AUTH_TOKEN names it again", extra={"credential": state.id})
                await self.events.credential(state.id, state.status.value, "configured again")
        if retired or restored:
            await self.events.catalogue("")  # the set of serving accounts changed
        log.info(
            "configuration applied",
            extra={"config_hash": self.hash, "retired": len(retired), "restored": len(restored)},
        )
