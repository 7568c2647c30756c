"""Credential records in Redis: load and merge the configured pool, read, patch, delete.

Merge rule at start (CONTRACTS.md): each configured entry is matched to its record by its
identity (`id`, or the hash of the refresh token as first configured). An existing record is
never overwritten (a rotated refresh token in Redis is newer than the configured one), so
`disabled`, `priority`, `proxy` and the other fields of the configuration apply only when
the record is first inserted; later changes go through the admin actions. A credential that
an operator deleted is not re-imported from the configuration (its identity is remembered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import orjson
from redis.asyncio import Redis

from kiroproto.bus import CredentialSource
from kiroproto.credentials import CredentialConfig, credential_identity, parse_credentials
from token_broker import records as R
from token_broker.crypto import SecretBox
from token_broker.keys import RedisKeys
from token_broker.records import CredentialSecrets, CredentialState, now_ms, open_secrets, parse_state
from token_broker.scripts import Scripts

log = logging.getLogger(__name__)

# Fields of a credential record kept sealed when KIRO_SECRET_KEY is set (records.py marks them).
SEALED_FIELDS = (R.REFRESH_TOKEN, R.CLIENT_ID, R.CLIENT_SECRET, R.ACCESS_TOKEN)

# KEYS[1] the credential hash; ARGV triples (field, expected plain value, sealed value).
_SEAL_IF_UNCHANGED = """
local n = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True, slots=True)
class LoadReport:
    inserted: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # already in Redis: Redis wins
    skipped_deleted: tuple[str, ...] = ()
    problems: tuple[tuple[int, str], ...] = ()
    # Identities KIRO_AUTH_TOKEN names now (bad entries included when they name one); None when
    # the variable is unset, empty or unreadable: then configuration retires nothing (config.py).
    configured: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PatchResult:
    existed: bool
    old_status: str
    new_status: str
    conflict: bool = False  # `expect_refresh_fp` did not match: nothing was written


