"""Token refresh with single flight across broker replicas.

`ensure_fresh(id)` returns the credential with an access token that stays valid for at least
`within_ms`. When it does not, one broker takes the Redis lock `lock:refresh:{id}` (SET NX PX
with a random token, released by a compare-and-delete script), re-reads the record under the
lock (another broker may just have refreshed), calls the upstream, and writes the new access
token together with a rotated refresh token in one atomic `patch` (Redis first; then the
`OAUTH_TOKEN_FILE` mirror). Everyone else polls until the lock frees and re-reads.

Failures: invalid_grant / invalid_client / unauthorized_client / expired_token mark the
credential `invalid` with the reason (it needs a new login or an operator). Transient
failures (network, timeout, 429, 5xx, other statuses) record an exponential backoff on the
credential (`refresh_retry_at_ms`: 5 s, 10 s, 20 s ... capped at 5 min); the acquire script
skips a credential whose token is unusable while its backoff runs, so nothing loops tightly.

A rotated refresh token is written through `RotationKeeper` (rotation.py): when Redis does not
take the write it is kept and retried until it does. A permanent refusal marks the credential
invalid only while Redis still holds the refused token.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as pysecrets
import time
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from kiroproto.credentials import CredentialConfig, fingerprint
from kiroproto.upstream import assign_proxy, machine_id
from token_broker import records as R
from token_broker.clients import HttpClients
from token_broker.errors import KiroApiError, RefreshError, UnknownCredential
from token_broker.events import EventPublisher
from token_broker.keys import REFRESH_LOCK_TTL_MS
from token_broker.kiro_api import RuntimeTarget, TokenSet, api_region, refresh_tokens
from token_broker.metrics import BrokerMetrics
from token_broker.mirror import TokenFileMirror
from token_broker.records import CredentialSecrets, CredentialState, now_ms
from token_broker.rotation import PendingRotation, RotationKeeper
from token_broker.settings import Settings
from token_broker.store import CredentialStore
from token_broker.tasks import OncePerCredential, TaskSet

log = logging.getLogger(__name__)

BACKOFF_BASE_MS = 5_000
BACKOFF_CAP_MS = 300_000
LOCK_POLL_S = 0.05
BLOCKING_MARGIN_CAP_MS = 120_000  # a token closer than this to expiry is refreshed before use

Loaded = tuple[CredentialState, CredentialSecrets]


def backoff_ms(failures: int) -> int:
    return int(min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** max(0, failures - 1)))


@dataclass(slots=True, kw_only=True)
class Refresher:
    settings: Settings
    store: CredentialStore
    clients: HttpClients
    events: EventPublisher
    metrics: BrokerMetrics
    mirror: TokenFileMirror | None
    tasks: TaskSet
    rotations: RotationKeeper = field(init=False)
    margin_ms: int = field(init=False)
    blocking_ms: int = field(init=False)
    _soon: OncePerCredential = field(init=False)

    def __post_init__(self) -> None:
        self.rotations = RotationKeeper(store=self.store, mirror=self.mirror, tasks=self.tasks)
        self._soon = OncePerCredential(self.tasks, "background refresh", (RefreshError, UnknownCredential))
        self.margin_ms = int(self.settings.broker_refresh_margin * 1000)
        self.blocking_ms = min(self.margin_ms, BLOCKING_MARGIN_CAP_MS)

    def proxy_for(self, state: CredentialState) -> str | None:
        return assign_proxy(state.id, self.settings.proxies, state.proxy)

    async def runtime_target(self, cid: str) -> RuntimeTarget:
        """The credential, with a fresh token, as the caller of a runtime API read."""
        state, secrets = await self.ensure_fresh(cid)
        if not secrets.access_token:
            raise KiroApiError("no_token")
        return RuntimeTarget(
            client=self.clients.get(self.proxy_for(state)),
            access_token=secrets.access_token,
            machine=state.machine_id,
            profile_arn=state.profile_arn,
            region=api_region(state.auth, state.profile_arn, state.region, self.settings.kiro_region),
            api_base_template=self.settings.kiro_api_base_url,
            api_key=state.auth == "ApiKey",
        )

    # ---- single flight
    async def ensure_fresh(self, cid: str, *, within_ms: int | None = None, force: bool = False) -> Loaded:
        """The credential with a token valid for `within_ms` more (default: the blocking margin).

        `force`: refresh even if the token looks good (the admin "refresh" action); done when
        any broker has stored a token other than the one seen at the start.
        """
        need_ms = self.blocking_ms if within_ms is None else within_ms
        deadline = time.monotonic() + self.settings.broker_http_timeout + 10.0
        first = await self._load(cid)
        if first[0].auth == "ApiKey" and force:
            return first  # an API key is never refreshed (§19.6)
        start_fp = first[0].token_fp
        while True:
            state, secrets = loaded = await self._load(cid)
            if self._good(state, need_ms, force, start_fp):
                return loaded
            if not force and state.status == "invalid":
                raise RefreshError(
                    state.reason or "invalid", "the credential needs a new login", permanent=True
                )
            if not force and state.refresh_retry_at_ms > now_ms():
                raise RefreshError("backoff", state.last_error or "the last refresh failed")
            if self.rotations.pending(cid) and not await self.rotations.flush(cid):
                raise RefreshError("store_unavailable", "a rotated refresh token is waiting for Redis")
            lock_key = self.store.keys.refresh_lock(cid)
            token = pysecrets.token_hex(16)
            if await self.store.redis.set(lock_key, token, nx=True, px=REFRESH_LOCK_TTL_MS):
                try:
                    state, secrets = loaded = await self._load(cid)  # re-check under the lock
                    if self._good(state, need_ms, force, start_fp):
                        return loaded
                    return await self._refresh_locked(state, secrets)
                finally:
                    await self._unlock(cid, lock_key, token)
            while await self.store.redis.exists(lock_key):
                if time.monotonic() > deadline:
                    raise RefreshError("timeout", "another broker's refresh did not finish")
                await asyncio.sleep(LOCK_POLL_S)

    async def _unlock(self, cid: str, lock_key: str, token: str) -> None:
        try:
            await self.store.scripts.run("unlock", [lock_key], [token])
        except (RedisError, OSError):
            if not self.rotations.pending(cid):
                raise  # the lock expires by its TTL; nothing else waits on it
            # a kept rotation: free the lock as soon as Redis takes the rotation, so that the
            # credential does not read as "refreshing" until the lock's TTL runs out
            self.rotations.unlock_after(cid, lock_key, token)

    def refresh_soon(self, cid: str) -> None:
        """Refresh in the background (token within BROKER_REFRESH_MARGIN); one task per credential."""
        self._soon.start(cid, lambda: self.ensure_fresh(cid, within_ms=self.margin_ms))

    @staticmethod
    def _good(state: CredentialState, need_ms: int, force: bool, start_fp: str | None) -> bool:
        if force and state.token_fp == start_fp:
            return False
        return state.token_valid_for_ms(now_ms()) > need_ms

    async def _load(self, cid: str) -> Loaded:
        loaded = await self.store.load(cid)
        if loaded is None:
            raise UnknownCredential(cid)
        return loaded

    # ---- the upstream call, under the lock
    async def _refresh_locked(self, state: CredentialState, secrets: CredentialSecrets) -> Loaded:
        cid = state.id
        started = time.monotonic()
        if state.auth == "ApiKey":
            # Never refreshed: a key the upstream rejected needs a new key from an operator.
            rejected = RefreshError("api_key_rejected", "the upstream rejected the API key", permanent=True)
            await self._record_failure(state, rejected)
            raise rejected
        proxy = self.proxy_for(state)
        try:
            tokens = await self.call(
                state.auth, secrets, region=state.region, machine=state.machine_id, proxy=proxy
            )
        except RefreshError as exc:
            await self._record_failure(state, exc)
            raise
        box = self.store.box
        fields: dict[str, str | int] = dict(
            R.token_fields(box, cid, tokens.access_token, now_ms() + int(tokens.expires_in_s * 1000))
        )
        fields |= {R.REFRESH_FAILS: 0, R.REFRESH_RETRY_AT_MS: 0}
        rotation: PendingRotation | None = None
        if tokens.refresh_token and tokens.refresh_token != secrets.refresh_token:
            fields[R.REFRESH_TOKEN] = box.seal(tokens.refresh_token, cid, R.REFRESH_TOKEN)
            fields[R.REFRESH_FP] = fingerprint(tokens.refresh_token)
        if tokens.profile_arn:
            fields[R.PROFILE_ARN] = tokens.profile_arn
        if tokens.refresh_token and tokens.refresh_token != secrets.refresh_token:
            rotation = PendingRotation(
                fields=fields, replaces_fp=state.refresh_fp, refresh_token=tokens.refresh_token
            )
        rotated = rotation is not None
        result = await self.rotations.store(cid, fields, rotation=rotation)
        if result.conflict:
            log.warning("refresh result superseded by a newer refresh token", extra={"credential": cid})
            return await self._load(cid)
        if not result.existed:
            raise UnknownCredential(cid)
        self.metrics.refreshes.labels(result="ok").inc()
        log.info(
            "token refreshed",
            extra={
                "credential": cid,
                "token_fingerprint": fingerprint(tokens.access_token),
                "rotated": rotated,
                "expires_in_s": tokens.expires_in_s,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        if result.old_status != result.new_status:
            await self.events.credential(cid, result.new_status)
        if self.mirror is not None:
            self.tasks.spawn(self.mirror.write(), name="mirror")
        return await self._load(cid)

    async def call(
        self, auth: str, secrets: CredentialSecrets, *, region: str | None, machine: str, proxy: str | None
    ) -> TokenSet:
        return await refresh_tokens(
            self.clients.get(proxy),
            auth="IdC" if auth == "IdC" else "Social",
            refresh_token=secrets.refresh_token,
            client_id=secrets.client_id,
            client_secret=secrets.client_secret,
            region=region or self.settings.kiro_region,
            machine=machine,
            auth_base_template=self.settings.kiro_auth_base_url,
            oidc_base_template=self.settings.kiro_oidc_base_url,
        )

    async def verify_config(self, cfg: CredentialConfig) -> TokenSet:
        """One refresh for a credential that is not stored yet (admin add with `verify`)."""
        secrets = CredentialSecrets(
            refresh_token=cfg.refresh_token, client_id=cfg.client_id, client_secret=cfg.client_secret
        )
        machine = machine_id(cfg.machine_id, cfg.refresh_token)
        proxy = assign_proxy(cfg.identity, self.settings.proxies, cfg.proxy)
        try:
            tokens = await self.call(cfg.auth, secrets, region=cfg.region, machine=machine, proxy=proxy)
        except RefreshError as exc:
            self.metrics.refreshes.labels(result="failed").inc()
            self.metrics.refresh_failures.labels(reason=exc.reason).inc()
            raise
        self.metrics.refreshes.labels(result="ok").inc()
        return tokens

    async def _record_failure(self, state: CredentialState, exc: RefreshError) -> None:
        cid = state.id
        self.metrics.refreshes.labels(result="failed").inc()
        self.metrics.refresh_failures.labels(reason=exc.reason).inc()
        text = f"refresh failed: {exc}"[:300]
        if exc.permanent:
            fields: dict[str, str | int] = {R.STATUS: "invalid", R.REASON: exc.reason, R.LAST_ERROR: text}
            # Only while the record still holds the token that was refused: a rotation stored
            # meanwhile (a kept write landing after an outage) must not be condemned.
            result = await self.store.patch(cid, fields, expect_refresh_fp=state.refresh_fp or "")
            if result.conflict:
                log.info("refusal of a superseded refresh token ignored", extra={"credential": cid})
                return
            log.warning("credential invalid", extra={"credential": cid, "reason": exc.reason})
            if result.existed:
                await self.events.credential(cid, "invalid", exc.reason)
            return
        failures = state.refresh_fails + 1
        delay = backoff_ms(failures)
        await self.store.patch(
            cid,
            {R.REFRESH_FAILS: failures, R.REFRESH_RETRY_AT_MS: now_ms() + delay, R.LAST_ERROR: text},
        )
        log.warning(
            "refresh failed, backing off",
            extra={"credential": cid, "reason": exc.reason, "failures": failures, "retry_in_s": delay / 1000},
        )
