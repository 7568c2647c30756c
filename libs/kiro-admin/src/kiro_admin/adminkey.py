"""The admin key when `KIRO_ADMIN_TOKEN` is unset (CONTRACTS.md): generated once, kept in Redis.

`make run` and the all-in-one image generate the key themselves and keep it in their data folder
(mode 0600), so the services always see `KIRO_ADMIN_TOKEN` there. Elsewhere (Compose,
Kubernetes) the first dashboard or oauth process to start generates a random key and stores it
with `SET NX` under `{prefix}:admin:key`, sealed with `KIRO_SECRET_KEY` (`sealer.py`) when one is set;
every replica then reads the same key. The process that created it prints it once on stderr
(never through the logging pipeline, whose redactor would hide it).
"""

from __future__ import annotations

import secrets
import sys
from typing import TypeVar

from pydantic import SecretStr
from redis import Redis

from kiro_admin.keys import AdminKeys
from kiro_admin.sealer import Sealer
from kiro_admin.settings import AdminServiceSettings

_AAD = "kiro2api admin key"

S = TypeVar("S", bound=AdminServiceSettings)


class AdminKeyError(RuntimeError):
    """The stored admin key cannot be read (e.g. sealed with another KIRO_SECRET_KEY)."""


def unseal(value: str, sealer: Sealer) -> str:
    opened = sealer.open(value, _AAD)
    if opened is not None:
        return opened
    if not sealer.enabled:
        raise AdminKeyError("the stored admin key is sealed and KIRO_SECRET_KEY is unset")
    raise AdminKeyError("the stored admin key does not decrypt with KIRO_SECRET_KEY")


def stored_admin_key(redis: Redis, prefix: str, key: bytes | None, service: str) -> str:
    """The admin key kept in Redis, created (and printed once) when there is none yet."""
    name = AdminKeys(prefix).admin_key
    sealer = Sealer(key)
    candidate = secrets.token_urlsafe(32)
    created = bool(redis.set(name, sealer.seal(candidate, _AAD), nx=True))
    if created:
        sys.stderr.write(
            f"{service}: KIRO_ADMIN_TOKEN is unset; generated the admin key (shown once, kept in "
            f"Redis{' sealed' if sealer.enabled else ''}): {candidate}\n"
        )
        sys.stderr.flush()
        return candidate
    stored = redis.get(name)
    if not isinstance(stored, bytes | str):
        raise AdminKeyError("the stored admin key vanished while it was read")
    return unseal(stored.decode() if isinstance(stored, bytes) else stored, sealer)


def resolve_admin_key(settings: S) -> S:
    """`settings` with an admin key: the configured one, or the one kept in Redis."""
    if settings.kiro_admin_token is not None:
        return settings
    client: Redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        value = stored_admin_key(
            client, settings.kiro_redis_prefix, settings.secret_key_bytes, settings.SERVICE
        )
    finally:
        client.close()
    return settings.model_copy(update={"kiro_admin_token": SecretStr(value)})
