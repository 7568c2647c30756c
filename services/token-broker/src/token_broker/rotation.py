"""A rotated refresh token is never lost: it is kept until Redis has stored it.

The upstream forgets the old refresh token the moment it hands out a new one, so a rotation
that reaches the broker but not Redis (Redis down, failing over, restarting) would leave Redis
with a token that no longer works. `RotationKeeper.store` writes the refresh result; when the
write fails and the result carries a rotated refresh token, the write is kept in memory and
retried with back-off until Redis takes it (guarded by the refresh-token fingerprint it
replaces, so it never overwrites a newer one), and the `OAUTH_TOKEN_FILE` mirror, if any,
receives the new token at once, so a copy is on disk while Redis is away. A later refresh of
the same credential on this broker first flushes the kept write instead of calling the
upstream with the dead token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError

from token_broker.mirror import TokenFileMirror
from token_broker.store import CredentialStore, PatchResult
from token_broker.tasks import TaskSet

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.2
RETRY_CAP_S = 5.0


@dataclass(frozen=True, slots=True)
class PendingRotation:
    fields: Mapping[str, str | int]
    replaces_fp: str | None  # the refresh-token fingerprint the rotation replaces
    refresh_token: str  # kept in memory only; never logged


class RotationKeeper:
    def __init__(self, *, store: CredentialStore, mirror: TokenFileMirror | None, tasks: TaskSet) -> None:
        self._store = store
        self._mirror = mirror
        self._tasks = tasks
        self._pending: dict[str, PendingRotation] = {}
        self._flushing: set[str] = set()
        self._locks: dict[str, tuple[str, str]] = {}  # cid -> (refresh lock key, its token)

    def pending(self, cid: str) -> bool:
        return cid in self._pending

    def has_pending(self) -> bool:
        return bool(self._pending)

    def unlock_after(self, cid: str, lock_key: str, token: str) -> None:
        """Release this refresh lock (compare-and-delete) once the kept rotation is stored."""
        self._locks[cid] = (lock_key, token)

    async def store(
        self, cid: str, fields: Mapping[str, str | int], *, rotation: PendingRotation | None
    ) -> PatchResult:
        """Write a refresh result; a rotation that Redis did not take is kept and retried."""
        if rotation is not None:
            self._pending[cid] = rotation  # before the write: a crash of Redis mid-write is covered
        try:
            result = await self._write(cid, rotation, fields)
        except (RedisError, OSError) as exc:
            if rotation is None:
                raise
            log.error(
                "rotated refresh token not stored yet, keeping it and retrying",
                extra={"credential": cid, "error": type(exc).__name__},
            )
            if self._mirror is not None:
                await self._mirror.keep_rotation(cid, rotation.refresh_token)
            self._retry_soon(cid)
            raise
        self._pending.pop(cid, None)
        return result

    async def flush(self, cid: str) -> bool:
        """Try the kept write of `cid` once; True when nothing is pending any more."""
        rotation = self._pending.get(cid)
        if rotation is None:
            return True
        try:
            result = await self._write(cid, rotation, rotation.fields)
        except (RedisError, OSError):
            return False
        if self._pending.get(cid) is rotation:
            del self._pending[cid]
        lock = self._locks.pop(cid, None)
        if lock is not None:
            with contextlib.suppress(RedisError, OSError):  # else the lock expires by its TTL
                await self._store.scripts.run("unlock", [lock[0]], [lock[1]])
        if result.conflict:
            log.warning("a kept rotation was superseded by a newer refresh token", extra={"credential": cid})
        else:
            log.info("rotated refresh token stored after an outage", extra={"credential": cid})
        if self._mirror is not None:
            await self._mirror.write()
        return True

    async def flush_all(self) -> None:
        for cid in list(self._pending):
            await self.flush(cid)

    async def _write(
        self, cid: str, rotation: PendingRotation | None, fields: Mapping[str, str | int]
    ) -> PatchResult:
        return await self._store.patch(
            cid,
            fields,
            revive=True,
            bump_generation=rotation is not None,
            expect_refresh_fp=rotation.replaces_fp if rotation is not None else None,
        )

    def _retry_soon(self, cid: str) -> None:
        if cid in self._flushing:
            return
        self._flushing.add(cid)
        self._tasks.spawn(self._retry(cid), name=f"rotation-{cid}")

    async def _retry(self, cid: str) -> None:
        delay = RETRY_BASE_S
        try:
            while not await self.flush(cid):
                await asyncio.sleep(delay)
                delay = min(RETRY_CAP_S, delay * 2)
        finally:
            self._flushing.discard(cid)