def credentials_text(value: str) -> str:
    """`KIRO_AUTH_TOKEN` is JSON, or a path to a JSON file (read here)."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return text
    path = Path(text).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(
            f"KIRO_AUTH_TOKEN names {path}, which cannot be read: {exc.strerror}"
        ) from exc


@dataclass(slots=True)
class CredentialStore:
    redis: Redis
    scripts: Scripts
    keys: RedisKeys
    box: SecretBox

    # ---- configuration merge
    async def load_config(self, value: str | None) -> LoadReport:
        if not value:
            return LoadReport()
        try:
            text = credentials_text(value)
        except FileNotFoundError as exc:
            log.error("credentials not loaded: %s", exc)
            return LoadReport(problems=((-1, str(exc)),))
        parsed = parse_credentials(text)
        configured: frozenset[str] | None = None
        if not any(p.index < 0 for p in parsed.problems):
            configured = frozenset(c.identity for c in parsed.credentials) | claimed_identities(text)
        for problem in parsed.problems:
            where = "KIRO_AUTH_TOKEN" if problem.index < 0 else f"KIRO_AUTH_TOKEN entry {problem.index}"
            log.error("%s skipped: %s", where, problem.reason, extra={"index": problem.index})
        inserted: list[str] = []
        kept: list[str] = []
        deleted: list[str] = []
        for cfg in parsed.credentials:
            result = await self.insert(cfg, mode="config", source="config")
            {1: inserted, 0: kept, 2: deleted}[result].append(cfg.identity)
            if result == 0:  # a record from before sources were kept, now configured: it is config's
                await self.redis.hsetnx(self.keys.cred(cfg.identity), R.SOURCE, "config")
        log.info(
            "credentials merged",
            extra={"inserted": len(inserted), "kept": len(kept), "skipped_deleted": len(deleted)},
        )
        return LoadReport(
            inserted=tuple(inserted),
            kept=tuple(kept),
            skipped_deleted=tuple(deleted),
            problems=tuple((p.index, p.reason) for p in parsed.problems),
            configured=configured,
        )

    async def restore_from_file(self, path: Path) -> int:
        """Empty Redis (a lost volume): insert every credential of the OAUTH_TOKEN_FILE mirror,
        with its latest tokens, source and retirement. Returns how many were restored."""
        if await self.redis.scard(self.keys.creds):
            return 0
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.error("OAUTH_TOKEN_FILE not read: %s", exc.strerror)
            return 0
        parsed = parse_credentials(text)
        extras = _mirror_extras(text)
        restored = 0
        for cfg in parsed.credentials:
            extra = extras.get(cfg.identity, {})
            restored += await self.insert(cfg, mode="restore", extra=extra) == 1
        log.warning(
            "Redis held no credentials: pool restored from OAUTH_TOKEN_FILE",
            extra={"path": str(path), "restored": restored, "problems": len(parsed.problems)},
        )
        return restored

    async def insert(
        self,
        cfg: CredentialConfig,
        *,
        mode: str,
        extra: Mapping[str, str] | None = None,
        source: CredentialSource | None = None,
    ) -> int:
        """1 inserted, 0 exists already, 2 deleted by an operator (config mode only)."""
        fields = R.new_record(cfg, self.box, now_ms(), source) | dict(extra or {})
        cid = cfg.identity
        args: list[str] = [cid, mode]
        for key, value in fields.items():
            args += [key, value]
        result = await self.scripts.run(
            "insert", [self.keys.cred(cid), self.keys.creds, self.keys.deleted], args
        )
        return int(result)

    async def seal_plain_records(self) -> int:
        """Seal every secret still stored as plain text (written before a key was set).

        Each field is replaced only if it still holds the plain value read (a compare-and-set
        in one script), so a refresh rotating the token meanwhile is never overwritten.
        Returns how many fields were sealed.
        """
        if not self.box.encrypting:
            return 0
        sealed = 0
        for raw in await self.all_raw():
            cid = raw.get(R.ID)
            if not cid:
                continue
            args: list[str] = []
            for name in SEALED_FIELDS:
                value = raw.get(name, "")
                if value and not self.box.is_sealed(value):
                    args += [name, value, self.box.seal(value, cid, name)]
            if args:
                sealed += int(await self.redis.eval(_SEAL_IF_UNCHANGED, 1, self.keys.cred(cid), *args))
        if sealed:
            log.info("plain secrets sealed with KIRO_SECRET_KEY", extra={"fields": sealed})
        return sealed

    # ---- reads
    async def ids(self) -> list[str]:
        members = cast("set[str]", await self.redis.smembers(self.keys.creds))
        return sorted(members)

    async def raw(self, cid: str) -> dict[str, str]:
        return cast("dict[str, str]", await self.redis.hgetall(self.keys.cred(cid)))

    async def state(self, cid: str) -> CredentialState | None:
        return parse_state(await self.raw(cid))

    async def load(self, cid: str) -> tuple[CredentialState, CredentialSecrets] | None:
        raw = await self.raw(cid)
        state = parse_state(raw)
        if state is None:
            return None
        return state, open_secrets(raw, self.box)

    async def all_raw(self) -> list[dict[str, str]]:
        ids = await self.ids()
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self.keys.cred(cid))
            rows: list[dict[str, str]] = await pipe.execute()
        return [row for row in rows if row]

    async def states(self) -> list[CredentialState]:
        """Every readable record, without its secrets, in id order."""
        return [s for s in (parse_state(raw) for raw in await self.all_raw()) if s is not None]

    async def in_flight(self, ids: Iterable[str], at_ms: int) -> dict[str, int]:
        ids = list(ids)
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.zcount(self.keys.leases(cid), f"({at_ms}", "+inf")
            counts: list[int] = await pipe.execute()
        return dict(zip(ids, (int(c) for c in counts), strict=True))

    async def refreshing(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        if not ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.exists(self.keys.refresh_lock(cid))
            found: list[int] = await pipe.execute()
        return {cid for cid, hit in zip(ids, found, strict=True) if hit}

    # ---- writes
    async def patch(
        self,
        cid: str,
        fields: Mapping[str, str | int],
        *,
        revive: bool = False,
        bump_generation: bool = False,
        expect_refresh_fp: str | None = None,
    ) -> PatchResult:
        args: list[str] = ["1" if revive else "0", "1" if bump_generation else "0", expect_refresh_fp or ""]
        for key, value in fields.items():
            args += [key, str(value)]
        args += [R.UPDATED_MS, str(now_ms())]
        code, old, new = await self.scripts.run("patch", [self.keys.cred(cid)], args)
        return PatchResult(
            existed=int(code) != 0, old_status=str(old), new_status=str(new), conflict=int(code) == 2
        )

    async def delete(self, cid: str) -> bool:
        keys = [self.keys.cred(cid), self.keys.leases(cid), self.keys.creds, self.keys.deleted]
        return bool(await self.scripts.run("delete", keys, [cid]))

    # ---- export (OAUTH_TOKEN_FILE)
    async def export_all(self) -> list[dict[str, object]]:
        """Every credential in the `KIRO_AUTH_TOKEN` schema, with its current secrets."""
        out: list[dict[str, object]] = []
        for raw in await self.all_raw():
            state = parse_state(raw)
            if state is None:
                continue
            secrets = open_secrets(raw, self.box)
            item: dict[str, object] = {
                "id": state.id,
                "auth": state.auth,
                "refreshToken": secrets.refresh_token,
                "priority": state.priority,
                "disabled": state.disabled,
                "machineId": state.machine_id,
            }
            if state.source:
                item["source"] = state.source
            if state.retired:
                item["retired"] = True
            if state.auth == "ApiKey":
                del item["refreshToken"]
                item["apiKey"] = secrets.access_token or ""
                item |= {k: v for k, v in (("region", state.region), ("profileArn", state.profile_arn)) if v}
                out.append(item)
                continue
            optional: dict[str, object | None] = {
                "clientId": secrets.client_id,
                "clientSecret": secrets.client_secret,
                "region": state.region,
                "profileArn": state.profile_arn,
                "proxy": state.proxy,
                "accessToken": secrets.access_token,
                "expiresAt": _iso(state.access_expires_ms) if secrets.access_token else None,
            }
            item |= {k: v for k, v in optional.items() if v}
            out.append(item)
        return out


def claimed_identities(text: str) -> frozenset[str]:
    """Identities named by entries of the configuration, bad ones included (a typo in one
    entry must not retire its account): `id`, else a hash of `refreshToken` / `apiKey`."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return frozenset()
    out: set[str] = set()
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, dict):
            continue
        ident = item.get("id")
        secret = item.get("refreshToken") or item.get("apiKey") or item.get("kiroApiKey")
        if isinstance(ident, str) and ident:
            out.add(ident)
        elif isinstance(secret, str) and secret:
            out.add(credential_identity(secret.strip() if secret.startswith("ksk_") else secret))
    return frozenset(out)


def _mirror_extras(text: str) -> dict[str, dict[str, str]]:
    """Per identity, the record fields the mirror keeps beside the schema (source, retired)."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    out: dict[str, dict[str, str]] = {}
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            fields: dict[str, str] = {}
            if item.get("source") in ("config", "oauth", "admin"):
                fields[R.SOURCE] = str(item["source"])
            if item.get("retired") is True:
                fields[R.RETIRED] = "1"
                fields[R.RETIRED_REASON] = "removed from KIRO_AUTH_TOKEN"
            out[item["id"]] = fields
    return out


def _iso(ms: int) -> str | None:
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
