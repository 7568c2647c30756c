"""Team keys: create (the key is shown once), list, update, revoke, and the gateway's lookup.

A key is `sk-kiro-` + 43 URL-safe characters (256 random bits). Redis holds only its SHA-256
(`keyhash:{sha256}` -> key id, the lookup index) and a record without any secret: team, name,
a hint (`sk-kiro-…` + the last four characters), allowed model patterns, limits, created /
expires / revoked times. A revoked key keeps its record (the gateway answers "revoked") and is
never valid again. Every change is published on `events_key`, so gateways drop it from their
caches at once.

Deliberately not here: counting (team_limits.py) and usage (team_usage.py).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from kiroproto.bus import (
    KeyCreate,
    KeyCreated,
    KeyEvent,
    KeyLimits,
    KeyList,
    KeyListRequest,
    KeyLookup,
    KeyLookupReply,
    KeyReply,
    KeyRevoke,
    KeyUpdate,
    Subjects,
    TeamKey,
)
from token_broker.keys import TeamRedisKeys

log = logging.getLogger(__name__)

KEY_PREFIX = "sk-kiro-"
_LIMIT_FIELDS = {
    "requests_per_minute": "rpm",
    "tokens_per_minute": "tpm",
    "max_concurrent": "concurrent",
    "monthly_token_budget": "budget",
    "monthly_credit_budget": "credit_budget",
}
_FLOAT_LIMITS = frozenset({"monthly_credit_budget"})
N = TypeVar("N", int, float)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _ms(value: float | None) -> str:
    return str(int(value * 1000)) if value is not None else ""


def _seconds(raw: str | None) -> float | None:
    return int(raw) / 1000 if raw else None


def _int(raw: str | None) -> int | None:
    return int(raw) if raw not in (None, "") else None


def _limit(attr: str, raw: str | None) -> int | float | None:
    if attr in _FLOAT_LIMITS:
        return float(raw) if raw not in (None, "") else None
    return _int(raw)


def record_fields(key: TeamKey) -> dict[FieldT, EncodableT]:
    fields: dict[FieldT, EncodableT] = {
        "id": key.id,
        "team": key.team,
        "name": key.name,
        "hint": key.hint,
        "models": orjson.dumps(list(key.allowed_models)).decode(),
        "created_ms": _ms(key.created_at),
        "expires_ms": _ms(key.expires_at),
        "revoked_ms": _ms(key.revoked_at),
    }
    for attr, field in _LIMIT_FIELDS.items():
        value = getattr(key.limits, attr)
        fields[field] = "" if value is None else str(value)
    return fields


def parse_record(raw: dict[str, str]) -> TeamKey | None:
    if not raw.get("id") or not raw.get("team"):
        return None
    try:
        models = orjson.loads(raw.get("models") or "[]")
        limits = KeyLimits(**{attr: _limit(attr, raw.get(field)) for attr, field in _LIMIT_FIELDS.items()})
        return TeamKey(
            id=raw["id"],
            team=raw["team"],
            name=raw.get("name", ""),
            hint=raw.get("hint", ""),
            allowed_models=tuple(str(m) for m in models),
            limits=limits,
            created_at=_seconds(raw.get("created_ms")) or 0.0,
            expires_at=_seconds(raw.get("expires_ms")),
            revoked_at=_seconds(raw.get("revoked_ms")),
        )
    except (ValueError, ValidationError, orjson.JSONDecodeError):
        log.error("unreadable team key record", extra={"key_id": raw.get("id")})
        return None


def largest_per_team(keys: Iterable[TeamKey], budget: Callable[[TeamKey], N | None]) -> dict[str, N | None]:
    """Each team's largest `budget` among `keys` (None as soon as one key has none: unlimited)."""
    out: dict[str, N | None] = {}
    for key in keys:
        value = budget(key)
        if key.team not in out:
            out[key.team] = value
        elif (current := out[key.team]) is not None:
            out[key.team] = None if value is None else max(value, current)
    return out


