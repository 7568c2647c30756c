"""The admin key when `KIRO_ADMIN_TOKEN` is unset (CONTRACTS.md): generated once, kept in Redis.

`make run` and the all-in-one image generate the key themselves and keep it in their data folder
(mode 0600), so the services always see `KIRO_ADMIN_TOKEN` there. Elsewhere (Compose,
Kubernetes) the first dashboard or oauth process to start generates a random key and stores it
with `SET NX` under `{prefix}:admin:key`, sealed with `KIRO_SECRET_KEY` (AES-GCM) when one is set;
every replica then reads the same key. The process that created it prints it once on stderr
(never through the logging pipeline, whose redactor would hide it).
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from redis import Redis

from dashboard.settings import AdminServiceSettings

_MARK = "enc:v1:"
_AAD = b"kiro2api admin key"

S = TypeVar("S", bound=AdminServiceSettings)


class AdminKeyError(RuntimeError):
    """The stored admin key cannot be read (e.g. sealed with another KIRO_SECRET_KEY)."""


def admin_key_name(prefix: str) -> str:
    return f"{prefix}:admin:key"


def seal(value: str, key: bytes | None) -> str:
    if key is None:
        return value
    nonce = os.urandom(12)
    return _MARK + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), _AAD)).decode()


def unseal(value: str, key: bytes | None) -> str:
    if not value.startswith(_MARK):
        return value
    if key is None:
        raise AdminKeyError("the stored admin key is sealed and KIRO_SECRET_KEY is unset")
    try:
        raw = base64.urlsafe_b64decode(value[len(_MARK) :])
        return AESGCM(key).decrypt(raw[:12], raw[12:], _AAD).decode()
    except (InvalidTag, ValueError) as exc:
        raise AdminKeyError("the stored admin key does not decrypt with KIRO_SECRET_KEY") from exc


def stored_admin_key(redis: Redis, prefix: str, key: bytes | None, service: str) -> str:
    """The admin key kept in Redis, created (and printed once) when there is none yet."""
    name = admin_key_name(prefix)
    candidate = secrets.token_urlsafe(32)
    created = bool(redis.set(name, seal(candidate, key), nx=True))
    if created:
        sys.stderr.write(
            f"{service}: KIRO_ADMIN_TOKEN is unset; generated the admin key (shown once, kept in "
            f"Redis{' sealed' if key is not None else ''}): {candidate}\n"
        )
        sys.stderr.flush()
        return candidate
    stored = redis.get(name)
    if not isinstance(stored, bytes | str):
        raise AdminKeyError("the stored admin key vanished while it was read")
    return unseal(stored.decode() if isinstance(stored, bytes) else stored, key)


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
