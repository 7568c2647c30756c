"""`OAUTH_TOKEN_FILE`: a file mirror of every credential (rotated refresh tokens included).

Redis is written first; the mirror follows. The file is rewritten whole and atomically: a
temporary file in the same folder, created with mode 0600, written, fsynced, renamed over
the target, and the folder fsynced. Its content is a JSON array in the `KIRO_AUTH_TOKEN`
schema with each credential's `id`, so it can be fed back as `KIRO_AUTH_TOKEN` and every
entry keeps its identity. Concurrent requests in one broker are coalesced; several
replicas each write a complete snapshot read from Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from token_broker.store import CredentialStore

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> None:
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"  # unique across replicas
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class TokenFileMirror:
    def __init__(self, path: Path, store: CredentialStore) -> None:
        self.path = path
        self._store = store
        self._lock = asyncio.Lock()
        self._dirty = False

    async def write(self) -> None:
        """Mirror the current pool; a call made during a write triggers one more write."""
        self._dirty = True
        if self._lock.locked():
            return
        async with self._lock:
            while self._dirty:
                self._dirty = False
                try:
                    creds = await self._store.export_all()
                    data = orjson.dumps(creds, option=orjson.OPT_INDENT_2)
                    await asyncio.to_thread(write_atomic, self.path, data)
                except Exception as exc:  # the mirror never breaks a refresh: Redis has the state
                    log.error("OAUTH_TOKEN_FILE not written: %s", exc)
                    return
                log.info("credentials mirrored", extra={"path": str(self.path), "count": len(creds)})

    async def keep_rotation(self, cid: str, refresh_token: str) -> None:
        """Put a rotated refresh token into the file while Redis cannot take it (the file then
        holds the only durable copy). The next full `write` replaces the entry from Redis."""
        async with self._lock:
            try:
                await asyncio.to_thread(_replace_refresh_token, self.path, cid, refresh_token)
            except (OSError, ValueError) as exc:
                log.error("OAUTH_TOKEN_FILE not updated with a rotated token: %s", type(exc).__name__)
                return
        log.info("rotated refresh token kept in OAUTH_TOKEN_FILE", extra={"credential": cid})


def _replace_refresh_token(path: Path, cid: str, refresh_token: str) -> None:
    entries = orjson.loads(path.read_bytes()) if path.exists() else []
    if not isinstance(entries, list):
        raise ValueError("the token file is not a JSON array")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == cid:
            entry["refreshToken"] = refresh_token
            break
    else:
        raise ValueError("the credential has no entry in the token file yet")
    write_atomic(path, orjson.dumps(entries, option=orjson.OPT_INDENT_2))