@dataclass(slots=True)
class TeamDirectory:
    redis: Redis
    keys: TeamRedisKeys
    nc: Any
    subjects: Subjects

    async def get(self, key_id: str) -> TeamKey | None:
        raw = cast("dict[str, str]", await self.redis.hgetall(self.keys.key(key_id)))
        return parse_record(raw) if raw else None

    async def create(self, req: KeyCreate) -> KeyCreated:
        now = time.time()
        if req.expires_at is not None and req.expires_at <= now:
            return KeyCreated(ok=False, message="expires_at is in the past")
        secret = new_key()
        key = TeamKey(
            id="key_" + secrets.token_hex(8),
            team=req.team,
            name=req.name,
            hint=f"{KEY_PREFIX}…{secret[-4:]}",
            allowed_models=req.allowed_models,
            limits=req.limits,
            created_at=round(now, 3),
            expires_at=req.expires_at,
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.key(key.id), mapping=record_fields(key))
            pipe.set(self.keys.key_hash(hash_key(secret)), key.id)
            pipe.sadd(self.keys.keys, key.id)
            pipe.sadd(self.keys.teams, key.team)
            await pipe.execute()
        log.info("team key created", extra={"key_id": key.id, "team": key.team})
        await self._publish(key.id, "created")
        return KeyCreated(ok=True, key=key, secret=secret)

    async def list(self, req: KeyListRequest) -> KeyList:
        ids = sorted(cast("set[str]", await self.redis.smembers(self.keys.keys)))
        if not ids:
            return KeyList(keys=())
        async with self.redis.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(self.keys.key(key_id))
            rows: list[dict[str, str]] = await pipe.execute()
        found = [k for k in (parse_record(row) for row in rows if row) if k is not None]
        if req.team is not None:
            found = [k for k in found if k.team == req.team]
        found.sort(key=lambda k: (k.team, k.created_at, k.id))
        return KeyList(keys=tuple(found))

    async def update(self, req: KeyUpdate) -> KeyReply:
        key = await self.get(req.id)
        if key is None:
            return KeyReply(ok=False, message=f"no key {req.id}")
        if key.revoked_at is not None:
            return KeyReply(ok=False, message="the key is revoked", key=key)
        changes: dict[str, Any] = {}
        if req.name is not None:
            changes["name"] = req.name
        if req.allowed_models is not None:
            changes["allowed_models"] = req.allowed_models
        if req.limits is not None:
            changes["limits"] = req.limits
        if req.clear_expiry:
            changes["expires_at"] = None
        elif req.expires_at is not None:
            changes["expires_at"] = req.expires_at
        updated = key.model_copy(update=changes)
        await self.redis.hset(self.keys.key(key.id), mapping=record_fields(updated))
        log.info("team key updated", extra={"key_id": key.id, "team": key.team})
        await self._publish(key.id, "updated")
        return KeyReply(ok=True, key=updated)

    async def revoke(self, req: KeyRevoke) -> KeyReply:
        key = await self.get(req.id)
        if key is None:
            return KeyReply(ok=False, message=f"no key {req.id}")
        if key.revoked_at is None:
            key = key.model_copy(update={"revoked_at": round(time.time(), 3)})
            await self.redis.hset(self.keys.key(key.id), "revoked_ms", _ms(key.revoked_at))
            log.info("team key revoked", extra={"key_id": key.id, "team": key.team})
        await self._publish(key.id, "revoked")
        return KeyReply(ok=True, key=key)

    async def lookup(self, req: KeyLookup) -> KeyLookupReply:
        key_id = await self.redis.get(self.keys.key_hash(req.key_hash))
        if not key_id:
            return KeyLookupReply()
        return KeyLookupReply(key=await self.get(str(key_id)))

    async def live_keys(self) -> tuple[TeamKey, ...]:
        """Every key neither revoked nor expired."""
        now = time.time()
        return tuple(
            key
            for key in (await self.list(KeyListRequest())).keys
            if key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
        )

    async def _publish(self, key_id: str, kind: Literal["created", "updated", "revoked"]) -> None:
        event = KeyEvent(key_id=key_id, kind=kind, at=time.time())
        try:
            await self.nc.publish(self.subjects.events_key, event.model_dump_json().encode())
        except Exception as exc:  # noqa: BLE001 - gateways fall back to their cache TTL
            log.warning("key event not published: %s", type(exc).__name__)
